"""Request batching for the stand-in server, as tensorflow_model_server's `--enable_batching` does it.

TF Serving's BatchingSession keeps one queue per (servable version, signature's input and output
tensors) and a shared pool of `num_batch_threads` threads. A request joins its queue's open batch
if the batch has room for all its rows (else the batch closes and a new one opens); a batch is
run when it is full or its first request has waited `batch_timeout_micros`, whichever comes
first, by the first free thread (0: whatever is queued when a thread is free). The batch's
inputs are concatenated along the 0th dimension, padded to the smallest `allowed_batch_sizes`
entry that fits by repeating the first row, run once, and every output is split back into the
requests' rows. This module does the same over `LocalModels`, reading the same
`BatchingParameters` file (zoo.export.serving_config), with the same refusals:

- a request whose inputs disagree on their 0th dimension, or that is larger than
  `max_batch_size`, is refused (INVALID_ARGUMENT) without joining a batch;
- a queue already holding `max_enqueued_batches` batches refuses new requests (UNAVAILABLE);
- a batch that fails (an in-graph check on any row) fails every request in it, as in TF Serving.

Unset fields take TF Serving's BasicBatchScheduler defaults (max_batch_size 1000, no timeout, one
thread per core, 10 enqueued batches). `pad_variable_length_inputs` is accepted and has no effect:
every zoo input has fixed-size rows.
"""

import collections
import os
import threading
import time

import numpy as np

from zoo.errors import UserError
from zoo.export import serving_config
from zoo.serving.local_models import StatusError, invalid_argument

DEFAULTS = {"max_batch_size": 1000, "batch_timeout_micros": 0, "num_batch_threads": None,
            "max_enqueued_batches": 10}


