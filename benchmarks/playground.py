"""The playground (zoo-play) as a user meets it: time from start to the first image, and the latency
of one request per kind of export through the UI against the same call on the SavedModel.

    python -m benchmarks.playground [--requests=20] [--warmup=2] [--starts=3] [--count=1] [--note=...]

(from the repository root, with the venv's python; `python benchmarks/playground.py`
is the same). zoo is imported as a user imports it: nothing here edits sys.path.

1. Time to first image. `zoo-play --exports=exports --runs=runs --keep_dir=runs/kept` (make play's
   command line, plus a free --port) is started from the venv's bin/ as a subprocess, in a new empty
   folder whose `exports/` holds the repository's shipped exports (each model's newest version,
   pinned for the run) and which has no runs/, as on a fresh clone; the backend is zoo-play's
   default, the SavedModels in its process. Wall time from starting the process to: its "zoo-play:"
   line (exports listed and checked, the app built); the page answering (GET / is 200);
   gradio_client connected (the app's config and API read); and the first images returned through
   the UI API: the "Generate" of the page's first tab (the open panel of the first usable export,
   sorted by name as the tabs are) with every widget at its default (so its default grid count),
   which loads that SavedModel on first use. --starts fresh processes. Setup (`make setup`, pip
   install) is not timed: it depends on the network and the package cache.
2. Latency per kind. Every panel the page shows (one per distinct signature of each export) has a
   kind: the input roles its export declares (zoo.contract) and its main output role. For each kind,
   the first panel of that kind in page order is called through gradio_client (widgets at their
   defaults, --count rows for seed and latent panels, the declared example image uploaded as a PNG
   where an image goes in), each call next to the same request made directly on the signature
   (`tf.saved_model.load` in this process, inputs built here from the same values, latents
   precomputed): --warmup untimed pairs per kind (at least one), then --requests rounds of one
   timed pair per kind, so that every kind sees the same machine load (this machine is shared and
   its load moves within minutes). The first call of each kind checks that the UI
   returned what the signature returns (the images pixel for pixel, the text, the score, the
   values). Streamed text (a declared prefix parameter) is timed to its last update and to its
   first. Reported: p50 and p90 of each path; UI p50 / direct p50, the number that survives a
   loaded machine; the p50 of the paired differences (each UI request minus the direct one next to
   it: what the UI adds); and the backend time the UI itself reports ("last request: N ms", the
   model call inside zoo-play's process), so the rest is Gradio, the handler and the transport.
Results: benchmarks/results/playground.json (rendered into docs/benchmarks.md by make_table.py).
"""

import json
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

USER_ENVIRONMENT = dict(os.environ)  # What zoo-play is started with (before this script's own settings).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
LATENCY_MARKDOWN = re.compile(r"last request: (\d+) ms")
PLAY_COMMAND = ["zoo-play", "--exports=exports", "--runs=runs", "--keep_dir=runs/kept"]  # make play's.


def define_flags():
    """The flags (defined only when run as a script, so importing this module defines none)."""
    flags.DEFINE_string("exports", os.path.join(ROOT, "exports"), "The shipped exports the playground lists.")
    flags.DEFINE_integer("requests", 20, "Timed requests per kind and path (UI, direct).")
    flags.DEFINE_integer("warmup", 2, "Untimed requests per kind and path before the timed ones (at least 1).")
    flags.DEFINE_integer("starts", 3, "Fresh zoo-play processes timed to their first image.")
    flags.DEFINE_integer("count", 1, "Rows per request of seed and latent panels in the latency part (the page's "
                         "own default, 16 for image grids, is what the first-image request uses).")
    flags.DEFINE_float("start_timeout", 600.0, "Seconds a start may take to its first image.")
    flags.DEFINE_string("note", "", "What else ran on the machine (recorded verbatim).")
    flags.DEFINE_string("out", os.path.join(ROOT, "benchmarks", "results", "playground.json"), "JSON path.")


