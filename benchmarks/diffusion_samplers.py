"""DDIM against DPM-Solver++(2M) on a diffusion export: FID per sampling step count, and seconds.

    python benchmarks/diffusion_samplers.py --export=exports/cddpm_fashion_mnist [--steps=10,15,20,50]
        [--num_samples=2000]

For each sampler the export declares on its step-count signature (the `order` parameter: 1 DDIM
with eta 0, 2 DPM-Solver++(2M); Lu et al. 2022) and each of --steps, zoo-eval's own measurement
(zoo.metrics.exports.evaluate_export: --num_samples generated images, seeds 10**9 onward, vs the
test split's first --reference_examples images through the shipped Fashion-MNIST feature network;
a conditional export's classes drawn as zoo-eval draws them, at its default guidance) gives FID,
KID, precision/recall and, where declared, label accuracy. Every row uses the same seeds, so rows
differ only in the sampler. Seconds are one `sample` call of 64 images at that sampler and step
count, after a warm-up call, in this process.

The chosen default is the fewest steps (either sampler) whose FID is within --within (5%) of DDIM
at --reference_steps (50): what serving_default should run. Stages already in the result file are
skipped, so an interrupted run resumes. Results: benchmarks/results/sampler_steps_<name>.json
(benchmarks/make_table.py renders them into docs/benchmarks.md).
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402  (benchmarks/common.py: the machine line)
from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("export", None, "A diffusion version dir, or a model dir (its latest version).")
flags.DEFINE_list("steps", ["10", "15", "20", "50"], "Sampling step counts.")
flags.DEFINE_list("orders", None, "Solver orders to compare (default: every value the export declares).")
flags.DEFINE_integer("num_samples", 2000, "Generated images per row.")
flags.DEFINE_integer("reference_examples", 10000, "Test-split images compared with.")
flags.DEFINE_integer("reference_steps", 50, "DDIM's step count the others are held to.")
flags.DEFINE_float("within", 0.05, "Relative FID margin for the chosen default.")
flags.DEFINE_string("data_dir", None, "Dataset files (default: the installed Fashion-MNIST).")
flags.DEFINE_integer("timing_rounds", 3, "Rounds of interleaved timing calls once every row is measured (the "
                     "best of them is reported: the FID stages share the cores with whatever else runs).")
flags.DEFINE_string("out", None, "JSON path (default: benchmarks/results/sampler_steps_<name>.json).")
FLAGS = flags.FLAGS

ORDER = "order"
STEPS = "steps"


def _version_dir(path):
    from zoo.export.saved_model import list_versions

    path = path.rstrip("/")
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = list_versions(path)
    if not versions:
        raise app.UsageError(f"--export: {path} holds no export version")
    return os.path.join(path, str(versions[-1]))


def _signature(version_dir):
    """The signature that takes a step count and a solver order, as the export declares them."""
    from zoo import contract

    interface = contract.from_export(version_dir)
    for signature in interface.signatures:
        names = {spec.name: spec for spec in signature.inputs if spec.role == "parameter"}
        if STEPS in names and ORDER in names:
            return signature, names
    raise app.UsageError(f"{version_dir} declares no signature with {STEPS!r} and {ORDER!r} parameters "
                         "(exports before DPM-Solver++: re-export it with zoo-ship --reexport)")


def _seconds(version_dir, signature, steps, order, rows=64, function=None):
    import numpy as np
    import tensorflow as tf

    from zoo.export import trust

    function = function or trust.load(version_dir).signatures[signature.name]
    request = signature.example_request(rows)
    request[signature.input_with("seed").name] = np.arange(rows, dtype=np.int64)
    request[STEPS] = np.full([rows], steps, np.int64)
    request[ORDER] = np.full([rows], order, np.int64)
    tensors = {key: tf.constant(value) for key, value in request.items()}
    function(**tensors)  # Warm-up.
    started = time.perf_counter()
    function(**tensors)
    return time.perf_counter() - started


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from zoo.export import cards
    from zoo.metrics.exports import evaluate_export

    version_dir = _version_dir(FLAGS.export)
    signature, parameters = _signature(version_dir)
    with open(os.path.join(version_dir, "assets.extra", "zoo_export.json")) as f:
        info = json.load(f)
    name = info["name"]
    orders = [int(o) for o in FLAGS.orders] if FLAGS.orders else list(range(int(parameters[ORDER].low),
                                                                            int(parameters[ORDER].high) + 1))
    out = FLAGS.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                    f"sampler_steps_{name}.json")
    results = json.load(open(out)) if os.path.exists(out) else {}
    if results.get("export") not in (None, os.path.abspath(version_dir)):
        raise app.UsageError(f"{out} holds rows of {results['export']}: pass another --out")
    command = ["python", "benchmarks/diffusion_samplers.py", f"--export={FLAGS.export}",
               f"--steps={','.join(FLAGS.steps)}", f"--num_samples={FLAGS.num_samples}"]
    results.update(export=os.path.abspath(version_dir), name=name, machine=common.machine(), command=" ".join(command),
                   num_samples=FLAGS.num_samples, reference_examples=FLAGS.reference_examples, split="test",
                   feature_network="zoo's shipped Fashion-MNIST classifier", rows=results.get("rows", []))
    done = {(row["order"], row["steps"]) for row in results["rows"]}
    for order in orders:
        for steps in [int(s) for s in FLAGS.steps]:
            if (order, steps) in done:
                continue
            started = time.perf_counter()
            record = evaluate_export(version_dir, info["dataset"], "test", FLAGS.num_samples, None,
                                     reference_examples=FLAGS.reference_examples, data_dir=FLAGS.data_dir,
                                     data_options=info.get("data_options"),
                                     parameters={STEPS: steps, ORDER: order})
            metrics = cards.metrics_of(record)  # The numbers a model card shows, by the same code.
            row = {"order": order, "sampler": {1: "ddim", 2: "dpm_solver++_2m"}.get(order, str(order)),
                   "steps": steps, **metrics, "eval_seconds": round(time.perf_counter() - started, 1),
                   "seconds_per_64": round(_seconds(version_dir, signature, steps, order), 3),
                   "date": time.strftime("%Y-%m-%d")}
            results["rows"].append(row)
            print(f"{name} {row['sampler']} {steps} steps: FID {row.get('fid', float('nan')):.2f}, "
                  f"{row['seconds_per_64']:.2f} s per 64 images", flush=True)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "w") as f:
                json.dump(results, f, indent=1)
                f.write("\n")
    if FLAGS.timing_rounds and not results.get("timing"):
        from zoo.export import trust

        function = trust.load(version_dir).signatures[signature.name]
        best = {}
        for _ in range(FLAGS.timing_rounds):  # Interleaved: every row sees the same load.
            for row in results["rows"]:
                seconds = _seconds(version_dir, signature, row["steps"], row["order"], function=function)
                best[(row["order"], row["steps"])] = min(seconds, best.get((row["order"], row["steps"]), seconds))
        for row in results["rows"]:
            row["seconds_during_eval"] = row["seconds_per_64"]
            row["seconds_per_64"] = round(best[(row["order"], row["steps"])], 3)
        results["timing"] = (f"seconds per 64 images: the best of {FLAGS.timing_rounds} interleaved rounds of one call "
                             "per row after every row's FID was measured (seconds_during_eval: one call beside its FID)")
    reference = next((row for row in results["rows"] if row["order"] == 1 and row["steps"] == FLAGS.reference_steps),
                     None)
    if reference is not None:
        good = [row for row in results["rows"] if row["fid"] <= reference["fid"] * (1 + FLAGS.within)]
        choice = min(good, key=lambda row: (row["steps"], row["seconds_per_64"]))
        results["choice"] = {"order": choice["order"], "sampler": choice["sampler"], "steps": choice["steps"],
                             "fid": choice["fid"], "reference_fid": reference["fid"], "within": FLAGS.within,
                             "rule": f"fewest steps with FID <= {1 + FLAGS.within:g} x DDIM at {FLAGS.reference_steps}"}
        print(f"choice: {choice['sampler']} at {choice['steps']} steps (FID {choice['fid']:.2f} vs DDIM "
              f"{FLAGS.reference_steps} steps {reference['fid']:.2f})", flush=True)
        with open(out, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    flags.mark_flag_as_required("export")
    app.run(main)
