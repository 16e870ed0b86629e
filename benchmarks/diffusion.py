"""Diffusion on a CPU: sample quality against training time and against sampling steps, beside GANs
trained for the same wall-clock budget on the same machine in the same run.

    python benchmarks/diffusion.py --config=ddpm_fashion_mnist --budgets=10,30,60 \
        --sampling_steps=10,25,50,100 --baselines=dcgan_fashion_mnist,cgan_fashion_mnist --num_samples=1000

1. Trains `--config` in `<root>/<config>` for cumulative wall-clock budgets (`zoo-train
   --max_train_seconds`, resumed for each next budget: the 30-minute model is the 10-minute run
   trained 20 minutes more), logging to `<root>/<config>.log`; after each budget zoo-eval's code
   measures the export (FID/KID/precision/recall/density/coverage of `--num_samples` samples at the
   export's default sampling steps vs the test split, the shipped feature network).
2. On the last model, the same metrics at each of `--sampling_steps` DDIM steps, and the seconds one
   `sample` call takes for 64 images at that step count (after a warm-up call).
3. Each `--baselines` config trained the same way (cumulative budgets, resumed, in
   `<root>/baseline_<config>`) for each of `--baseline_budgets` and measured alike.

Everything runs one after another on this machine (a budget is wall clock, so a row compares
models only within one run of this script). Stages already recorded in the result file are
skipped, so an interrupted run resumes. Writes benchmarks/results/diffusion_<config>.json;
benchmarks/make_table.py renders it into docs/benchmarks.md.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_string("config", "ddpm_fashion_mnist", "Diffusion config name in experiments/configs.")
flags.DEFINE_list("budgets", ["10", "30", "60"], "Cumulative wall-clock training budgets in minutes.")
flags.DEFINE_list("sampling_steps", ["10", "25", "50", "100"], "DDIM step counts measured on the last model.")
flags.DEFINE_list("baselines", ["dcgan_fashion_mnist", "cgan_fashion_mnist"],
                  "GAN configs trained for --baseline_budgets and measured alike.")
flags.DEFINE_list("baseline_budgets", None, "Cumulative budgets in minutes for the baselines (default: --budgets).")
flags.DEFINE_integer("num_samples", 1000, "Generated images per measurement.")
flags.DEFINE_string("root", os.path.join(ROOT, "runs", "benchmarks", "diffusion"), "Where the runs go.")
flags.DEFINE_string("out", None, "Result JSON (default: benchmarks/results/diffusion_<config>.json).")
FLAGS = flags.FLAGS


def _save(result, out):
    with open(out + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(out + ".tmp", out)


def _evaluate(version_dir, dataset, parameters=None):
    from zoo.metrics.exports import evaluate_export

    record = evaluate_export(version_dir, dataset, "test", FLAGS.num_samples, parameters=parameters)
    return {"metrics": record["metrics"], "sampling_seconds": record["sampling_seconds"],
            "feature_model": record["feature_model"], **({"label_accuracy": record["label_accuracy"]["accuracy"]}
                                                         if "label_accuracy" in record else {})}


def seconds_per_64(version_dir, parameters):
    """Wall seconds of one 64-image call of the samples signature with `parameters` (after a warm-up)."""
    import numpy as np
    import tensorflow as tf

    from zoo import contract, kinds
    from zoo.metrics import sampling

    interface = contract.from_export(version_dir)
    signature = interface.evaluation_signature(kinds.SAMPLES)
    function = tf.saved_model.load(version_dir).signatures[signature.name]
    seeds = np.arange(64, dtype=np.int64)
    sampling.call(function, sampling.sample_request(signature, seeds[:2], parameters=parameters))
    started = time.perf_counter()
    sampling.call(function, sampling.sample_request(signature, seeds, parameters=parameters))
    return round(time.perf_counter() - started, 2)


def _train_for(config_name, workdir, log_path, budget_minutes, *flags):
    """Trains `config_name` in `workdir` with zoo-train until its invocations, as the workdir's
    run.json records them, add up to `budget_minutes` of wall clock (resuming; nothing when they
    already do), logging to `log_path`. Returns (steps, seconds) and the export of the last step."""
    from zoo import config as config_lib
    from zoo import export
    from zoo.train import run_record

    record = run_record.read(workdir)
    if record is not None and not run_record.complete(record):
        raise SystemExit(f"{run_record.path_of(workdir)} does not record the run's training from step 0 (begun "
                         f"before zoo kept it): its wall time is unknown; remove {workdir} to measure it again")
    remaining = int(budget_minutes * 60 - (record["seconds"] if record else 0.0))
    if remaining > 0:
        common.run_zoo_command(["zoo-train", f"--config={config_name}", "--train_steps=1000000000",
                                f"--max_train_seconds={remaining}", *flags, f"--workdir={workdir}",
                                f"--export_dir={workdir}/exports"], log_path)
        record = run_record.read(workdir)
    steps, seconds = record["steps"], record["seconds"]
    version_dir = _latest_export(workdir, config_lib.load(config_name).export_name)
    info = export.read_info(version_dir)
    if info.get("step") != steps:
        raise SystemExit(f"{version_dir} holds step {info.get('step')}, {run_record.path_of(workdir)} ends at step {steps}")
    return steps, seconds, version_dir


def _latest_export(workdir, name):
    from zoo import export

    model_dir = os.path.join(workdir, "exports", name)
    return os.path.join(model_dir, str(export.latest_version(model_dir)))


def main(argv):
    del argv
    from zoo import config as config_lib
    from zoo import contract, kinds

    config = config_lib.load(FLAGS.config)
    out = FLAGS.out or os.path.join(ROOT, "benchmarks", "results", f"diffusion_{FLAGS.config}.json")
    command = (f"python benchmarks/diffusion.py --config={FLAGS.config} --budgets={','.join(FLAGS.budgets)} "
               f"--sampling_steps={','.join(FLAGS.sampling_steps)} --baselines={','.join(FLAGS.baselines)}"
               + (f" --baseline_budgets={','.join(FLAGS.baseline_budgets)}" if FLAGS.baseline_budgets else "")
               + f" --num_samples={FLAGS.num_samples}")
    result = {"config": FLAGS.config, "split": "test", "num_samples": FLAGS.num_samples,
              "training": [], "sampling": [], "baselines": []}
    if os.path.exists(out):
        with open(out) as f:
            previous = json.load(f)
        # Same protocol (rows are keyed by their budget or step count): resume it, adding rows.
        if all(previous.get(key) == result[key] for key in ("config", "split", "num_samples")):
            result = previous
    result.update(command=command, machine=common.machine(), date=time.strftime("%Y-%m-%d"),
                  train_data=common.training_data(config))
    os.makedirs(FLAGS.root, exist_ok=True)
    workdir = os.path.join(FLAGS.root, FLAGS.config)
    log_path = os.path.join(FLAGS.root, f"{FLAGS.config}.log")

    done = {row["budget_minutes"] for row in result["training"]}
    for budget in (float(value) for value in FLAGS.budgets):
        if budget in done:
            continue
        steps, seconds, version_dir = _train_for(FLAGS.config, workdir, log_path, budget)
        row = {"budget_minutes": budget, "steps": steps, "wall_seconds": seconds, "batch_size": config.batch_size,
               "sampling_steps": config.model_config.sample_steps, **_evaluate(version_dir, config.dataset)}
        result["training"].append(row)
        _save(result, out)
        print(f"{FLAGS.config} {budget:g} min: {steps} steps, FID {row['metrics']['fid']:.2f}, "
              f"KID {row['metrics']['kid_mean']:.3f}", flush=True)

    version_dir = _latest_export(workdir, config.export_name)
    signature = contract.from_export(version_dir).evaluation_signature(kinds.SAMPLES)
    steps_input = next(spec.name for spec in signature.inputs_with(contract.PARAMETER) if spec.dtype == "int64")
    done = {row["steps"] for row in result["sampling"]}
    for steps in (int(value) for value in FLAGS.sampling_steps):
        if steps in done:
            continue
        parameters = {steps_input: steps}
        row = {"steps": steps, "model_budget_minutes": float(FLAGS.budgets[-1]),
               "seconds_per_64_images": seconds_per_64(version_dir, parameters),
               **_evaluate(version_dir, config.dataset, parameters)}
        result["sampling"].append(row)
        _save(result, out)
        print(f"{steps} sampling steps: FID {row['metrics']['fid']:.2f}, {row['seconds_per_64_images']} s per 64 "
              "images", flush=True)

    done = {(row["config"], row["budget_minutes"]) for row in result["baselines"]}
    for minutes in (float(value) for value in FLAGS.baseline_budgets or FLAGS.budgets):
        for baseline in FLAGS.baselines:
            if not baseline or (baseline, minutes) in done:
                continue
            baseline_config = config_lib.load(baseline)
            name = f"baseline_{baseline}"
            steps, seconds, version_dir = _train_for(
                baseline, os.path.join(FLAGS.root, name), os.path.join(FLAGS.root, f"{name}.log"), minutes,
                "--eval_every=0", "--set=image_every=0", "--set=checkpoint_every=2000")
            row = {"config": baseline, "model": baseline_config.model, "budget_minutes": minutes, "steps": steps,
                   "wall_seconds": seconds, "batch_size": baseline_config.batch_size,
                   "seconds_per_64_images": seconds_per_64(version_dir, {}),
                   **_evaluate(version_dir, baseline_config.dataset)}
            result["baselines"].append(row)
            _save(result, out)
            print(f"{baseline} {minutes:g} min: {steps} steps, FID {row['metrics']['fid']:.2f}", flush=True)
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    app.run(main)