# Summaries -------------------------------------------------------------------------------------

def summarize(seconds):
    """{n, p50_ms, p90_ms, min_ms, max_ms} of durations in seconds (percentiles interpolated linearly
    between order statistics, numpy's default)."""
    values = np.asarray(seconds, np.float64) * 1e3
    if values.size == 0:
        raise ValueError("no durations to summarize")
    return {"n": int(values.size), "p50_ms": float(np.percentile(values, 50)), "p90_ms": float(np.percentile(values, 90)),
            "min_ms": float(values.min()), "max_ms": float(values.max())}


def median(values):
    return float(np.percentile(np.asarray(values, np.float64), 50))


# What the page shows -----------------------------------------------------------------------------

def kind_of(signature):
    """(key, label) of a signature's kind: its declared input roles (in zoo.contract's order) and its
    main output role (images, text or log_likelihood; else every output role)."""
    from zoo import contract

    roles = [role for role in contract.INPUT_ROLES if role in signature.roles()]
    main = next((role for role in (contract.IMAGES, contract.TEXT, contract.LOG_LIKELIHOOD)
                 if signature.output_with(role) is not None), None)
    output = main or ", ".join(sorted(set(signature.outputs.values())))
    return (tuple(roles), output), " + ".join(roles) + " -> " + output


def pinned_exports(source, target):
    """Links the newest version of every model directory under `source` into `target/<name>/<version>`
    (so versions shipped while this runs change nothing); returns {name: version directory}."""
    from zoo.export import saved_model

    pinned = {}
    for name in sorted(os.listdir(source)):
        versions = saved_model.list_versions(os.path.join(source, name))
        if not versions:
            continue
        version_dir = os.path.join(source, name, str(versions[-1]))
        os.makedirs(os.path.join(target, name))
        os.symlink(os.path.realpath(version_dir), os.path.join(target, name, str(versions[-1])))
        pinned[name] = version_dir
    return pinned


def panels(entries):
    """[(entry, signature)] in page order: the usable exports by name (the tabs), each one's distinct
    signatures with serving_default first (its panels)."""
    from zoo.play import handlers

    return [(entry, signature) for entry in entries if not entry.error
            for signature, _ in handlers.describe_signatures(entry.interface)]


def endpoint(entry, signature):
    from zoo.play import handlers

    return f"/{handlers.safe_name(entry.name)}__{signature.name}"


def _widths(signature):
    """[(spec, number of widget values)] of a panel's endpoint, in order: one value per input except
    an image (upload, drawing, which) and a uniform code (one slider per value)."""
    from zoo import contract

    widths = []
    for spec in signature.inputs:
        if spec.role == contract.IMAGE:
            widths.append((spec, 3))
        elif spec.role == contract.UNIFORM_CODE:
            widths.append((spec, int(np.prod(spec.shape))))
        else:
            widths.append((spec, 1))
    return widths


def _has_count(signature):
    from zoo import contract

    return signature.input_with(contract.SEED) is not None or signature.input_with(contract.LATENT) is not None


def ui_arguments(signature, parameters, count, image_files):
    """The endpoint's positional values: every widget at its page default (the endpoint's declared
    defaults), the image inputs as an upload of `image_files[name, shape]`, and `count` rows when the panel
    has a count (None: its default)."""
    from gradio_client import handle_file

    values = [parameter.get("parameter_default") for parameter in parameters]
    widths = _widths(signature)
    expected = sum(width for _, width in widths) + _has_count(signature)
    if expected != len(values):
        raise SystemExit(f"{signature.name}: the endpoint takes {len(values)} values, the declared inputs make "
                         f"{expected}: the playground's widgets changed, update benchmarks/playground.py")
    position = 0
    for spec, width in widths:
        if spec.role == "image":
            values[position:position + 3] = [handle_file(image_files[spec.name, spec.shape]), None, "upload"]
        position += width
    if _has_count(signature) and count is not None:
        values[-1] = count
    return values


