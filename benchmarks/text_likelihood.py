"""Bits per byte of a text model on held-out text at a fixed wall-clock budget, and samples.

    python benchmarks/text_likelihood.py --config=gpt_fortunes [--minutes=9]
    python benchmarks/text_likelihood.py --config=char_lstm_fortunes [--minutes=9]

Trains the config from scratch for `--minutes` of wall-clock time (the trainer's
max_train_seconds), exports it, and measures everything through the SavedModel alone:
- test bits per byte: the `log_likelihood` signature over the whole held-out split as one string
  (for fortunes every 10th fortune, see zoo.data.text), -sum(log p) / num_tokens / ln 2;
- the same over the first as many bytes of the training split (the gap shows overfitting);
- `--num_samples` samples of 200 bytes from `serving_default` (fixed prompts and seeds), and the
  wall-clock time of one 200-byte generation after a warm-up call.
Writes benchmarks/results/text_<config>.json. The machine's load average at the start and end is
recorded beside the row, because the budget is wall clock and other work slows it.
"""

import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_string("config", "gpt_fortunes", "Config name in experiments/configs.")
flags.DEFINE_float("minutes", 9.0, "Wall-clock training budget.")
flags.DEFINE_multi_string("set", [], "Config overrides key=value (recorded in the result).")
flags.DEFINE_integer("num_samples", 3, "Samples recorded in the row (prompts from PROMPTS, in order).")
flags.DEFINE_float("temperature", 0.8, "Sampling temperature of the recorded samples.")
flags.DEFINE_integer("top_k", 0, "top_k of the recorded samples (0: no filtering).")
flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "benchmarks"), "Where the runs go (replaced).")
FLAGS = flags.FLAGS

PROMPTS = ("Computers ", "Love is ", "Q: Why did the ")
SAMPLE_BYTES = 200


def bits_per_byte(log_likelihood, data):
    """-log2 p per predicted byte of `data` (one string: every byte after the first is predicted)."""
    import tensorflow as tf

    scores = log_likelihood(text=tf.constant([data]))
    total, count = float(scores["log_likelihood"].numpy()[0]), int(scores["num_tokens"].numpy()[0])
    return -total / count / math.log(2.0), count


def generate(serving, prompt, seed):
    """One sample: a one-row request (the signature takes one value per row of each input)."""
    import tensorflow as tf

    return serving(prompt=tf.constant([prompt]), max_new_tokens=tf.constant([SAMPLE_BYTES], tf.int64),
                   temperature=tf.constant([FLAGS.temperature], tf.float32),
                   top_k=tf.constant([FLAGS.top_k], tf.int64), seed=tf.constant([seed], tf.int64))["text"].numpy()[0]


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines about the export drown the results.
    import tensorflow as tf

    from zoo import train
    from zoo.data import text

    load_at_start = os.getloadavg()
    config, name, workdir, result = common.train_from_scratch(FLAGS.config, FLAGS.set, FLAGS.workdir,
                                                              minutes=FLAGS.minutes, checkpoint_every=2000)
    load_after_training = os.getloadavg()

    loaded = tf.saved_model.load(result.export_path)
    test_data, test_origin = text.load_bytes(config.dataset, "test", config.get("data_dir"))
    train_data, _ = text.load_bytes(config.dataset, "train", config.get("data_dir"))
    started = time.time()
    test_bpb, test_count = bits_per_byte(loaded.signatures["log_likelihood"], test_data)
    scoring_seconds = time.time() - started
    train_bpb, train_count = bits_per_byte(loaded.signatures["log_likelihood"], train_data[:len(test_data)])

    serving = loaded.signatures["serving_default"]
    generate(serving, PROMPTS[0], 0)  # Warm-up: the first call builds the kernels.
    started = time.time()
    generate(serving, PROMPTS[0], 1)
    generation_seconds = time.time() - started
    samples = []
    for index in range(FLAGS.num_samples):
        prompt = PROMPTS[index % len(PROMPTS)]
        output = generate(serving, prompt, index)
        samples.append({"prompt": prompt, "seed": index, "text": output.decode("utf-8", errors="replace")})

    options = "".join(f" --set={override}" for override in FLAGS.set)
    row = {
        "name": name,
        "model": config.model,
        "command": f"python benchmarks/text_likelihood.py --config={FLAGS.config} --minutes={FLAGS.minutes:g}{options}",
        "dataset": config.dataset,
        "budget_minutes": FLAGS.minutes,
        "steps": result.step,
        "seconds": round(result.step / result.steps_per_second, 1) if result.steps_per_second else None,
        "batch_size": config.batch_size,
        "sequence_length": config.sequence_length,
        "parameters": int(sum(math.prod(v.shape) for v in train.restore_model(workdir)[0].network.trainable_variables)),
        "training_bytes_per_second": round(result.images_per_second * config.sequence_length, 1),
        "final_training_bits_per_byte": result.losses.get("bits_per_byte"),
        "test_bits_per_byte": round(test_bpb, 4),
        "test_bytes_scored": test_count,
        "split": "test",
        "test_split": test_origin,
        "train_data": common.training_data(config),
        "train_slice_bits_per_byte": round(train_bpb, 4),
        "train_slice_bytes_scored": train_count,
        "scoring_seconds": round(scoring_seconds, 1),
        "generation_seconds_200_bytes": round(generation_seconds, 2),
        "sampling": {"temperature": FLAGS.temperature, "top_k": FLAGS.top_k, "max_new_tokens": SAMPLE_BYTES},
        "samples": samples,
        "load_average_1m": {"start": round(load_at_start[0], 2), "after_training": round(load_after_training[0], 2)},
        "date": time.strftime("%Y-%m-%d"),
        "machine": common.machine(),
    }
    out = os.path.join(ROOT, "benchmarks", "results", f"text_{name.replace('/', '_')}.json")
    with open(out, "w") as f:
        json.dump(row, f, indent=2, ensure_ascii=False)
    print(f"{name}: {result.step} steps in {row['seconds']}s; test {test_bpb:.3f} bits/byte "
          f"(train slice {train_bpb:.3f}); 200 bytes in {generation_seconds:.2f}s -> {out}", flush=True)


if __name__ == "__main__":
    app.run(main)
