"""zoo-export: exports a workdir's latest checkpoint as a TF Serving SavedModel version.

    zoo-export --workdir=runs/dcgan --export_dir=exports [--version=N] [--name=dcgan_fashion_mnist]
"""

from absl import flags

from experiments.common import main_with_errors
from zoo.errors import UserError

flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints/ and config.json.")
flags.DEFINE_string("export_dir", "exports", "Export root: writes <export_dir>/<name>/<version>/.")
flags.DEFINE_integer("version", None, "Version number (default: one past the highest existing).")
flags.DEFINE_string("name", None, "Model name under export_dir (default: the config's export_name).")
flags.DEFINE_string("checkpoint", "latest", "latest, best (kept when training evaluated), or a checkpoint path.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if not FLAGS.workdir:
        raise UserError("--workdir is required: the training workdir to export from")
    if FLAGS.version is not None and FLAGS.version <= 0:
        raise UserError(f"--version must be a positive integer, got {FLAGS.version}")
    from zoo import export, train

    model, config, step = train.restore_model(FLAGS.workdir, FLAGS.checkpoint)
    info = {"model": config.model, "dataset": config.dataset, "step": step, "checkpoint": FLAGS.checkpoint,
            **model.export_info()}
    path = export.export_model(model, FLAGS.export_dir, FLAGS.name or config.export_name, info, FLAGS.version)
    print(f"exported {config.model} at step {step} to {path}", flush=True)


def run():
    main_with_errors(main)


if __name__ == "__main__":
    run()