def direct_request(signature, values):
    """{input: numpy batch} the signature is called with directly for the widget `values`: what the
    page's documented widgets mean (a seed and a count: consecutive seeds; a latent: the standard
    normal draw of each seed; a label of -1: every class in turn; one value: every row), built here
    and not by zoo.play, so the first call's comparison checks the UI's request too."""
    from zoo import contract
    from zoo.signatures import latents_from_seeds

    rows = int(values[-1]) if _has_count(signature) else 1
    request, position = {}, 0
    for spec, width in _widths(signature):
        given = values[position:position + width]
        position += width
        if spec.role in (contract.SEED, contract.LATENT):
            seeds = np.arange(int(given[0]), int(given[0]) + rows, dtype=np.int64)
            request[spec.name] = seeds if spec.role == contract.SEED else latents_from_seeds(seeds, spec.shape[0]).numpy()
        elif spec.role == contract.CLASS_LABEL:
            label = int(given[0])
            request[spec.name] = np.arange(rows, dtype=np.int64) % spec.num_values if label < 0 else np.full(rows, label, np.int64)
        elif spec.role in (contract.CATEGORICAL_CODE, contract.PARAMETER):
            request[spec.name] = np.full(rows, given[0], spec.numpy_dtype())
        elif spec.role == contract.UNIFORM_CODE:
            request[spec.name] = np.repeat(np.asarray(given, np.float32).reshape(spec.shape)[None], rows, axis=0)
        elif spec.role == contract.IMAGE:
            request[spec.name] = np.repeat(spec.example_row()[None], rows, axis=0)
        elif spec.role == contract.TEXT:
            request[spec.name] = np.array([given[0].encode("utf-8")] * rows, dtype=object)
        else:
            raise SystemExit(f"{signature.name}: input {spec.name} has role {spec.role}, which this benchmark cannot fill")
    return request


def same_answer(signature, ui_result, direct):
    """'' if the UI's answer is the signature's (images pixel for pixel, text, scores to the digits
    shown, values), else what differs."""
    from PIL import Image

    from zoo import contract

    main = ui_result[0] if isinstance(ui_result, (tuple, list)) else ui_result
    images = signature.output_with(contract.IMAGES)
    if images is not None:
        shown = np.stack([np.asarray(Image.open(item["image"])) for item in main])
        expected = direct[images]
        if shown.reshape(expected.shape).tolist() != expected.tolist():
            return f"images differ (largest difference {np.abs(shown.reshape(expected.shape).astype(int) - expected).max()})"
        return ""
    text = signature.output_with(contract.TEXT)
    if text is not None:
        expected = "\n\n---\n\n".join(value.decode("utf-8", "replace") for value in direct[text])
        return "" if main == expected else f"text differs: {main[:60]!r} vs {expected[:60]!r}"
    likelihood = signature.output_with(contract.LOG_LIKELIHOOD)
    if likelihood is not None:
        tokens = signature.output_with(contract.NUM_TOKENS)
        image = signature.input_with(contract.IMAGE)
        per = direct[tokens].astype(np.float64) if tokens else float(np.prod(image.shape))
        bits = -direct[likelihood].astype(np.float64) / per / math.log(2)
        missing = [f"{value:.3f}" for value in bits if f"{value:.3f} bits/" not in main]
        return f"scores {missing} not shown in {main[:80]!r}" if missing else ""
    for name, value in direct.items():
        if not np.allclose(np.asarray(main[name], np.float64), value, rtol=1e-6, atol=1e-6):
            return f"output {name} differs"
    return ""


