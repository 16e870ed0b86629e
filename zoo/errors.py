"""Errors a user can cause: the command-line tools print their message as one line, no traceback."""


class UserError(ValueError):
    """A bad flag, an unknown name, a missing file: the message names the thing and what is allowed."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last checkpoint is kept as it was."""


class CheckpointWriteFailed(UserError):
    """Writing a checkpoint failed (a full disk, a quota): the previous checkpoint is intact."""
