"""Serving latency and throughput of a generator: loopback gRPC and REST against direct signature calls.

    python benchmarks/serving_latency.py [--config=dcgan_fashion_mnist] [--requests=200] [--rounds=2]

The generator is the config's full-size network (its weights do not change the cost, so it is
exported untrained unless --export names an export). Three paths, each timed per request from
one client, sequentially, batch 1 and batch 64 seeds:
- direct: `loaded.signatures["serving_default"](seed=...)` in this process (the floor);
- grpc: zoo.serving.GrpcClient -> the local stand-in server (zoo.serving.local_server, TF's
  SavedModel loader behind tensorflow-serving-api's PredictionService) in a second process on
  127.0.0.1: request/response protos, the loopback socket, and the server's Python handler;
- rest: zoo.serving.RestClient (columnar JSON) -> the same server's REST port.
The paths are interleaved over --rounds in one script (this machine is shared and noisy), and
each is reported as p50/p99 latency and images/s, and as a ratio to direct at the same batch.
The stand-in's handler is Python; tensorflow_model_server's is C++, so the overhead measured here
bounds the real server's from above. Results: benchmarks/results/serving_latency.json.
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402


import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_string("config", "dcgan_fashion_mnist", "Config whose generator is served.")
flags.DEFINE_string("export", None, "An existing model directory to serve instead (exports/<name>).")
flags.DEFINE_integer("requests", 200, "Timed requests per path, batch and round.")
flags.DEFINE_integer("warmup", 20, "Untimed requests per path and batch before the first round.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.")
flags.DEFINE_list("batches", ["1", "64"], "Seeds per request.")
flags.DEFINE_string("out", os.path.join(os.path.dirname(__file__), "results", "serving_latency.json"), "JSON path.")
FLAGS = flags.FLAGS


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _export(root):
    """Exports the config's untrained generator into `root`; returns the model name."""
    from zoo import config as config_lib
    from zoo import export, registry
    from zoo.data import DataSpec

    config = config_lib.load(FLAGS.config)
    model = registry.get(config.model)(config.model_config, DataSpec("images", image_shape=(28, 28, 1), num_classes=10))
    model.build_for_training()
    export.export_model(model, root, "model")
    return "model"


def _start_server(root):
    grpc_port, rest_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo.serving.local_server", root, f"--grpc_port={grpc_port}", f"--rest_port={rest_port}",
         "--preload"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ready = 0
    while ready < 2:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the local server exited before serving")
        ready += bool(re.match(r"serving (grpc|rest) on", line))
    return process, grpc_port, rest_port


def _timed(call, batch, count):
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        call(batch)
        latencies.append(time.perf_counter() - started)
    return latencies


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf

    from zoo import serving

    root = tempfile.mkdtemp(prefix="zoo-serving-bench-")
    if FLAGS.export:
        name = os.path.basename(os.path.normpath(FLAGS.export))
        os.symlink(os.path.abspath(FLAGS.export), os.path.join(root, name))
    else:
        name = _export(root)
    version_dir = os.path.join(root, name, str(max(int(v) for v in os.listdir(os.path.join(root, name)) if v.isdigit())))
    signature = tf.saved_model.load(version_dir).signatures["serving_default"]
    if sorted(signature.structured_input_signature[1]) != ["seed"]:
        raise SystemExit(f"{version_dir}: this benchmark serves unconditional generators (seed -> images)")
    process, grpc_port, rest_port = _start_server(root)
    try:
        grpc_client = serving.connect(f"127.0.0.1:{grpc_port}", name, "grpc")
        rest_client = serving.connect(f"127.0.0.1:{rest_port}", name, "rest")
        batches = [int(batch) for batch in FLAGS.batches]
        seeds = {batch: np.arange(batch, dtype=np.int64) for batch in batches}
        paths = {
            "direct": lambda batch: signature(seed=tf.constant(seeds[batch]))["images"].numpy(),
            "grpc": lambda batch: grpc_client.predict({"seed": seeds[batch]})["images"],
            "rest": lambda batch: rest_client.predict({"seed": seeds[batch]})["images"],
        }
        for batch in batches:  # Same images on every path, and warm-up.
            reference = paths["direct"](batch)
            for path, call in paths.items():
                np.testing.assert_array_equal(call(batch), reference, err_msg=path)
                _timed(call, batch, FLAGS.warmup)
        latencies = {(path, batch): [] for path in paths for batch in batches}
        for round_index in range(FLAGS.rounds):
            for batch in batches:
                for path, call in paths.items():
                    latencies[path, batch] += _timed(call, batch, FLAGS.requests)
                    values = latencies[path, batch]
                    print(f"round {round_index + 1}/{FLAGS.rounds} batch {batch:3d} {path:6s}: "
                          f"p50 {np.percentile(values, 50) * 1e3:.2f} ms", flush=True)
        grpc_client.close()
    finally:
        process.terminate()
        process.wait(timeout=30)

    rows = []
    for batch in batches:
        direct_p50 = np.percentile(latencies["direct", batch], 50)
        for path in paths:
            values = np.asarray(latencies[path, batch])
            rows.append({"path": path, "batch": batch, "requests": len(values),
                         "p50_ms": float(np.percentile(values, 50) * 1e3), "p99_ms": float(np.percentile(values, 99) * 1e3),
                         "images_per_second": float(batch * len(values) / values.sum()),
                         "p50_ratio_to_direct": float(np.percentile(values, 50) / direct_p50)})
    result = {"command": "python benchmarks/serving_latency.py" + (f" --config={FLAGS.config}" if FLAGS.config !=
                                                                     "dcgan_fashion_mnist" else "")
                         + (f" --requests={FLAGS.requests}" if FLAGS.requests != 200 else ""),
              "model": FLAGS.export or f"{FLAGS.config} generator (untrained weights)",
              "machine": common.machine(), "date": time.strftime("%Y-%m-%d"), "rounds": FLAGS.rounds,
              "load_average": os.getloadavg()[0], "rows": rows}
    os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
    for row in rows:
        print(f"{row['path']:6s} batch {row['batch']:3d}: p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
              f"{row['images_per_second']:.0f} images/s, p50 x{row['p50_ratio_to_direct']:.2f} of direct")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
