"""zoo-tune: keras-tuner search over a zoo model's hyperparameters, exporting the best trial.

    zoo-tune --model=dcgan --dataset=fashion_mnist --tuner=random --max_trials=8 --objective=fid \
        --steps=1000 --directory=runs/tune

Each trial trains in <directory>/trials/<trial_id>/ (a zoo workdir with TensorBoard logs) and is
scored through its export on --split (default validation: held out of the training data, so the
test split stays unseen by the search and is left for zoo-eval's final numbers); the table of
trials is printed and written to <directory>/trials.md and trials.json; the best trial goes to
<export_dir>/<export name>/<version> (default export_dir: <directory>/exports; the config's
export name, e.g. dcgan_fashion_mnist) with assets.extra/model_card.json. --config searches another config of a model, e.g.
--config=dcgan_fashion_mnist_fast; --set=max_train_seconds=600 with a large --steps makes every
trial a 10-minute run, so the search ranks quality per CPU-minute. Rerunning the same
command continues an interrupted search.

Distributed (keras-tuner's chief and workers, on a --directory every process shares): one chief
serves the oracle and, once its workers are done, writes the table and exports the best trial;
each worker runs trials it fetches from the chief (the same flags, its own --tuner_id):

    zoo-tune ... --directory=/shared/tune --tuner_id=chief --oracle=0.0.0.0:8000
    zoo-tune ... --directory=/shared/tune --tuner_id=tuner0 --oracle=chief-host:8000
    zoo-tune ... --directory=/shared/tune --tuner_id=tuner1 --oracle=chief-host:8000

keras-tuner's KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT do the same
without the flags. Rerunning the chief and the workers continues the search; --max_consecutive_failures
failed trials in a row stop the chief and every worker, each with one line.
"""

import os
import sys

from absl import flags

from experiments.common import command_flags, run_command
from zoo.errors import UserError

FLAGS = command_flags()  # Its own flags (experiments.common): commands share a process.
flags.DEFINE_string("model", None, "Registered model name; its experiments/configs/<model>_<dataset>.py declares "
                    "search_space(hp).", flag_values=FLAGS)
