"""zoo-export: exports a workdir's latest checkpoint as a TF Serving SavedModel version, and keeps
the TF Serving files beside the exports (models.config, batching_parameters.txt) up to date.

    zoo-export --workdir=runs/dcgan --export_dir=exports [--version=N] [--name=dcgan_fashion_mnist]
    zoo-export --workdir=runs/dcgan --label=canary            # the new version becomes "canary"
    zoo-export --name=dcgan_fashion_mnist --label=stable=2    # move a label; no export
    zoo-export --name=dcgan_fashion_mnist --version_policy=latest:2
    zoo-export --from_export=exports/cddpm_fashion_mnist/1 --export_dir=/tmp/new   # re-export with today's code
    zoo-export --from_export=exports/ddpm_fashion_mnist --set=model_config.sample_steps=20 --export_dir=/tmp/new

--label=NAME labels the version this run exports; --label=NAME=V points NAME at existing version V
(TF Serving only accepts labels on versions it serves: a labelled model is served at its labelled
versions plus its latest unless --version_policy says otherwise; see zoo.export.serving_config).
Reading the checkpoint holds the workdir's lock (zoo.locks): a workdir a training holds is refused.

--from_export re-exports an existing version's weights with today's signatures (after an upgrade
of zoo: a faster sampler, a new signature) without its workdir: the model is rebuilt from
--config (default: the config named like the export, else the model's default for its dataset)
at the data shape the export records, its variables are restored as `zoo-train --init_from`
restores them (zoo.train.transfer; a variable that does not fit is refused), and the new version
records the source's step and evaluation; --from_export may name a model directory (its newest
version), and --set overrides the config for the rebuilt model. Every signature both versions
have is then called on the same example rows in both and the command prints whether their
outputs agree.
"""

import os
import sys

from absl import flags

from experiments.common import command_flags, run_command
from zoo.errors import UserError

FLAGS = command_flags()  # Its own flags (experiments.common): commands share a process.
flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints/ and config.json (omit to only "
                    "change labels or the version policy of --name).", flag_values=FLAGS)
flags.DEFINE_string("export_dir", "exports", "Export root: writes <export_dir>/<name>/<version>/ and "
                    "<export_dir>/models.config.", flag_values=FLAGS)
flags.DEFINE_integer("version", None, "Version number (default: one past the highest existing).", flag_values=FLAGS)
flags.DEFINE_string("name", None, "Model name under export_dir (default: the config's export_name).", flag_values=FLAGS)
flags.DEFINE_string("from_export", None, "An export version directory to re-export with today's code (instead of "
                    "--workdir).", flag_values=FLAGS)
flags.DEFINE_string("config", None, "With --from_export: the config (name or path) the export was trained with "
                    "(default: the config named like the export, else the model's default).", flag_values=FLAGS)
flags.DEFINE_multi_string("set", [], "With --from_export: config overrides (key=value) for the rebuilt model, "
                          "e.g. the settings it was trained with or a new default sampler; a setting that changes "
                          "the weights' shapes is refused.", flag_values=FLAGS)
flags.DEFINE_string("checkpoint", "latest", "latest, best (kept when training evaluated), or a checkpoint path.",
                    flag_values=FLAGS)
flags.DEFINE_multi_string("label", [], "Version label for models.config: NAME (the exported version) or NAME=VERSION.",
                          flag_values=FLAGS)
flags.DEFINE_multi_string("unlabel", [], "Version label to remove from --name in models.config.", flag_values=FLAGS)
flags.DEFINE_string("version_policy", None, "TF Serving version policy for the model: latest, latest:N, all, "
                    "specific:V1,V2 (default: kept; new models latest, labelled models their labels + latest).",
                    flag_values=FLAGS)
flags.DEFINE_string("serving_base_path", None, "Where the server sees --export_dir (base_path prefix in "
                    "models.config; default: as the file has it, else /models as in docker-compose.yml).",
                    flag_values=FLAGS)


def _parse_labels(values, exported_version):
    """{label: version} from --label values; a bare NAME labels `exported_version`."""
    from zoo.export import serving_config

    labels = {}
    for value in values:
        label, sep, version = value.partition("=")
        serving_config.check_label(label)
        if not sep:
            if exported_version is None:
                raise UserError(f"--label={value} labels the version this run exports: pass --workdir, "
                                f"or name a version with --label={value}=VERSION")
            labels[label] = exported_version
        elif version.isdigit() and int(version) > 0:
            labels[label] = int(version)
        else:
            raise UserError(f"--label={value}: use NAME or NAME=VERSION with a positive integer version")
    return labels