class Options(collections.namedtuple("Options", "max_batch_size batch_timeout_micros num_batch_threads "
                                                "max_enqueued_batches allowed_batch_sizes")):
    """The scheduler's settings, read from a BatchingParameters message or given directly."""

    @classmethod
    def from_parameters(cls, parameters):
        values = {}
        for field, default in DEFAULTS.items():
            values[field] = getattr(parameters, field).value if parameters.HasField(field) else default
        values["num_batch_threads"] = values["num_batch_threads"] or os.cpu_count() or 1
        options = cls(allowed_batch_sizes=tuple(parameters.allowed_batch_sizes), **values)
        options.check()
        return options

    def describe(self):
        sizes = f", allowed sizes {list(self.allowed_batch_sizes)}" if self.allowed_batch_sizes else ""
        return (f"max_batch_size {self.max_batch_size}, batch_timeout_micros {self.batch_timeout_micros}, "
                f"{self.num_batch_threads} threads, max_enqueued_batches {self.max_enqueued_batches}{sizes}")

    def check(self):
        for field in ("max_batch_size", "num_batch_threads", "max_enqueued_batches"):
            if getattr(self, field) < 1:
                raise UserError(f"{field} must be at least 1, got {getattr(self, field)}")
        if self.batch_timeout_micros < 0:
            raise UserError(f"batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        sizes = self.allowed_batch_sizes
        if sizes:
            if list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
                raise UserError(f"allowed_batch_sizes must be increasing positive sizes, got {list(sizes)}")
            if sizes[-1] != self.max_batch_size:
                raise UserError(f"the last allowed_batch_sizes entry ({sizes[-1]}) must equal "
                                f"max_batch_size ({self.max_batch_size})")


def read_options(path):
    """Options from a batching parameters file; one line naming the file and the problem on a bad one."""
    from google.protobuf import text_format

    try:
        with open(path) as f:
            text = f.read()
    except OSError as error:
        raise UserError(f"cannot read the batching parameters file {path}: {error.strerror or error}") from None
    try:
        return Options.from_parameters(serving_config.parse_batching_parameters(text))
    except text_format.ParseError as error:
        raise UserError(f"batching parameters file {path}: {error}") from None
    except UserError as error:
        raise UserError(f"batching parameters file {path}: {error}") from None


def options_for(export_root, path=None):
    """The options of `path`, else of `<export_root>/batching_parameters.txt` (what zoo-export writes
    beside the models), else TF Serving's defaults."""
    if path is None:
        path = os.path.join(export_root, serving_config.BATCHING_FILE)
        if not os.path.exists(path):
            return Options.from_parameters(serving_config.parse_batching_parameters(""))
    return read_options(path)


class _Task:
    __slots__ = ("feed", "rows", "done", "outputs", "error")

    def __init__(self, feed, rows):
        self.feed, self.rows, self.done = feed, rows, threading.Event()
        self.outputs = self.error = None


class _Batch:
    __slots__ = ("tasks", "rows", "opened")

    def __init__(self):
        self.tasks, self.rows, self.opened = [], 0, time.monotonic()


class BatchingModels:
    """`LocalModels` whose `predict` batches concurrent requests; everything else is delegated.

    `stop()` ends the batch threads (requests still queued are answered first)."""

    def __init__(self, models, options):
        self.models, self.options = models, options
        self._queues = collections.OrderedDict()  # key -> deque of _Batch (the last one open)
        self._sessions = {}  # key -> (session, fetch)
        self._lock = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._serve, name=f"zoo-batch-{i}", daemon=True)
                         for i in range(options.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def __getattr__(self, name):  # names, versions, resolve, metadata, status, export_root, ...
        if name == "models":
            raise AttributeError(name)
        return getattr(self.models, name)

    def predict(self, name, inputs, version=None, label=None, signature_name=None, output_filter=()):
        """As LocalModels.predict, answered from a batch shared with concurrent requests."""
        version, session, feed, fetch = self.models.prepare(name, inputs, version, label, signature_name, output_filter)
        rows = {alias: value.shape[0] if value.ndim else None for alias, value in feed.items()}
        sizes = set(rows.values())
        if None in sizes or len(sizes) != 1:
            raise invalid_argument("Batching session Run() input tensors must have equal 0th-dimension size and at "
                                   f"least one dimension; got {dict(sorted(rows.items()))}")
        size = sizes.pop()
        if size > self.options.max_batch_size:
            raise invalid_argument(f"Task size {size} is larger than maximum input batch size {self.options.max_batch_size}")
        task = _Task(feed, size)
        key = (name, version, signature_name, tuple(sorted(fetch.items())))  # TF Serving: one queue per signature
        with self._lock:
            batches = self._queues.setdefault(key, collections.deque())
            if not batches or batches[-1].rows + size > self.options.max_batch_size:
                if len(batches) >= self.options.max_enqueued_batches:
                    raise StatusError("UNAVAILABLE", "The batch scheduling queue to which this task was submitted is full")
                batches.append(_Batch())
            batches[-1].tasks.append(task)
            batches[-1].rows += size
            self._sessions[key] = (session, fetch)
            self._lock.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return version, task.outputs

    def stop(self):
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join()

    # The batch threads --------------------------------------------------------------------------

    def _ready(self, now):
        """The key of the queue whose first batch should run now, and the seconds until one will."""
        timeout = self.options.batch_timeout_micros / 1e6
        wait = None
        for key, batches in self._queues.items():
            if not batches:
                continue
            first = batches[0]
            closed = len(batches) > 1 or first.rows >= self.options.max_batch_size
            due = first.opened + timeout - now
            if closed or due <= 0 or self._stopping:
                return key, None
            wait = due if wait is None else min(wait, due)
        return None, wait

    def _serve(self):
        while True:
            with self._lock:
                while True:
                    key, wait = self._ready(time.monotonic())
                    if key is not None:
                        break
                    if self._stopping:
                        return
                    self._lock.wait(wait)
                batches = self._queues[key]
                batch = batches.popleft()
                self._queues.move_to_end(key)  # Round-robin between queues with work, as the shared scheduler.
                session, fetch = self._sessions[key]
            self._run(session, fetch, batch)

    def _run(self, session, fetch, batch):
        tasks, rows = batch.tasks, batch.rows
        padded = next((size for size in self.options.allowed_batch_sizes if size >= rows), rows)
        feed = {}
        for tensor in tasks[0].feed:
            parts = [task.feed[tensor] for task in tasks]
            if padded > rows:
                parts.append(np.repeat(parts[0][:1], padded - rows, axis=0))
            feed[tensor] = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        try:
            outputs = self.models.run(session, fetch, feed)
            for alias, value in outputs.items():
                if np.ndim(value) == 0 or value.shape[0] != padded:
                    raise StatusError("FAILED_PRECONDITION", f"Batched output tensor {alias} has 0th dimension "
                                      f"{np.shape(value)[:1]}, expected the batch size {padded}")
        except StatusError as error:
            for task in tasks:
                task.error = error
                task.done.set()
            return
        start = 0
        for task in tasks:
            task.outputs = {alias: value[start:start + task.rows] for alias, value in outputs.items()}
            start += task.rows
            task.done.set()
