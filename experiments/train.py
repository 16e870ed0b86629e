"""zoo-train: trains a registered model, checkpointing into --workdir and exporting at the end.

    zoo-train --model=dcgan --dataset=fashion_mnist --workdir=runs/dcgan
    zoo-train --config=experiments/configs/dcgan_fashion_mnist.py --workdir=runs/dcgan --train_steps=200

Rerunning the same command resumes from the latest checkpoint in --workdir, and exports into
<workdir>/exports unless --export_dir names another root. One run at a time holds a workdir: a
second is refused, naming the process that holds it.
"""

import os
import sys

from absl import flags

from experiments.common import command_flags, flags_text, run_command
from zoo.config import export_name  # noqa: F401  (re-exported: tests import it from here)
from zoo.errors import UserError

FLAGS = command_flags()  # Its own flags (experiments.common): commands share a process.
flags.DEFINE_string("config", None, "Config file (experiments/configs/*.py) or config name.", flag_values=FLAGS)
flags.DEFINE_string("model", None, "Registered model name; picks experiments/configs/<model>_<dataset>.py.",
                    flag_values=FLAGS)
flags.DEFINE_string("dataset", None, "fashion_mnist, folder:/path/to/images, fortunes, text:/path/to/file.txt, "
                    "paired: fashion_mnist_edges|_masked|_lowres or paired_folder:/path, or a TFDS name.",
                    flag_values=FLAGS)
flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard logs, flags and sample grids go here.",
                    flag_values=FLAGS)
flags.DEFINE_integer("train_steps", None, "Total training steps (overrides the config).", flag_values=FLAGS)
flags.DEFINE_integer("batch_size", None, "Global batch size (overrides the config).", flag_values=FLAGS)
flags.DEFINE_integer("seed", None, "Seed of the data order and the training noise (overrides the config).",
                     flag_values=FLAGS)
flags.DEFINE_string("data_dir", None, "Directory with the dataset's files (IDX files for fashion_mnist).",
                    flag_values=FLAGS)
flags.DEFINE_integer("image_size", None, "Resize folder images to this square size.", flag_values=FLAGS)
flags.DEFINE_integer("channels", None, "Convert folder images to 1 or 3 channels.", flag_values=FLAGS)
flags.DEFINE_enum("direction", None, ["AtoB", "BtoA"], "paired_folder: which half (or folder) is the input.",
                  flag_values=FLAGS)
flags.DEFINE_integer("validation_size", None, "Training examples (text files: bytes) held out of train as the "
                     "validation split that evaluation during training reads (default: the dataset's, e.g. "
                     "Fashion-MNIST's last 10,000 images; 0: none).", flag_values=FLAGS)
flags.DEFINE_string("classes", None, "Train on these class ids only, e.g. 7 or 0,2,4 (labelled images; every "
                    "split, so evaluation references match).", flag_values=FLAGS)
flags.DEFINE_string("train_split", None, "The split trained on (default train), sliced TFDS-style: 'train[:1%]', "
                    "'train[:1000]'.", flag_values=FLAGS)
flags.DEFINE_integer("max_examples", None, "Train on the first N training examples (after --classes).",
                     flag_values=FLAGS)
flags.DEFINE_string("init_from", None, "Start from a run's workdir, a checkpoint (<workdir>/checkpoints/ckpt-N) or an "
                    "export version dir (exports/<name>/<version>): its weights, fresh optimizers, step 0.",
                    flag_values=FLAGS)
flags.DEFINE_string("freeze", None, "Comma-separated regular expressions of variable paths to keep fixed, e.g. "
                    "'discriminator/conv0/' (FreezeD).", flag_values=FLAGS)
flags.DEFINE_integer("max_train_seconds", None, "Wall-clock budget of this invocation in seconds: stop (with a "
                     "checkpoint and the export) when it is spent; a rerun trains another budget (0: none).",
                     flag_values=FLAGS)
flags.DEFINE_integer("eval_every", None, "Measure the model on eval_split every N steps (FID/KID, or its likelihood: see "
                     "eval_metric) and keep the best checkpoint (0: off).",
                     flag_values=FLAGS)
flags.DEFINE_integer("early_stopping_patience", None, "Stop after K evaluations without improvement (0: never).",
                     flag_values=FLAGS)
flags.DEFINE_string("export_dir", None, "Export root (TF Serving base paths; default <workdir>/exports, so a run "
                    "never writes into the shipped exports/); empty to skip the export.", flag_values=FLAGS)
flags.DEFINE_bool("trust_export", False, "Start from an --init_from export even if its graph holds ops zoo's own "
                  "exports never use (see zoo.export.trust): only for an export whose source you trust.",
                  flag_values=FLAGS)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"], "tf.distribute strategy.",
                  flag_values=FLAGS)
flags.DEFINE_multi_string("set", [], "Config override key=value, e.g. --set=model_config.latent_dim=64.",
                          flag_values=FLAGS)
flags.DEFINE_bool("smoke", False, "Shrink the config to a few tiny steps (a quick check that it runs).",
                  flag_values=FLAGS)


def build_config():
    from zoo import config as config_lib
    from zoo import registry

    if FLAGS.config:
        config = config_lib.load(FLAGS.config, smoke=FLAGS.smoke)
        if FLAGS.model and FLAGS.model != config.model:
            raise UserError(f"--model={FLAGS.model} conflicts with {FLAGS.config}, which trains {config.model!r}")
    elif FLAGS.model:
        registry.get(FLAGS.model)
        config = config_lib.load(config_lib.default_config_name(FLAGS.model, FLAGS.dataset or "fashion_mnist"),
                                 smoke=FLAGS.smoke)
    else:
        raise UserError(f"pass --model=<name> or --config=<file>; registered models: {', '.join(registry.names())}")
    if FLAGS.dataset and FLAGS.dataset != config.dataset:
        config.dataset = FLAGS.dataset
        config.export_name = export_name(config.model, FLAGS.dataset)
    for key in ("train_steps", "batch_size", "seed", "data_dir", "image_size", "channels", "direction",
                "validation_size", "max_train_seconds", "eval_every", "early_stopping_patience", "classes",
                "max_examples", "init_from", "freeze", "train_split"):
        if FLAGS[key].value is not None:
            config[key] = FLAGS[key].value
    # A model trained on part of its dataset exports under its own name (--set=export_name=... wins).
    config.export_name += config_lib.subset_suffix(config.get("classes"), config.get("max_examples"),
                                                   config.get("train_split") or "train")
    config_lib.apply_overrides(config, FLAGS.set)
    registry.get(config.model)
    return config


def main(argv):
    del argv
    if not FLAGS.workdir:
        raise UserError("--workdir is required: checkpoints, logs and flags are kept there")
    config = build_config()
    from zoo import train

    strategy = train.make_strategy(FLAGS.strategy)
    export_dir = os.path.join(FLAGS.workdir, "exports") if FLAGS.export_dir is None else FLAGS.export_dir or None
    result = train.train_and_evaluate(config, FLAGS.workdir, export_dir=export_dir, strategy=strategy,
                                      flags_text=flags_text(FLAGS), trust_export=FLAGS.trust_export)
    if result.interrupted:
        return 130  # Interrupted: the checkpoint is saved, but the run did not finish.


def run(argv=None):
    """The command: parses argv (default sys.argv) and returns its exit status."""
    return run_command(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    sys.exit(run())
