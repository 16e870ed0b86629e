"""Text generation speed of the shipped text exports: the definition's decoding against the cached one.

    python benchmarks/text_generation.py [--exports=gpt_fortunes,char_lstm_fortunes] [--new_bytes=200,100] [--repeats=3]

For each export (its newest shipped version, or --version), two SavedModels are called through
`serving_default`:
- before: the export's weights exported with `reference_decoding=True`, the decoding every text
  export shipped before the cache (version 1 of both): one row after another, the network run over
  the whole window for every byte. The model of the export's config is built fresh, its variables
  are restored from the export as `zoo-train --init_from=<export>` restores them
  (zoo.train.transfer), and zoo.export.export_model writes it into a temporary directory; nothing
  under exports/ changes;
- after: the shipped export as it is (zoo.models.language: a key/value cache for the GPT, the
  carried LSTM state, all rows at once).
Each is timed on one prompt and on a batch of --batch prompts (PROMPTS, seeds 0..batch-1), each
generating --new_bytes bytes at temperature 0.8, top_k 0: 200 bytes run past the 128-byte context
of the shipped models (where the window slides and the GPT's cache cannot be reused: its position
embeddings are absolute, so every byte past the context runs the whole window again, in both), 100
stay inside it for every prompt; one warm-up call of each first, then --repeats timed calls
alternating before and after (the ratio of the two in one run is the result; the best call of each
is kept). Each row records whether both returned the same bytes and, for a text that differs, the
first new byte where it does: the two compute the same float32 logits in different orders, so a
draw within rounding of the boundary between two bytes may pick the other one (and the rest of
that text then differs).
Writes benchmarks/results/text_generation.json.
"""

import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_list("exports", ["gpt_fortunes", "char_lstm_fortunes"], "Shipped text exports (names under exports/).")
flags.DEFINE_integer("version", None, "Version of each export (default: its newest under exports/).")
flags.DEFINE_list("new_bytes", ["200", "100"], "max_new_tokens of every row, one measurement each.")
flags.DEFINE_integer("batch", 16, "Rows of the batched request.")
flags.DEFINE_integer("repeats", 3, "Timed calls of each export and batch (after one warm-up call).")
flags.DEFINE_string("out", os.path.join(ROOT, "benchmarks", "results", "text_generation.json"), "Result file.")
FLAGS = flags.FLAGS

# Short prompts of different lengths, as a playground or a client would send them.
PROMPTS = ("Computers ", "Love is ", "Q: Why did the ", "The ", "A man ", "It is ", "You will ", "Never ",
           "Q: What do you call ", "In the beginning ", "There was ", "My ", "Life ", "If ", "All ", "Why ")
TEMPERATURE = 0.8


def reexport(version_dir, workdir, reference_decoding):
    """The export's weights in a freshly built model, exported with today's signatures; its path."""
    from zoo import config as config_lib
    from zoo import export, registry
    from zoo.data import DataSpec
    from zoo.train import transfer

    with open(os.path.join(version_dir, "assets.extra", "zoo_export.json")) as f:
        record = json.load(f)
    config = config_lib.load(config_lib.default_config_name(record["model"], record["dataset"]))
    config.init_from = version_dir
    spec = DataSpec("text", sequence_length=record["sequence_length"], vocabulary_size=record["vocabulary_size"])
    model = registry.get(config.model)(config.model_config, spec)
    model.build_for_training()
    print(f"{record['name']}: {transfer.warm_start(model, config)}", flush=True)
    model.reference_decoding = reference_decoding  # Read when the signatures are traced.
    info = {key: record[key] for key in ("model", "dataset", "data_options", "step", "config") if key in record}
    return export.export_model(model, workdir, record["name"], info, version=1, serving_files=False)