# Processes ---------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Playground:
    """A zoo-play process started as `make play` starts it, with the time of each of its lines."""

    def __init__(self, folder, port, log_path):
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.lines, self.built_at = [], None
        environment = {key: value for key, value in USER_ENVIRONMENT.items() if key != "PYTHONPATH"}
        environment["TMPDIR"] = os.path.join(folder, "tmp")  # Its downloads and Gradio's cache, removed after.
        os.makedirs(environment["TMPDIR"], exist_ok=True)
        self.command = [os.path.join(os.path.dirname(sys.executable), PLAY_COMMAND[0]), *PLAY_COMMAND[1:],
                        f"--port={port}"]
        self.log = open(log_path, "a")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(self.command, cwd=folder, env=environment, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.log.write(line)
            self.log.flush()
            if self.built_at is None and line.startswith("zoo-play: "):
                self.built_at = time.perf_counter() - self.started
            self.lines.append(line)

    def elapsed(self):
        return time.perf_counter() - self.started

    def wait_for_page(self, deadline):
        """Seconds from the start until GET / answers 200."""
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"zoo-play exited ({self.process.returncode}) before serving:\n" + "".join(self.lines[-20:]))
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5) as response:
                    if response.status == 200:
                        return self.elapsed()
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if self.elapsed() > deadline:
                raise SystemExit(f"zoo-play did not answer {self.url} within {deadline:.0f} s")
            time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=5)
        self.log.close()


def model_milliseconds(result):
    """The backend time the UI reports for its last call ("last request: N ms"), or None."""
    for value in reversed(result if isinstance(result, (tuple, list)) else [result]):
        if isinstance(value, str):
            match = LATENCY_MARKDOWN.search(value)
            if match:
                return float(match.group(1))
    return None


def time_to_first_image(folder, first, image_files, downloads, log_path):
    """One fresh zoo-play: (its times, the running Playground, its client)."""
    from gradio_client import Client

    from PIL import Image

    entry, signature = first
    playground = Playground(folder, free_port(), log_path)
    try:
        page = playground.wait_for_page(FLAGS.start_timeout)
        client = Client(playground.url, verbose=False, download_files=downloads)
        connected = playground.elapsed()
        parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"][endpoint(entry, signature)]
        values = ui_arguments(signature, parameters["parameters"], None, image_files)
        listed = playground.elapsed()
        result = client.predict(*values, api_name=endpoint(entry, signature))
        returned = playground.elapsed()
    except BaseException:
        playground.stop()
        raise

    images = [np.asarray(Image.open(item["image"])) for item in result[0]]
    rows = int(values[-1]) if _has_count(signature) else 1
    if len(images) != rows:
        raise SystemExit(f"the first request returned {len(images)} images, not {rows}")
    times = {"app_built_s": playground.built_at, "page_answers_s": page, "client_connected_s": connected,
             "api_listed_s": listed, "first_image_s": returned, "first_request_s": returned - listed,
             "first_request_model_ms": model_milliseconds(result)}
    return times, playground, client, values


