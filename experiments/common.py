"""What every command shares: its own flags, one-line errors, a quiet start-up, the flags a run used.

Each command (zoo-train, zoo-sample, zoo-eval, zoo-export, zoo-tune, zoo-play) defines its flags on
its own `FlagValues` (`command_flags()`), not on absl's global FLAGS, so any number of commands
live in one process: `experiments.train.run(["zoo-train", "--workdir=w", ...])` parses its
arguments exactly as the installed command does (flags, --flagfile, --help) and returns the exit
status a shell would see, printing what the command prints (tests call commands this way, without
a new process).

Exit status: 0 done, 2 a user error (one line on stderr: "<command>: error: <what is wrong>"),
3 a training that diverged, 130 interrupted (the command says how to continue).
"""

import os
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


def parse(values, argv, program):
    """Parses argv (program name first) into `values`, from the defaults as a new process would;
    returns the positional leftovers (only the program name: every option is a --flag)."""
    values.unparse_flags()
    try:
        rest = values(list(argv))
    except flags.Error as error:
        raise UserError(str(error).splitlines()[0]) from None
    if len(rest) > 1:
        raise UserError(f"unexpected arguments {rest[1:]}: every option is a --flag (see {program} --help)")
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


def run_command(values, main, doc, argv=None):
    """Runs a command: parses `argv` (default sys.argv) into `values`, calls `main(argv)` and returns
    its exit status; errors a user can cause are one line on stderr, never a traceback."""
    argv = list(sys.argv if argv is None else argv)
    program = os.path.basename(argv[0]) if argv else "zoo"
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        print(f"{(doc or '').strip()}\n\nflags:\n{values.get_help()}", flush=True)
        return 0
    try:
        parse(values, argv, program)
        verbosity = values["verbosity"].value
        logging.set_verbosity(_QUIET if verbosity is None else verbosity)
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()  # absl's global flags are not ours: no "logging before flag parsing".
        if verbosity is None:
            quiet_tensorflow_start_up()
        status = main(argv[:1])
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


def flags_text(values):
    """The flags a command was given explicitly, in --flagfile format (rerunnable)."""
    seen, lines = set(), []
    for name in sorted(values):
        flag = values[name]
        if flag.present and id(flag) not in seen and name != "flagfile":
            seen.add(id(flag))
            lines.extend(flag.serialize().splitlines())
    return "\n".join(lines) + "\n"
