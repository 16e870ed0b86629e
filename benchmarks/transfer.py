"""Transfer learning with little data: FID at equal steps from scratch, fine-tuned from the shipped
DCGAN export (its generator; an export holds no discriminator), fine-tuned from the run behind that
export (generator and discriminator), and FreezeD (Mo et al. 2020: the same, the discriminator's
first layer kept fixed), each with and without DiffAugment (Zhao et al. 2020); and GPT on a new
text file, from scratch against fine-tuned from the shipped export.

    python benchmarks/transfer.py --class_id=7 --sizes=100,1000 --steps=1000
    python benchmarks/transfer.py --text=/usr/share/common-licenses/GPL-3 --text_steps=300 --sizes=

FreezeD freezes layers of a *trained* discriminator, so it starts from a run: `--source_run`
(default: the run `zoo-ship` trained the shipped export in, runs/ship/<config>); when it has no checkpoint,
the benchmark first trains one with the shipped card's own step count and settings.

Image rows: `dcgan_fashion_mnist` trained for `--steps` on the first N training images of one
Fashion-MNIST class (`--classes --max_examples`), then `--num_samples` samples through the export
against that class's test images (all 1,000 of them), in the shipped feature space. Text rows:
bits/byte of the file's held-out test part through the export, before training (the shipped
export as it is), from scratch and fine-tuned, both for `--text_steps`. Writes
benchmarks/results/transfer_<name>.json (resumable: rows already there are kept).
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_integer("class_id", 7, "The Fashion-MNIST class (7: sneaker).")
flags.DEFINE_list("sizes", ["100", "1000"], "Training images of that class per row group.")
flags.DEFINE_list("seeds", ["0"], "Training seeds of every image row (more than one shows the seed-to-seed spread).")
flags.DEFINE_enum("augment", "both", ["both", "off", "on"], "Image rows without DiffAugment, with it, or both.")
flags.DEFINE_integer("steps", 1000, "Training steps of every image row (equal steps).")
flags.DEFINE_string("source", "exports/dcgan_fashion_mnist/2", "The export fine-tuning starts from.")
flags.DEFINE_string("source_run", "runs/ship/dcgan_fashion_mnist",
                    "A dcgan_fashion_mnist run (generator and discriminator) the run-started rows start from; "
                    "trained first with the shipped card's settings when it has no checkpoint.")
flags.DEFINE_string("freeze", "discriminator/conv0/", "FreezeD: the discriminator layers kept fixed.")
flags.DEFINE_string("diffaugment", "color,translation,cutout", "DiffAugment policy of the augmented rows.")
flags.DEFINE_integer("num_samples", 2000, "Generated images per measurement.")
flags.DEFINE_string("text", None, "A text file to fine-tune the GPT on (e.g. /usr/share/common-licenses/GPL-3).")
flags.DEFINE_string("text_source", "exports/gpt_fortunes/1", "The GPT export text fine-tuning starts from.")
flags.DEFINE_integer("text_steps", 300, "Training steps of both text rows.")
flags.DEFINE_string("root", os.path.join(ROOT, "runs", "benchmarks", "transfer"), "Where the runs go.")
FLAGS = flags.FLAGS

VARIANTS = {  # name: (start from: None | "export" | "run", freeze)
    "scratch": (None, False),
    "fine-tuned from export": ("export", False),
    "fine-tuned from run": ("run", False),
    "FreezeD from run": ("run", True),
}


def _save(result, out):
    with open(out + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(out + ".tmp", out)


def _load(out, protocol):
    if os.path.exists(out):
        with open(out) as f:
            previous = json.load(f)
        if previous.get("protocol") == protocol:
            return previous
    return {"protocol": protocol, "rows": []}


def source_run():
    """The run the run-started rows start from: `--source_run` when it has a checkpoint, otherwise
    trained now like the shipped export (the card's steps, seed and config)."""
    from zoo.train import checkpoints

    path = os.path.join(ROOT, FLAGS.source_run)
    if checkpoints.checkpoint_paths(os.path.join(path, "checkpoints")):
        return path
    with open(os.path.join(ROOT, FLAGS.source, "assets.extra", "model_card.json")) as f:
        training = json.load(f)["training"]
    print(f"{FLAGS.source_run} has no checkpoint: training it like {FLAGS.source} ({training['steps']} steps)", flush=True)
    _, _, workdir, _ = common.train_from_scratch("dcgan_fashion_mnist", training.get("overrides", []),
                                                 os.path.dirname(path), name=os.path.basename(path),
                                                 steps=training["steps"], seed=training["seed"])
    return workdir


def image_rows():
    from zoo.metrics.exports import evaluate_export

    protocol = {"class_id": FLAGS.class_id, "steps": FLAGS.steps, "source": FLAGS.source,
                "source_run": FLAGS.source_run, "freeze": FLAGS.freeze,
                "diffaugment": FLAGS.diffaugment, "num_samples": FLAGS.num_samples, "split": "test"}
    out = os.path.join(ROOT, "benchmarks", "results", f"transfer_dcgan_class{FLAGS.class_id}.json")
    result = _load(out, protocol)
    done = {(row["examples"], row["variant"], row["diffaugment"], row.get("seed", 0)) for row in result["rows"]}
    starts = {"export": os.path.join(ROOT, FLAGS.source), "run": source_run()}
    rows = [(seed, size, variant, augmented) for seed in (int(value) for value in FLAGS.seeds)
            for size in (int(value) for value in FLAGS.sizes if value) for variant in VARIANTS
            for augmented in {"both": (False, True), "off": (False,), "on": (True,)}[FLAGS.augment]]
    for seed, size, variant, augmented in rows:
        start, frozen = VARIANTS[variant]
        if (size, variant, augmented, seed) in done:
            continue
        settings = {"classes": str(FLAGS.class_id), "max_examples": size, "eval_every": 0, "image_every": 0,
                    "checkpoint_every": max(FLAGS.steps, 1), "seed": seed}
        overrides = [f"model_config.diffaugment={FLAGS.diffaugment}"] if augmented else []
        if start:
            settings["init_from"] = starts[start]
        if frozen:
            settings["freeze"] = FLAGS.freeze
        name = (f"class{FLAGS.class_id}_{size}_{variant.replace(' ', '_')}{'_diffaugment' if augmented else ''}"
                + (f"_seed{seed}" if seed else ""))
        started = time.perf_counter()
        config, _, _, trained = common.train_from_scratch(
            "dcgan_fashion_mnist", overrides, FLAGS.root, name=name, steps=FLAGS.steps, **settings)
        seconds = time.perf_counter() - started
        record = evaluate_export(trained.export_path, config.dataset, "test", FLAGS.num_samples,
                                 data_options={"classes": str(FLAGS.class_id)})
        row = {"examples": size, "variant": variant, "diffaugment": augmented, "seed": seed, "steps": trained.step,
               "train_seconds": round(seconds, 1), "metrics": record["metrics"],
               "reference": record["reference"], "feature_model": record["feature_model"],
               "command": f"zoo-train --config=dcgan_fashion_mnist --classes={FLAGS.class_id} "
                          f"--max_examples={size} --train_steps={FLAGS.steps}"
                          + (f" --seed={seed}" if seed else "")
                          + (f" --init_from={os.path.relpath(starts[start], ROOT)}" if start else "")
                          + (f" --freeze={FLAGS.freeze}" if frozen else "")
                          + (f" --set=model_config.diffaugment={FLAGS.diffaugment}" if augmented else "")}
        result["rows"].append(row)
        result.update(machine=common.machine(), date=time.strftime("%Y-%m-%d"))
        _save(result, out)
        print(f"{name}: FID {row['metrics']['fid']:.2f} after {trained.step} steps", flush=True)
    return out


def text_rows():
    from zoo import config as config_lib
    from zoo.metrics.exports import evaluate_export

    dataset = f"text:{FLAGS.text}"
    protocol = {"text": FLAGS.text, "steps": FLAGS.text_steps, "source": FLAGS.text_source, "split": "test"}
    out = os.path.join(ROOT, "benchmarks", "results", f"transfer_gpt_{os.path.basename(FLAGS.text)}.json")
    result = _load(out, protocol)
    done = {row["variant"] for row in result["rows"]}

    def bits(version_dir):
        record = evaluate_export(version_dir, dataset, "test", 0)
        return record["likelihood"]

    if "shipped export, not trained" not in done:
        result["rows"].append({"variant": "shipped export, not trained", "steps": 0,
                               "likelihood": bits(os.path.join(ROOT, FLAGS.text_source))})
        _save(result, out)
    for variant, warm in (("scratch", False), ("fine-tuned", True)):
        if variant in done:
            continue
        settings = {"dataset": dataset, "eval_every": 0, "checkpoint_every": FLAGS.text_steps,
                    "export_name": config_lib.export_name("gpt", dataset)}
        if warm:
            settings["init_from"] = os.path.join(ROOT, FLAGS.text_source)
        _, _, _, trained = common.train_from_scratch("gpt_fortunes", [], FLAGS.root, name=f"gpt_{variant}",
                                                     steps=FLAGS.text_steps, **settings)
        result["rows"].append({"variant": variant, "steps": trained.step, "likelihood": bits(trained.export_path),
                               "command": f"zoo-train --config=gpt_fortunes --dataset={dataset} "
                                          f"--train_steps={FLAGS.text_steps}"
                                          + (f" --init_from={FLAGS.text_source}" if warm else "")})
        result.update(machine=common.machine(), date=time.strftime("%Y-%m-%d"))
        _save(result, out)
        print(f"gpt {variant}: {result['rows'][-1]['likelihood']}", flush=True)
    return out


def main(argv):
    del argv
    if any(value for value in FLAGS.sizes):
        print(f"wrote {image_rows()}", flush=True)
    if FLAGS.text:
        print(f"wrote {text_rows()}", flush=True)


if __name__ == "__main__":
    app.run(main)