flags.DEFINE_string("config", None, "Config to search from (a name in experiments/configs or a file) declaring "
                    "search_space(hp); default: the model's <model>_<dataset>. --model may then be left out.",
                    flag_values=FLAGS)
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset (as zoo-train's --dataset).", flag_values=FLAGS)
flags.DEFINE_enum("tuner", "random", ["random", "bayesian", "hyperband"], "keras-tuner search algorithm.",
                  flag_values=FLAGS)
flags.DEFINE_integer("max_trials", 10, "Trials to run (Hyperband stops earlier when its brackets are done).",
                     flag_values=FLAGS)
flags.DEFINE_string("objective", "fid", "Minimized: fid, kid (image generators), nll, bits_per_dim, "
                    "negative_elbo (likelihood models), bits_per_byte (text models), translation_l1, "
                    "translation_fid, translation_kid (image-to-image models); what the model declares it can be measured by.",
                    flag_values=FLAGS)
flags.DEFINE_string("directory", None, "The search's directory: keras-tuner state, trial workdirs, the table.",
                    flag_values=FLAGS)
flags.DEFINE_integer("steps", 1000, "Training steps per trial (Hyperband: of its longest trials).", flag_values=FLAGS)
flags.DEFINE_string("split", "validation", "Split the trials are scored on: validation (held out of train; "
                    "default), or test (not for selection: it is what final numbers are reported on).",
                    flag_values=FLAGS)
flags.DEFINE_integer("validation_size", None, "Training examples held out of train as the validation split "
                     "(default: the dataset's, e.g. Fashion-MNIST's last 10,000 images).", flag_values=FLAGS)
flags.DEFINE_integer("eval_samples", 2000, "Generated images for FID/KID, or --split images scored for likelihoods.",
                     flag_values=FLAGS)
flags.DEFINE_integer("eval_reference_examples", 10000, "Real --split images of the FID/KID reference statistics.",
                     flag_values=FLAGS)
flags.DEFINE_string("export_dir", None, "Export root for the best trial (default <directory>/exports, so a search "
                    "never writes into the shipped exports/); empty to skip the export.", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "Seed of every trial's training and of the tuner's sampling.", flag_values=FLAGS)
flags.DEFINE_multi_string("set", [], "Config override key=value applied to every trial, e.g. "
                          "--set=batch_size=32.", flag_values=FLAGS)
flags.DEFINE_multi_string("fix", [], "Hold a hyperparameter of the search space at a value, e.g. --fix=loss=hinge.",
                          flag_values=FLAGS)
flags.DEFINE_string("data_dir", None, "Directory with the dataset's files (IDX files for fashion_mnist).",
                    flag_values=FLAGS)
flags.DEFINE_integer("hyperband_max_epochs", 9, "Hyperband's max_epochs; one of its epochs is "
                     "steps / hyperband_max_epochs training steps.", flag_values=FLAGS)
flags.DEFINE_integer("hyperband_factor", 3, "Hyperband's reduction factor.", flag_values=FLAGS)
flags.DEFINE_integer("max_consecutive_failures", 3, "Stop the search after this many failed trials in a row "
                     "(distributed: the chief and every worker, once each worker's running trial has ended).",
                     flag_values=FLAGS)
flags.DEFINE_string("tuner_id", None, "Distributed search: chief for the process serving the oracle (it writes the "
                    "table and the export), tuner0, tuner1, ... for workers (they run the trials); needs --oracle. "
                    "Default: $KERASTUNER_TUNER_ID when $KERASTUNER_ORACLE_IP is set, else a local search.",
                    flag_values=FLAGS)
flags.DEFINE_string("oracle", None, "Distributed search: host:port the chief serves its oracle on and the workers "
                    "fetch trials from (the chief may give 0.0.0.0:PORT); needs --tuner_id. Default: "
                    "$KERASTUNER_ORACLE_IP:$KERASTUNER_ORACLE_PORT.", flag_values=FLAGS)
flags.DEFINE_bool("smoke", False, "Tiny configs and search spaces (a quick check that the search runs).",
                  flag_values=FLAGS)


def main(argv):
    del argv
    model = FLAGS.model
    if not model and FLAGS.config:
        from zoo import config as config_lib

        model = config_lib.load(FLAGS.config, smoke=FLAGS.smoke).model
    if not model:
        raise UserError("--model or --config is required, e.g. --model=dcgan")
    if not FLAGS.directory:
        raise UserError("--directory is required: the search's state and trial workdirs are kept there")
    from zoo import tune

    role = tune.distribute.role_of(FLAGS.tuner_id, FLAGS.oracle)
    search = tune.Search(
        model=model, config=FLAGS.config, dataset=FLAGS.dataset, tuner=FLAGS.tuner, objective=FLAGS.objective,
        max_trials=FLAGS.max_trials, steps=FLAGS.steps, eval_samples=FLAGS.eval_samples,
        eval_reference_examples=FLAGS.eval_reference_examples, split=FLAGS.split,
        validation_size=FLAGS.validation_size, seed=FLAGS.seed, overrides=tuple(FLAGS.set),
        fixed=tuple(FLAGS.fix), data_dir=FLAGS.data_dir, smoke=FLAGS.smoke,
        hyperband_max_epochs=FLAGS.hyperband_max_epochs, hyperband_factor=FLAGS.hyperband_factor,
        max_consecutive_failures=FLAGS.max_consecutive_failures)
    try:
        export_dir = os.path.join(FLAGS.directory, "exports") if FLAGS.export_dir is None else FLAGS.export_dir
        tune.run_search(search, FLAGS.directory, export_dir=export_dir or None, role=role)
    except KeyboardInterrupt:  # Ctrl-C (the trainer finishes its step first) or a second Ctrl-C.
        if role.worker:
            print(f"zoo-tune: interrupted: rerun this worker (--tuner_id={role.tuner_id}) to redo its trial; the "
                  "chief waits for it", file=sys.stderr, flush=True)
        else:
            again = "the chief and its workers" if role.chief else "the same command"
            print(f"zoo-tune: interrupted: rerun {again} to continue the search in {FLAGS.directory} "
                  "(completed trials are kept, the interrupted one is redone)", file=sys.stderr, flush=True)
        return 130


def run(argv=None):
    """The command: parses argv (default sys.argv) and returns its exit status."""
    return run_command(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    sys.exit(run())
