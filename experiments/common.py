"""What every binary shares: one-line errors and the flags a run used."""

import os
import sys

from absl import app, flags, logging

from zoo.errors import TrainingDiverged, UserError


def main_with_errors(main):
    """Runs an absl `main`, turning errors a user can cause into one line on stderr and exit 2."""
    program = os.path.basename(sys.argv[0]) if sys.argv else "zoo"

    def wrapped(argv):
        if len(argv) > 1:
            raise UserError(f"unexpected arguments {argv[1:]}: every option is a --flag (see --help)")
        return main(argv)

    def guarded(argv):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines drown the progress lines.
        try:
            return wrapped(argv)
        except UserError as error:
            print(f"{program}: error: {error}", file=sys.stderr, flush=True)
            sys.exit(2)
        except TrainingDiverged as error:
            print(f"{program}: diverged: {error}", file=sys.stderr, flush=True)
            sys.exit(3)

    app.run(guarded)


def flags_text():
    """The flags this process was given explicitly, in --flagfile format (rerunnable)."""
    seen, lines = set(), []
    for name in sorted(flags.FLAGS):
        flag = flags.FLAGS[name]
        if flag.present and id(flag) not in seen and name != "flagfile":
            seen.add(id(flag))
            lines.extend(flag.serialize().splitlines())
    return "\n".join(lines) + "\n"