def call(serving, rows, new_bytes):
    import tensorflow as tf

    prompts = [PROMPTS[index % len(PROMPTS)] for index in range(rows)]
    started = time.perf_counter()
    texts = serving(prompt=tf.constant(prompts), max_new_tokens=tf.constant([new_bytes] * rows, tf.int64),
                    temperature=tf.constant([TEMPERATURE] * rows, tf.float32), top_k=tf.constant([0] * rows, tf.int64),
                    seed=tf.constant(list(range(rows)), tf.int64))["text"].numpy().tolist()
    return time.perf_counter() - started, texts


def differences(texts, rows):
    """[{row, prompt, seed, first new byte that differs}] between the before and after texts."""
    found = []
    for index, (before, after) in enumerate(zip(texts["before"], texts["after"])):
        if before != after:
            first = next(position for position, (a, b) in enumerate(zip(before, after)) if a != b)
            prompt = PROMPTS[index % len(PROMPTS)]
            found.append({"row": index, "prompt": prompt, "seed": index, "new_byte": first - len(prompt.encode())})
    return found


def measure(name, workdir):
    import tensorflow as tf

    version = FLAGS.version or max(int(entry) for entry in os.listdir(os.path.join(ROOT, "exports", name))
                                   if entry.isdigit())
    shipped = os.path.join(ROOT, "exports", name, str(version))
    paths = {"before": reexport(shipped, workdir, reference_decoding=True), "after": shipped}
    servings = {key: tf.saved_model.load(path).signatures["serving_default"] for key, path in paths.items()}
    rows = []
    for new_bytes, batch in ((int(value), batch) for value in FLAGS.new_bytes for batch in (1, FLAGS.batch)):
        texts, seconds = {}, {key: [] for key in servings}
        for key, serving in servings.items():
            _, texts[key] = call(serving, batch, new_bytes)  # Warm-up.
        for _ in range(FLAGS.repeats):
            for key, serving in servings.items():
                elapsed, again = call(serving, batch, new_bytes)
                assert again == texts[key], f"{name} {key}: the same request gave other bytes"
                seconds[key].append(elapsed)
        row = {"export": f"{name}/{version}", "prompts": batch, "new_bytes": new_bytes,
               "same_bytes": texts["before"] == texts["after"], "differences": differences(texts, batch)}
        for key in servings:
            best = min(seconds[key])
            row[key] = {"seconds": round(best, 4), "bytes_per_second": round(batch * new_bytes / best, 1),
                        "all_seconds": [round(value, 4) for value in seconds[key]]}
        row["speedup"] = round(row["before"]["seconds"] / row["after"]["seconds"], 2)
        print(f"{name}, {batch} prompt(s) x {new_bytes} bytes: before {row['before']['bytes_per_second']:.0f} "
              f"bytes/s, after {row['after']['bytes_per_second']:.0f} bytes/s ({row['speedup']:.2f}x), same bytes: "
              f"{batch - len(row['differences'])} of {batch} texts", flush=True)
        rows.append(row)
    return rows


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    load_at_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="text_generation_") as workdir:
        for name in FLAGS.exports:
            rows += measure(name, workdir)
    flags_text = "".join(f" --{key}={value}" for key, value in (
        ("new_bytes", ",".join(FLAGS.new_bytes)), ("batch", FLAGS.batch), ("repeats", FLAGS.repeats)))
    result = {
        "command": f"python benchmarks/text_generation.py --exports={','.join(FLAGS.exports)}{flags_text}",
        "compared": ("before is the shipped weights exported with the definition's decoding (reference_decoding: "
                     "one row at a time, the whole window per byte, as version 1 of both exports decoded), after the "
                     "shipped export as it is (cached decoding, all rows at once)"),
        "prompts": list(PROMPTS[:FLAGS.batch]),
        "sampling": {"temperature": TEMPERATURE, "top_k": 0, "seeds": f"0..{FLAGS.batch - 1}"},
        "rows": rows,
        "load_average_1m": {"start": round(load_at_start[0], 2), "end": round(os.getloadavg()[0], 2)},
        "date": time.strftime("%Y-%m-%d"),
        "machine": common.machine(),
        "machine_id": common.machine_id(),
    }
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"-> {FLAGS.out}", flush=True)


if __name__ == "__main__":
    app.run(main)
