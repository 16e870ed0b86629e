"""Where the playground's models come from and how it calls them.

Every export under the export roots is an `Entry`: its name, version, declared interface
(assets.extra/zoo_export.json), facts and model card, or the one-line reason it cannot be used.
A backend answers `call(entry, signature, inputs)` with numpy outputs:

- `LocalBackend`: the SavedModels in this process (TensorFlow's loader), loaded on first use, each
  only if its graph holds just the ops zoo's own exports use (zoo.export.trust) unless trusted;
- `ServerBackend`: TF Serving's REST API (or zoo's stand-in server) at a URL, the same requests
  a client without zoo would send; the declarations still come from the export directories.
"""

import dataclasses
import os
import threading
import time
import urllib.parse

import numpy as np

from zoo import contract
from zoo.errors import UserError
from zoo.export import cards, saved_model


@dataclasses.dataclass
class Entry:
    """One export the playground lists (the newest version of a model directory)."""

    name: str
    version: int
    path: str
    root: str
    interface: contract.Interface | None = None
    info: dict = dataclasses.field(default_factory=dict)
    card: dict | None = None
    card_markdown: str = ""
    error: str = ""  # Why it cannot be used; the others still work.

    @property
    def key(self):
        return f"{self.name}/{self.version}"

    @property
    def headline(self):
        return (self.card or {}).get("headline", "")


def _read_card_markdown(version_dir):
    path = cards.card_path(version_dir, markdown=True)
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def discover(roots, trust=False):
    """[Entry] of the newest version of every model directory under each root (a root may also be
    a model directory or a version directory), sorted by name; unreadable ones, and ones whose graph
    runs ops outside zoo's own (zoo.export.trust; unless `trust`), carry their error."""
    entries, seen = [], set()
    for root in roots:
        if not root or not os.path.isdir(root):
            continue
        if os.path.isfile(os.path.join(root, "saved_model.pb")):
            candidates = [(os.path.dirname(root.rstrip("/")), root)]
        elif saved_model.list_versions(root):
            candidates = [(os.path.dirname(root.rstrip("/")), root)]
        else:
            candidates = [(root, os.path.join(root, name)) for name in sorted(os.listdir(root))
                          if os.path.isdir(os.path.join(root, name)) and saved_model.list_versions(os.path.join(root, name))]
        for export_root, model_dir in candidates:
            entry = _entry(export_root, model_dir, trust)
            if entry.key not in seen:
                seen.add(entry.key)
                entries.append(entry)
    return sorted(entries, key=lambda entry: entry.name)


def _entry(export_root, path, trust=False):
    try:
        version_dir = saved_model.resolve_version_dir(path)
    except UserError as error:
        return Entry(os.path.basename(path.rstrip("/")), 0, path, export_root, error=str(error))
    info = saved_model.read_info(version_dir)
    name = info.get("name") or os.path.basename(os.path.dirname(version_dir))
    version = int(os.path.basename(version_dir))
    entry = Entry(name, version, version_dir, export_root, info=info)
    try:
        entry.interface = contract.from_export_info(info, version_dir)
    except (UserError, ValueError, KeyError, TypeError) as error:
        entry.error = str(error).splitlines()[0]
    if not entry.error:
        from zoo.export import trust as trust_lib

        try:
            trust_lib.check(version_dir, trust)
        except UserError as error:
            entry.error = str(error)
    try:
        entry.card = cards.read(version_dir)
        entry.card_markdown = _read_card_markdown(version_dir)
    except (OSError, ValueError) as error:
        entry.card_markdown = f"(model card unreadable: {error})"
    return entry


class LocalBackend:
    """Calls the SavedModels in this process; each is loaded once, on first use."""

    description = "in-process SavedModels"

    def __init__(self, trust_exports=False):
        self.trust_exports = trust_exports
        self._loaded, self._lock = {}, threading.Lock()

    def _signatures(self, entry):
        with self._lock:
            if entry.path not in self._loaded:
                from zoo.export import trust

                self._loaded[entry.path] = trust.load(entry.path, self.trust_exports)
            return self._loaded[entry.path].signatures

    def call(self, entry, signature, inputs):
        """{output: numpy} of `signature` on {input: numpy}; InvalidArgument errors become UserError."""
        import tensorflow as tf

        function = self._signatures(entry)[signature]
        try:
            outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
        except tf.errors.InvalidArgumentError as error:
            raise UserError(_first_message(error.message)) from None
        return {name: value.numpy() for name, value in outputs.items()}


def _first_message(text):
    """The assertion message of a TensorFlow error, without the graph node dump."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    for line in lines:
        if "must" in line or "batch size" in line:
            return line.split("[[")[0].strip().rstrip(":")
    return lines[0].split("[[")[0].strip() if lines else "the model refused the request"


class ServerBackend:
    """Calls TF Serving's REST API at `url` (http://host:port) with zoo's REST client."""

    def __init__(self, url, timeout=60.0):
        parsed = urllib.parse.urlparse(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "") or not parsed.hostname or not parsed.port:
            raise UserError(f"--server must be http://host:port (TF Serving's REST API, e.g. http://localhost:8501), "
                            f"got {url!r}")
        self.host_port = f"{parsed.hostname}:{parsed.port}"
        self.timeout = timeout
        self.description = f"TF Serving REST at {self.host_port}"
        self._clients, self._lock = {}, threading.Lock()

    def call(self, entry, signature, inputs):
        from zoo.serving import RestClient

        key = (entry.name, entry.version)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = RestClient(self.host_port, entry.name, version=entry.version, timeout=self.timeout)
            client = self._clients[key]
        return {name: np.asarray(value) for name, value in client.predict(inputs, signature=signature).items()}


class Timed:
    """A backend wrapper that remembers how long the last request of each export took."""

    def __init__(self, backend):
        self.backend, self.last_seconds = backend, {}
        self.description = backend.description

    def call(self, entry, signature, inputs):
        start = time.perf_counter()
        outputs = self.backend.call(entry, signature, inputs)
        self.last_seconds[entry.key] = time.perf_counter() - start
        return outputs
