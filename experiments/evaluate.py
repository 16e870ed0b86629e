"""zoo-eval: measures an export with what it declares it can be measured by, through its SavedModel
signatures alone: image generators against real data (FID, KID, precision/recall,
density/coverage); likelihood models on the split (NLL in nats per image and bits/dim; VAEs: the
importance-weighted estimate and the negative ELBO); text models in bits per byte of the held-out
text and, where they declare generation, by the distinct-1/2/3 and self-BLEU of their continuations
of held-out prompts and the BLEU (sacrebleu) of those against the true continuations;
image-to-image models by PSNR, SSIM, L1 and FID of their outputs against the targets.

    zoo-eval --export=exports/pixelcnn_fashion_mnist --num_samples=0   # likelihood only
    zoo-eval --export=exports/gpt_fortunes                              # bits/byte, generation on test
    zoo-eval --export=exports/gpt_fortunes --num_prompts=0              # bits/byte only

    zoo-eval --export=exports/dcgan_fashion_mnist --dataset=fashion_mnist --num_samples=10000 [--split=test]
    zoo-eval --export=exports/pix2pix_fashion_mnist_edges                 # PSNR/SSIM/L1/FID on test pairs

Prints one line and writes JSON (metrics, sample count, feature network hash, dataset split, seed)
beside the run that wrote the export (<workdir>/eval/), or for an export outside a run (a shipped
one) to runs/eval/ under the current directory, or to --out; never into the export's own tree.
The export runs only if its graph holds just the ops zoo's own exports use (zoo.export.trust;
--trust_export runs it regardless).
The default split is test, for the numbers to report; --split=validation measures on the part of
the training data held out of train (what zoo-tune and evaluation during training select on).
"""

import json
import os
import sys

from absl import flags

from experiments.common import command_flags, run_command
from zoo.errors import UserError

FLAGS = command_flags()  # Its own flags (experiments.common): commands share a process.
flags.DEFINE_string("export", None, "Model directory (exports/<name>) or a version directory.", flag_values=FLAGS)
flags.DEFINE_integer("version", None, "Version to evaluate (default: the highest).", flag_values=FLAGS)
flags.DEFINE_string("dataset", None, "Real data to compare with (default: the dataset the export was trained on).",
                    flag_values=FLAGS)
flags.DEFINE_string("split", "test", "Split of the real data: test (default) for the numbers to report; "
                    "validation (held out of train) or train, optionally sliced like validation[:1000].",
                    flag_values=FLAGS)
flags.DEFINE_string("data_dir", None, "Directory with the dataset's files.", flag_values=FLAGS)
flags.DEFINE_integer("validation_size", None, "Training examples held out as the validation split (default: what "
                     "the export was trained with, else the dataset's default; 0: none).", flag_values=FLAGS)
flags.DEFINE_integer("num_samples", 10000, "Generated images (seeds first_seed .. first_seed+N-1); 0 skips "
                     "the sample metrics (likelihood models: only the likelihood).", flag_values=FLAGS)
flags.DEFINE_string("classes", None, "Compare with these class ids only, e.g. 7 (default: the classes the export "
                    "was trained on, all when it was trained on all; 'all' for every class).", flag_values=FLAGS)
flags.DEFINE_integer("reference_examples", 10000, "Real images used (a fixed subset of the split).", flag_values=FLAGS)
flags.DEFINE_integer("first_seed", None, "First seed of the generated images (default: 10**9).", flag_values=FLAGS)
flags.DEFINE_integer("batch_size", 256, "Images per signature call (at most 1024).", flag_values=FLAGS)
flags.DEFINE_string("feature_model", None, "Feature network: default the shipped Fashion-MNIST one; "
                    "a .keras model file or InceptionV3 .h5 weights.", flag_values=FLAGS)
flags.DEFINE_integer("likelihood_examples", None, "Likelihood models: score only the split's first N images "
                     "(default: all).", flag_values=FLAGS)
flags.DEFINE_integer("num_prompts", 200, "Text generation: held-out prompts continued (one seed each, from "
                     "first_seed; every long-enough text of the split when it has fewer); 0 skips the generation "
                     "metrics.", flag_values=FLAGS)
