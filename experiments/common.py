"""What every command shares: its own flags, one-line errors, a quiet start-up, the flags a run used.

Each command (zoo-train, zoo-sample, zoo-eval, zoo-export, zoo-tune, zoo-ship, zoo-reproduce, zoo-play) defines its flags on
its own `FlagValues` (`command_flags()`), not on absl's global FLAGS, so any number of commands
live in one process: `experiments.train.run(["zoo-train", "--workdir=w", ...])` parses its
arguments exactly as the installed command does (flags, --flagfile, --help) and returns the exit
status a shell would see, printing what the command prints (tests call commands this way, without
a new process).

Exit status: 0 done, 2 a user error (one line on stderr: "<command>: error: <what is wrong>"),
3 a training that diverged, 130 interrupted (the command says how to continue).
"""

import contextlib
import os
import shlex
import sys

from absl import flags, logging

from zoo.errors import TrainingDiverged, UserError

HELP_FLAGS = ("--help", "-h", "--helpshort", "--helpfull", "-?")
# Absl's --verbosity levels, as its own flag spells them (-1 warnings, 0 info, 1 debug).
_QUIET = logging.WARNING


def command_flags():
    """A command's own flags, holding the one flag every command has (--verbosity)."""
    values = flags.FlagValues()
    flags.DEFINE_integer("verbosity", None, "Logging level as absl counts it (-1 warnings, 0 info, 1 debug). Without "
                         "it only warnings are logged and TensorFlow's C++ start-up lines are not printed.",
                         short_name="v", flag_values=values)
    return values


def parse(values, argv, program, argument=None):
    """Parses argv (program name first) into `values`, from the defaults as a new process would;
    returns the positional leftovers: the program name, then the one `argument` a command that
    names one (e.g. "<shipped model>") takes; every other option is a --flag."""
    values.unparse_flags()
    try:
        rest = values(list(argv))
    except flags.Error as error:
        raise UserError(str(error).splitlines()[0]) from None
    if argument is None and len(rest) > 1:
        raise UserError(f"unexpected arguments {rest[1:]}: every option is a --flag (see {program} --help)")
    if argument is not None and len(rest) != 2:
        given = f"got {rest[1:]}" if len(rest) > 2 else "got none"
        raise UserError(f"usage: {program} {argument} [--flags]: one {argument}, {given} (see {program} --help)")
    return rest


def quiet_tensorflow_start_up():
    """Imports TensorFlow and finds its devices with the process's stderr (file descriptor 2) sent
    to a temporary file: TensorFlow's C++ start-up lines (oneDNN, CUDA stubs, cuInit) ignore
    TF_CPP_MIN_LOG_LEVEL. What was written is replayed if the import fails."""
    if "tensorflow" in sys.modules:
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run_command(values, main, doc, argv=None, argument=None):
    """Runs a command: parses `argv` (default sys.argv) into `values`, calls `main(argv)` (the
    program name, then the command's one positional `argument` when it takes one) and returns its
    exit status; errors a user can cause are one line on stderr, never a traceback."""
    argv = list(sys.argv if argv is None else argv)
    program = os.path.basename(argv[0]) if argv else "zoo"
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        print(f"{(doc or '').strip()}\n\nflags:\n{values.get_help()}", flush=True)
        return 0
    try:
        rest = parse(values, argv, program, argument)
        verbosity = values["verbosity"].value
        logging.set_verbosity(_QUIET if verbosity is None else verbosity)
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()  # absl's global flags are not ours: no "logging before flag parsing".
        if verbosity is None:
            quiet_tensorflow_start_up()
        status = main(rest)
    except UserError as error:
        print(f"{program}: error: {error}", file=sys.stderr, flush=True)
        return 2
    except TrainingDiverged as error:
        print(f"{program}: diverged: {error}", file=sys.stderr, flush=True)
        return 3
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return int(status or 0)


def main_with_errors(main):
    """For scripts on absl's global FLAGS (benchmarks/): absl's app.run with one-line user errors."""
    from absl import app

    def guarded(argv):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(_QUIET)
        try:
            return main(argv)
        except UserError as error:
            print(f"{os.path.basename(sys.argv[0])}: error: {error}", file=sys.stderr, flush=True)
            sys.exit(2)

    app.run(guarded)


class _Tee:
    """Writes to a stream and a log file."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text):
        self.log.write(text)
        return self.stream.write(text)

    def flush(self):
        self.log.flush()
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def _stdout_also_to(path):
    with open(path, "a") as log:
        saved, sys.stdout = sys.stdout, _Tee(sys.stdout, log)
        try:
            yield
        finally:
            sys.stdout = saved


def run_zoo_command(caller, command, log_path=None):
    """Runs another zoo command line (["zoo-train", "--flag=...", ...]) in this process, as the
    installed command would run (it parses its own flags), its output also appended to `log_path`;
    a failure ends `caller` with the command's exit status, after the command's own message."""
    import importlib

    modules = {"zoo-train": "train", "zoo-eval": "evaluate", "zoo-export": "export", "zoo-sample": "sample"}
    print("$ " + shlex.join(command), flush=True)
    binary = importlib.import_module(f"experiments.{modules[command[0]]}")
    with _stdout_also_to(log_path) if log_path else contextlib.nullcontext():
        status = binary.run(command)
    if status == 130:
        print(f"{caller}: {command[0]} was interrupted; rerun the same {caller} command to resume it", file=sys.stderr,
              flush=True)
    elif status:
        print(f"{caller}: stopped, {command[0]} exited with status {status}", file=sys.stderr, flush=True)
    if status:
        raise SystemExit(status)


def flags_text(values):
    """The flags a command was given explicitly, in --flagfile format (rerunnable)."""
    seen, lines = set(), []
    for name in sorted(values):
        flag = values[name]
        if flag.present and id(flag) not in seen and name != "flagfile":
            seen.add(id(flag))
            lines.extend(flag.serialize().splitlines())
    return "\n".join(lines) + "\n"