class Kind:
    """One panel measured for its kind: the same request through the UI and on the signature."""

    def __init__(self, label, client, entry, signature, direct_signature, parameters, image_files):
        import tensorflow as tf

        from zoo.play import handlers

        self.label, self.client, self.entry, self.signature = label, client, entry, signature
        self.streamed = handlers.streaming_parameter(signature) is not None
        self.values = ui_arguments(signature, parameters, FLAGS.count, image_files)
        self.request = direct_request(signature, self.values)
        self.tensors = {name: tf.constant(value) for name, value in self.request.items()}
        self.direct_signature, self.name = direct_signature, endpoint(entry, signature)
        self.times = {"ui": [], "direct": [], "ui_model": [], "ui_first_update": []}

    def direct(self):
        return {key: value.numpy() for key, value in self.direct_signature(**self.tensors).items()}

    def ui(self):
        """(the UI's answer, seconds to its first update when streamed)."""
        if not self.streamed:
            return self.client.predict(*self.values, api_name=self.name), None
        started = time.perf_counter()
        job = self.client.submit(*self.values, api_name=self.name)
        first = None
        for _ in job:
            first = first if first is not None else time.perf_counter() - started
        return job.result(), first

    def run(self, index, timed):
        """One UI request and one direct request (their order alternating with `index`); the first
        call of all checks that both answered the same."""
        for path in (("ui", "direct") if index % 2 == 0 else ("direct", "ui")):
            started = time.perf_counter()
            if path == "ui":
                result, first = self.ui()
            else:
                answer = self.direct()
            seconds = time.perf_counter() - started
            if timed:
                self.times[path].append(seconds)
                if path == "ui":
                    self.times["ui_model"].append((model_milliseconds(result) or math.nan) / 1e3)
                    if first is not None:
                        self.times["ui_first_update"].append(first)
        if index == 0 and not timed:
            difference = same_answer(self.signature, result, answer)
            if difference:
                raise SystemExit(f"{self.name}: the UI's answer is not the signature's: {difference}")

    def row(self):
        times, signature, entry = self.times, self.signature, self.entry
        ui, direct = summarize(times["ui"]), summarize(times["direct"])
        model = [value for value in times["ui_model"] if not math.isnan(value)]
        (roles, output), _ = kind_of(signature)
        return {"kind": self.label, "input_roles": list(roles), "output": output,
                "export": entry.name, "version": entry.version, "model": entry.info.get("model"),
                "signature": signature.name, "endpoint": self.name, "streamed": self.streamed,
                "rows_per_request": int(next(iter(self.request.values())).shape[0]),
                "request": {name: (value.tolist() if value.dtype != object else [v.decode("utf-8", "replace") for v in value])
                            if value.size <= 16 else f"{value.dtype}{list(value.shape)}" for name, value in self.request.items()},
                "ui": ui, "direct": direct, "ui_over_direct_p50": ui["p50_ms"] / direct["p50_ms"],
                "ui_minus_direct": summarize(np.subtract(times["ui"], times["direct"])),
                "ui_backend_call": summarize(model) if model and not self.streamed else None,
                "ui_first_update": summarize(times["ui_first_update"]) if times["ui_first_update"] else None,
                "same_answer": True}


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import gradio
    import gradio_client
    import tensorflow as tf
    from PIL import Image

    from zoo.machine import machine, machine_id
    from zoo.play import backends, handlers

    load_at_start = os.getloadavg()[0]
    folder = tempfile.mkdtemp(prefix="zoo-play-bench-")
    playground = None
    try:
        pinned = pinned_exports(FLAGS.exports, os.path.join(folder, "exports"))
        entries = backends.discover([os.path.join(folder, "exports")])
        shown = panels(entries)
        if not shown:
            raise SystemExit(f"no usable exports under {FLAGS.exports}")
        image_files = {}
        for _, signature in shown:  # The declared example of every image input, as an upload.
            for spec in signature.inputs_with("image"):
                path = os.path.join(folder, f"{handlers.safe_name(spec.name)}_{'x'.join(map(str, spec.shape))}.png")
                row = spec.example_row()
                Image.fromarray(row.squeeze(-1) if row.shape[-1] == 1 else row).save(path)
                image_files[spec.name, spec.shape] = path
        first = next(((entry, signature) for entry in entries if not entry.error
                      for signature, _ in handlers.describe_signatures(entry.interface)[:1]
                      if signature.output_with("images") is not None), None)
        downloads = os.path.join(folder, "downloads")
        log_path = os.path.join(folder, "zoo-play.log")
        if first is None:
            raise SystemExit("no export's first panel draws images: there is no first image to time")
        starts = []
        for start in range(FLAGS.starts):
            if playground is not None:
                playground.stop()
            times, playground, client, first_values = time_to_first_image(folder, first, image_files, downloads, log_path)
            starts.append(times)
            print(f"start {start + 1}/{FLAGS.starts}: app built {times['app_built_s']:.1f} s, page answers "
                  f"{times['page_answers_s']:.1f} s, first image {times['first_image_s']:.1f} s "
                  f"({endpoint(*first)}, the request {times['first_request_s']:.1f} s)", flush=True)

        kinds = {}
        for entry, signature in shown:
            key, label = kind_of(signature)
            kinds.setdefault(key, (label, entry, signature))
        named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        loaded, measured = {}, []
        for label, entry, signature in kinds.values():  # Loaded and warmed up (and checked) first.
            if entry.path not in loaded:
                loaded[entry.path] = tf.saved_model.load(entry.path)
            kind = Kind(label, client, entry, signature, loaded[entry.path].signatures[signature.name],
                        named[endpoint(entry, signature)]["parameters"], image_files)
            for index in range(max(FLAGS.warmup, 1)):
                kind.run(index, timed=False)
            measured.append(kind)
        loads = []
        for index in range(FLAGS.requests):  # Rounds over every kind, so each kind sees the same load.
            loads.append(os.getloadavg()[0])
            for kind in measured:
                kind.run(index, timed=True)
            print(f"round {index + 1}/{FLAGS.requests} (1-minute load average {loads[-1]:.1f})", flush=True)
        rows = [kind.row() for kind in measured]
        for row in rows:
            print(f"{row['kind']:55s} {row['export']}/{row['signature']}: UI p50 {row['ui']['p50_ms']:.0f} ms "
                  f"(p90 {row['ui']['p90_ms']:.0f}), direct p50 {row['direct']['p50_ms']:.1f} ms, "
                  f"x{row['ui_over_direct_p50']:.1f}", flush=True)
        playground.stop()
    finally:
        if playground is not None and playground.process.poll() is None:
            playground.stop()
        shutil.rmtree(folder, ignore_errors=True)

    defaults = {"requests": 20, "warmup": 2, "starts": 3, "count": 1}
    command = "python -m benchmarks.playground" + "".join(
        f" --{name}={getattr(FLAGS, name)}" for name, default in defaults.items() if getattr(FLAGS, name) != default)
    if FLAGS.exports != os.path.join(ROOT, "exports"):
        command += f" --exports={FLAGS.exports}"
    entry, signature = first
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"), "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine(), "machine_id": machine_id(),
        "software": {"python": platform.python_version(), "gradio": gradio.__version__,
                     "gradio_client": gradio_client.__version__},
        "shared_machine": FLAGS.note or "not recorded",
        "load_average_1m": {"start": round(load_at_start, 2), "end": round(os.getloadavg()[0], 2),
                            "latency_rounds": [round(min(loads), 2), round(max(loads), 2)]},
        "setup": "not timed: make setup (a venv and pip install -e .[test]) depends on the network and the package "
                 "cache; every time starts from launching zoo-play with the venv installed",
        "exports": {name: os.path.relpath(path, ROOT) if path.startswith(ROOT) else path for name, path in pinned.items()},
        "time_to_first_image": {
            "command": " ".join(PLAY_COMMAND + ["--port=<free port>"]),
            "where": "in a new empty folder without runs/ (as on a fresh clone) whose exports/ links the repository's "
                     "newest shipped versions, with zoo-play's default backend (the SavedModels in its process); the "
                     "files were in the OS cache, as they are just after a clone",
            "request": {"endpoint": endpoint(entry, signature), "export": entry.name, "signature": signature.name,
                        "values": [value if not isinstance(value, dict) else "<upload>" for value in first_values],
                        "why": "the open panel of the page's first tab, every widget at its default"},
            "starts": starts,
            "median": {key: median([start[key] for start in starts]) for key in starts[0] if starts[0][key] is not None},
        },
        "latency": {"requests": FLAGS.requests, "warmup": FLAGS.warmup, "count": FLAGS.count,
                    "how": "one client, sequential; UI (gradio_client to zoo-play on 127.0.0.1) and direct "
                           "(tf.saved_model.load signature in the benchmark process) requests interleaved, in rounds "
                           "over every kind (so every kind sees the same load)",
                    "rows": rows},
    }
    os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