flags.DEFINE_integer("prompt_bytes", 32, "Text generation: bytes of each held-out text given as its prompt.",
                     flag_values=FLAGS)
flags.DEFINE_integer("continuation_bytes", 64, "Text generation: bytes generated after each prompt, compared with "
                     "the text's true next bytes.", flag_values=FLAGS)
flags.DEFINE_multi_string("parameter", [], "name=value: set a parameter input the evaluated signature declares "
                          "(e.g. a diffusion sampler's steps=25) instead of its default; repeatable.",
                          flag_values=FLAGS)
flags.DEFINE_string("out", None, "JSON path (default: beside the run that wrote the export, "
                    "<workdir>/eval/<name>-<version>-<dataset>-<split>.json; for an export outside a run, such as "
                    "a shipped one, runs/eval/<name>-<version>-<dataset>-<split>.json: never inside exports).",
                    flag_values=FLAGS)
flags.DEFINE_bool("trust_export", False, "Run --export even if its graph holds ops zoo's own exports never use "
                  "(file access, Python calls; see zoo.export.trust): only for an export whose source you trust.",
                  flag_values=FLAGS)


def default_record_dir(version_dir):
    """Where a record goes without --out: `<workdir>/eval` when the export is in a run's workdir
    (`<workdir>/<export root>/<name>/<version>`, the workdir holding run.json), else `runs/eval`
    under the current directory; never into the export's own tree, which may be a shipped one."""
    from zoo.train.trainer import RUN_FILE

    workdir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(version_dir))))
    if os.path.isfile(os.path.join(workdir, RUN_FILE)):
        return os.path.join(workdir, "eval")
    return os.path.join("runs", "eval")


def main(argv):
    del argv
    if not FLAGS.export:
        raise UserError("--export is required, e.g. --export=exports/dcgan_fashion_mnist")
    from zoo import export

    version_dir = export.resolve_version_dir(FLAGS.export, FLAGS.version)
    info = export.read_info(version_dir)
    dataset = FLAGS.dataset or info.get("dataset") or "fashion_mnist"
    from zoo.metrics import sampling
    from zoo.metrics.exports import evaluate_export

    # The data is read as the model was trained on it (image size, channels, pair direction), unless
    # another dataset is asked for.
    options = dict(info.get("data_options", {})) if dataset == info.get("dataset") else {}
    if FLAGS.validation_size is not None:
        options["validation_size"] = FLAGS.validation_size
    if FLAGS.classes is not None:
        options.pop("classes", None)
        if FLAGS.classes != "all":
            options["classes"] = FLAGS.classes
    record = evaluate_export(version_dir, dataset, FLAGS.split, FLAGS.num_samples, FLAGS.first_seed,
                             FLAGS.batch_size, FLAGS.feature_model, FLAGS.data_dir, FLAGS.reference_examples,
                             FLAGS.likelihood_examples, data_options=options,
                             parameters=sampling.parse_parameters(FLAGS.parameter), trust_export=FLAGS.trust_export,
                             num_prompts=FLAGS.num_prompts, prompt_bytes=FLAGS.prompt_bytes,
                             continuation_bytes=FLAGS.continuation_bytes)
    model_dir, version = os.path.split(os.path.normpath(version_dir))
    safe_dataset = dataset.replace("/", "_").replace(":", "_")
    given = "".join(f"-{item.replace('=', '')}" for item in FLAGS.parameter)
    name = f"{os.path.basename(model_dir)}-{version}-{safe_dataset}-{FLAGS.split}{given}.json"
    out = FLAGS.out or os.path.join(default_record_dir(version_dir), name)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(record, f, indent=2)
    from zoo import contract, kinds

    interface = contract.from_export(version_dir)
    parts = [part for _, kind in kinds.declared(interface) for part in kind.summary(record, FLAGS.split)]
    print(f"{os.path.basename(model_dir)}/{version} vs {dataset} {FLAGS.split} {'  '.join(parts)} -> {out}", flush=True)


def run(argv=None):
    """The command: parses argv (default sys.argv) and returns its exit status."""
    return run_command(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    sys.exit(run())
