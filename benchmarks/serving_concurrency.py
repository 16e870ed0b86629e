"""Serving under concurrency: many one-image clients through request batching vs direct batch calls.

    python benchmarks/serving_concurrency.py [--exports=exports/dcgan_fashion_mnist,exports/ddpm_fashion_mnist]
        [--clients=16] [--requests=8] [--direct_batch=64] [--rounds=2]

For each export (its latest version), three ways of producing images, interleaved over --rounds
in one script (the machine is shared and noisy, so only ratios measured in the same run mean
anything):
- direct: batches of --direct_batch rows through the signature in this process, loaded as TF
  Serving loads it (the graph-mode session loader, zoo.serving.local_models): the throughput a
  server cannot beat;
- batched: --clients threads, each sending one-row gRPC Predict requests back to back
  (--requests each), to the stand-in server in a second process started as a deployment would
  run it: `python -m zoo.serving.local_server ROOT --enable_batching`, reading the
  batching_parameters.txt that zoo-export writes beside the exports;
- unbatched: the same clients against the same server without --enable_batching;
- ceiling: direct calls of --clients rows each, the largest batch that --clients one-row clients
  can ever form (each has one request in flight): what a server with no overhead of its own could
  reach; on a CPU whose kernels run a batch of 16 less efficiently than one of 64, it is below
  direct, and batched can only approach it.
Requests are built from what the export declares (zoo.contract: every input's example row; the
input with the seed role, if any, gets a distinct seed per request), so any export works.
Reported: images/s, p50/p99 request latency, each path's images/s as a fraction of direct, and
batched's as a fraction of the ceiling.
Results: benchmarks/results/serving_concurrency.json.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402  (benchmarks/common.py: the machine line)
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

flags.DEFINE_list("exports", ["exports/dcgan_fashion_mnist", "exports/ddpm_fashion_mnist"],
                  "Model directories (exports/<name>) to serve; each is measured at its latest version.")
flags.DEFINE_string("signature", "serving_default", "Signature to call.")
flags.DEFINE_integer("clients", 16, "Concurrent one-row clients.")
flags.DEFINE_integer("requests", 8, "Requests per client per round.")
flags.DEFINE_integer("direct_batch", 64, "Rows per direct call.")
flags.DEFINE_integer("direct_calls", 0, "Direct calls per round (0: as many rows as the clients send).")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.")
flags.DEFINE_string("batching_parameters", None, "Batching parameters file (default: the one beside the exports).")
flags.DEFINE_string("out", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                        "serving_concurrency.json"), "JSON path.")
FLAGS = flags.FLAGS


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _requests(version_dir, signature_name, rows, first_seed):
    """A request of `rows` rows built from the export's declaration; seeds first_seed, first_seed+1, ..."""
    from zoo import contract

    interface = contract.from_export(version_dir)
    signature = interface.signature(signature_name)
    inputs = signature.example_request(rows)
    seed = signature.input_with("seed")
    if seed is not None:
        inputs[seed.name] = np.arange(first_seed, first_seed + rows, dtype=seed.numpy_dtype())
    return inputs


class _Server:
    """The stand-in server in a subprocess over `root`, with or without batching."""

    def __init__(self, root, batching, parameters):
        self.port = _free_port()
        command = [sys.executable, "-m", "zoo.serving.local_server", root, f"--grpc_port={self.port}",
                   "--rest_port=-1", "--preload"]
        if batching:
            command.append("--enable_batching")
            if parameters:
                command.append(f"--batching_parameters_file={parameters}")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.banner = []
        while True:  # It prints its ports (and batching options) once it answers.
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited: {' '.join(self.banner)}")
            self.banner.append(line.strip())
            if line.startswith("serving grpc") and (not batching or any(b.startswith("batching") for b in self.banner)):
                break
            if line.startswith("batching") and any(b.startswith("serving grpc") for b in self.banner):
                break

    def stop(self):
        self.process.terminate()
        self.process.wait(30)


def _clients(port, name, version_dir, signature_name, clients, requests, seed_base):
    """`clients` threads of `requests` one-row requests each; (seconds, [latency seconds])."""
    from zoo import serving

    connections = [serving.connect(f"127.0.0.1:{port}", name) for _ in range(clients)]
    bodies = [[_requests(version_dir, signature_name, 1, seed_base + c * requests + r) for r in range(requests)]
              for c in range(clients)]
    for client in connections:  # Channels up before the clock starts.
        client.predict(bodies[0][0], signature=signature_name)
    latencies, errors = [], []
    start_barrier = threading.Barrier(clients + 1)

    def run(client, mine):
        start_barrier.wait()
        for body in mine:
            started = time.perf_counter()
            try:
                client.predict(body, signature=signature_name)
            except Exception as error:  # noqa: BLE001 - reported below, the run is invalid
                errors.append(error)
                return
            latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=run, args=(client, mine)) for client, mine in zip(connections, bodies)]
    for thread in threads:
        thread.start()
    start_barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    for client in connections:
        client.close()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    return seconds, latencies


def _direct(models, name, version_dir, signature_name, batch, calls, seed_base):
    bodies = [_requests(version_dir, signature_name, batch, seed_base + i * batch) for i in range(calls)]
    latencies = []
    started = time.perf_counter()
    for body in bodies:
        begin = time.perf_counter()
        models.predict(name, body, signature_name=signature_name)
        latencies.append(time.perf_counter() - begin)
    return time.perf_counter() - started, latencies