def _reexport(source):
    """Re-exports `source` (zoo.train.reexport) and prints how its signatures compare; (name, path)."""
    from zoo import export
    from zoo.train import reexport

    if not os.path.isfile(os.path.join(source, "saved_model.pb")) and export.latest_version(source) is not None:
        source = os.path.join(source, str(export.latest_version(source)))  # A model dir: its newest version.
    path = reexport.reexport(source, FLAGS.export_dir, FLAGS.name, FLAGS.config, FLAGS.set, version=FLAGS.version,
                             log=lambda line: print(line, flush=True))
    for signature, line in reexport.compare(source, path).items():
        print(f"  {signature}: {line}", flush=True)
    return os.path.basename(os.path.dirname(path)), path


def main(argv):
    del argv
    if FLAGS.version is not None and FLAGS.version <= 0:
        raise UserError(f"--version must be a positive integer, got {FLAGS.version}")
    from zoo import export

    changes_config = FLAGS.label or FLAGS.unlabel or FLAGS.version_policy
    if FLAGS.from_export and FLAGS.workdir:
        raise UserError("--from_export and --workdir both name what to export: pass one")
    if (FLAGS.config or FLAGS.set) and not FLAGS.from_export:
        raise UserError(f"--{'config' if FLAGS.config else 'set'} is read with --from_export only "
                        "(a workdir records its own config)")
    if not FLAGS.workdir and not FLAGS.from_export:
        if not changes_config:
            raise UserError("--workdir is required: the training workdir to export from (or pass --name with "
                            "--label/--unlabel/--version_policy to change models.config only)")
        if not FLAGS.name:
            raise UserError("--name is required to change labels or the version policy without --workdir")
    # Label syntax (and a bare label without an export) is refused before anything is written.
    _parse_labels(FLAGS.label, 0 if FLAGS.workdir or FLAGS.from_export else None)
    if FLAGS.version_policy:
        export.serving_config.parse_version_policy(FLAGS.version_policy)
    name, version = FLAGS.name, None
    if FLAGS.from_export:
        name, path = _reexport(FLAGS.from_export.rstrip("/"))
        version = int(path.rstrip("/").rsplit("/", 1)[-1])
        print(f"re-exported {FLAGS.from_export} to {path}", flush=True)
    if FLAGS.workdir:
        from zoo import locks, train

        if not os.path.isdir(FLAGS.workdir):
            raise UserError(f"no checkpoint in workdir {FLAGS.workdir!r}: train first with zoo-train "
                            f"--workdir={FLAGS.workdir}")
        with locks.hold(FLAGS.workdir):  # Not while a training writes checkpoints (or its export) there.
            model, config, step = train.restore_model(FLAGS.workdir, FLAGS.checkpoint)
            info = {**train.trainer.export_record(config, model, step), "checkpoint": FLAGS.checkpoint}
            name = FLAGS.name or config.export_name
            path = export.export_model(model, FLAGS.export_dir, name, info, FLAGS.version, serving_files=False)
        version = int(path.rstrip("/").rsplit("/", 1)[-1])
        print(f"exported {config.model} at step {step} to {path}", flush=True)
    updated = export.update_models_config(FLAGS.export_dir, name=name, labels=_parse_labels(FLAGS.label, version),
                                          unlabel=FLAGS.unlabel, version_policy=FLAGS.version_policy,
                                          base_path=FLAGS.serving_base_path)
    export.serving_config.write_batching_parameters(FLAGS.export_dir)
    entry = next(model for model in updated.model_config_list.config if model.name == name)
    labels = ", ".join(f"{key}={value}" for key, value in sorted(entry.version_labels.items())) or "none"
    print(f"{FLAGS.export_dir}/{export.MODELS_CONFIG}: {name} served at "
          f"{export.serving_config.describe_policy(entry.model_version_policy)}, labels {labels}", flush=True)


def run(argv=None):
    """The command: parses argv (default sys.argv) and returns its exit status."""
    return run_command(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    sys.exit(run())