def _summary(images, seconds, latencies):
    return {"images": images, "seconds": round(seconds, 3), "images_per_s": round(images / seconds, 2),
            "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
            "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 1), "requests": len(latencies)}


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from zoo.export import serving_config
    from zoo.export.saved_model import list_versions
    from zoo.serving import batching, local_models

    root = tempfile.mkdtemp(prefix="zoo-serving-concurrency-")
    models_dirs = {}
    for path in FLAGS.exports:
        path = os.path.abspath(path.rstrip("/"))
        versions = list_versions(path)
        if not versions:
            raise app.UsageError(f"--exports: {path} holds no export version")
        name = os.path.basename(path)
        os.makedirs(os.path.join(root, name))
        os.symlink(os.path.join(path, str(versions[-1])), os.path.join(root, name, str(versions[-1])))
        models_dirs[name] = os.path.join(path, str(versions[-1]))
    parameters = FLAGS.batching_parameters or os.path.join(os.path.dirname(os.path.abspath(FLAGS.exports[0].rstrip("/"))),
                                                           serving_config.BATCHING_FILE)
    if not os.path.exists(parameters):
        parameters = None
    options = batching.options_for(root, parameters)
    direct_models = local_models.LocalModels(root, preload=True)
    command = ["python", "benchmarks/serving_concurrency.py", f"--exports={','.join(FLAGS.exports)}",
               f"--clients={FLAGS.clients}", f"--requests={FLAGS.requests}", f"--direct_batch={FLAGS.direct_batch}",
               f"--rounds={FLAGS.rounds}"]
    results = {"date": time.strftime("%Y-%m-%d"), "machine": common.machine(), "command": " ".join(command),
               "load_average_1m": {"start": os.getloadavg()[0]},
               "clients": FLAGS.clients, "requests_per_client": FLAGS.requests, "direct_batch": FLAGS.direct_batch,
               "rounds": FLAGS.rounds, "signature": FLAGS.signature, "batching": options._asdict(),
               "batching_file": parameters, "models": {}}
    rows = FLAGS.clients * FLAGS.requests
    calls = FLAGS.direct_calls or max(1, rows // FLAGS.direct_batch)
    try:
        servers = {"batched": _Server(root, True, parameters), "unbatched": _Server(root, False, None)}
        print(f"batching: {options.describe()} ({parameters or 'TF Serving defaults'})", flush=True)
        for name, version_dir in models_dirs.items():
            # Warm-up: kernels, first batch sizes, client channels.
            _direct(direct_models, name, version_dir, FLAGS.signature, FLAGS.direct_batch, 1, 10**6)
            for server in servers.values():
                _clients(server.port, name, version_dir, FLAGS.signature, FLAGS.clients, 1, 10**6)
            _direct(direct_models, name, version_dir, FLAGS.signature, FLAGS.clients, 1, 10**6)
            timings = {"direct": [], "ceiling": [], "batched": [], "unbatched": []}
            for round_ in range(FLAGS.rounds):
                base = round_ * 10**5
                timings["direct"].append(_direct(direct_models, name, version_dir, FLAGS.signature,
                                                 FLAGS.direct_batch, calls, base))
                timings["ceiling"].append(_direct(direct_models, name, version_dir, FLAGS.signature,
                                                  FLAGS.clients, FLAGS.requests, base))
                for path, server in servers.items():
                    timings[path].append(_clients(server.port, name, version_dir, FLAGS.signature,
                                                  FLAGS.clients, FLAGS.requests, base))
            record = {}
            for path, runs in timings.items():
                images = (calls * FLAGS.direct_batch if path == "direct" else rows) * len(runs)
                record[path] = _summary(images, sum(s for s, _ in runs), [t for _, l in runs for t in l])
            for path in ("ceiling", "batched", "unbatched"):
                record[path]["fraction_of_direct"] = round(record[path]["images_per_s"] / record["direct"]["images_per_s"], 3)
            record["batched"]["fraction_of_ceiling"] = round(record["batched"]["images_per_s"] /
                                                             record["ceiling"]["images_per_s"], 3)
            results["models"][name] = record
            print(f"{name}: direct batch {FLAGS.direct_batch} {record['direct']['images_per_s']:.1f} img/s, "
                  f"batch {FLAGS.clients} {record['ceiling']['images_per_s']:.1f} img/s "
                  f"({100 * record['ceiling']['fraction_of_direct']:.0f}%, the ceiling); "
                  f"{FLAGS.clients} one-image clients batched {record['batched']['images_per_s']:.1f} img/s "
                  f"({100 * record['batched']['fraction_of_direct']:.0f}%, p50 {record['batched']['p50_ms']:.0f} ms, "
                  f"p99 {record['batched']['p99_ms']:.0f} ms), unbatched {record['unbatched']['images_per_s']:.1f} img/s "
                  f"({100 * record['unbatched']['fraction_of_direct']:.0f}%, p50 {record['unbatched']['p50_ms']:.0f} ms, "
                  f"p99 {record['unbatched']['p99_ms']:.0f} ms)", flush=True)
    finally:
        for server in locals().get("servers", {}).values():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    results["load_average_1m"]["end"] = os.getloadavg()[0]
    os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
