"""Request batching in the stand-in server (zoo.serving.batching): TF Serving's rules for forming,
padding, splitting and refusing batches, checked on a fake model whose every call is recorded, and
on a real export through gRPC: concurrent one-seed requests merged into batches answer the bytes
a direct one-seed call gives."""

import os
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from zoo import serving
from zoo.errors import UserError
from zoo.serving import batching, local_server
from zoo.serving.local_models import StatusError, invalid_argument


class _FakeModels:
    """`prepare` and `run` as LocalModels has them, over y = 3 * x (every request sends different
    x, so a row split back to the wrong request is visible). `gate`, when set, holds every run
    until it is released; `calls` records each run's batch size."""

    def __init__(self, fail_on=None):
        self.calls, self.gate, self.fail_on = [], None, fail_on
        self.started = threading.Event()

    def prepare(self, name, inputs, version=None, label=None, signature_name=None, output_filter=()):
        if name != "fake":
            raise StatusError("NOT_FOUND", f"Servable not found for request: Latest({name})")
        return 1, "session", {f"{alias}:0": np.asarray(value) for alias, value in inputs.items()}, {"y": "y:0"}

    def run(self, session, fetch, feed):
        x = feed["x:0"]
        self.calls.append(x.shape[0])
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail_on is not None and self.fail_on in x:
            raise invalid_argument(f"x must not be {self.fail_on}")
        return {"y": 3 * x}

    def names(self):
        return ["fake"]


def _options(**changes):
    values = dict(max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1, max_enqueued_batches=10,
                  allowed_batch_sizes=())
    values.update(changes)
    options = batching.Options(**values)
    options.check()
    return options


def _send(models, values, results, errors):
    """One thread per request: `values[i]` rows of x; results[i] / errors[i] get its answer."""
    def request(i, x):
        try:
            results[i] = models.predict("fake", {"x": np.asarray(x, np.int64).reshape(-1, 1)})[1]["y"][:, 0]
        except StatusError as error:
            errors[i] = error
    threads = [threading.Thread(target=request, args=(i, x)) for i, x in enumerate(values)]
    for thread in threads:
        thread.start()
    return threads


def _queued(models, rows, timeout=10):
    """Waits until the scheduler holds `rows` rows in its queues (threads have submitted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with models._lock:
            if sum(batch.rows for batches in models._queues.values() for batch in batches) >= rows:
                return
        time.sleep(0.005)
    raise AssertionError(f"requests did not reach the queue: {rows} rows expected")


def test_requests_waiting_behind_a_batch_are_merged_and_split_back():
    fake = _FakeModels()
    fake.gate = threading.Event()
    models = batching.BatchingModels(fake, _options())
    try:
        results, errors = {}, {}
        first = _send(models, [[100]], results, errors)
        assert fake.started.wait(10)  # The only batch thread is busy with request 0.
        later = {}
        rest = _send(models, [[1], [2, 3], [4], [5, 6, 7]], later, errors)
        _queued(models, 7)
        fake.gate.set()
        for thread in first + rest:
            thread.join(10)
    finally:
        models.stop()
    assert not errors
    # Request 0 alone, then the four queued meanwhile (7 rows) as one batch.
    assert fake.calls == [1, 7]
    assert results[0].tolist() == [300]
    assert {i: later[i].tolist() for i in later} == {0: [3], 1: [6, 9], 2: [12], 3: [15, 18, 21]}


def test_allowed_batch_sizes_pad_with_the_first_row_and_answer_only_the_real_rows():
    fake = _FakeModels()
    fake.gate = threading.Event()
    models = batching.BatchingModels(fake, _options(allowed_batch_sizes=(2, 4, 8)))
    try:
        results, errors = {}, {}
        threads = _send(models, [[9]], results, errors)
        assert fake.started.wait(10)
        more = {}
        threads += _send(models, [[1], [2], [3]], more, errors)
        _queued(models, 3)
        fake.gate.set()
        for thread in threads:
            thread.join(10)
    finally:
        models.stop()
    assert not errors and fake.calls == [2, 4]  # 1 row padded to 2; 3 rows padded to 4.
    assert results[0].tolist() == [27] and sorted(v.tolist() for v in more.values()) == [[3], [6], [9]]


def test_a_batch_waits_for_its_timeout_to_gather_requests():
    fake = _FakeModels()
    models = batching.BatchingModels(fake, _options(batch_timeout_micros=3_000_000, max_batch_size=3))
    try:
        results, errors = {}, {}
        threads = _send(models, [[1]], results, errors)
        time.sleep(0.1)
        threads += _send(models, [[2], [3]], {}, errors)  # Fills the batch: it runs before its timeout.
        for thread in threads:
            thread.join(10)
    finally:
        models.stop()
    assert fake.calls == [3] and not errors


def test_refusals_are_tf_servings():
    fake = _FakeModels()
    fake.gate = threading.Event()
    models = batching.BatchingModels(fake, _options(max_batch_size=2, max_enqueued_batches=1))
    try:
        with pytest.raises(StatusError) as error:
            models.predict("fake", {"x": np.zeros([3, 1], np.int64)})
        assert error.value.code == "INVALID_ARGUMENT" and "Task size 3 is larger than maximum input batch size 2" in error.value.message
        with pytest.raises(StatusError) as error:
            models.predict("fake", {"x": np.zeros([2, 1], np.int64), "z": np.zeros([1], np.int64)})
        assert error.value.code == "INVALID_ARGUMENT" and "equal 0th-dimension size" in error.value.message
        with pytest.raises(StatusError) as error:
            models.predict("missing", {"x": np.zeros([1, 1], np.int64)})
        assert error.value.code == "NOT_FOUND"
        results, errors = {}, {}
        threads = _send(models, [[1]], results, errors)
        assert fake.started.wait(10)  # Running: its batch has left the queue.
        second = {}
        threads += _send(models, [[2, 3]], second, errors)  # Fills the one batch the queue may hold.
        _queued(models, 2)
        with pytest.raises(StatusError) as error:
            models.predict("fake", {"x": np.zeros([1, 1], np.int64)})
        assert error.value.code == "UNAVAILABLE" and "queue to which this task was submitted is full" in error.value.message
        fake.gate.set()
        for thread in threads:
            thread.join(10)
        assert not errors and results[0].tolist() == [3] and second[0].tolist() == [6, 9]
    finally:
        models.stop()


def test_a_failing_batch_fails_every_request_in_it_and_only_those():
    fake = _FakeModels(fail_on=13)
    fake.gate = threading.Event()
    models = batching.BatchingModels(fake, _options())
    try:
        results, errors = {}, {}
        threads = _send(models, [[1]], results, errors)
        assert fake.started.wait(10)
        queued = {}
        threads += _send(models, [[2], [13], [4]], queued, errors)
        _queued(models, 3)
        fake.gate.set()
        for thread in threads:
            thread.join(10)
    finally:
        models.stop()
    assert results[0].tolist() == [3] and not queued
    assert sorted(errors) == [0, 1, 2] and all("x must not be 13" in e.message for e in errors.values())


def test_options_from_files(tmp_path):
    default = batching.options_for(str(tmp_path))  # No file: TF Serving's BasicBatchScheduler defaults.
    assert (default.max_batch_size, default.batch_timeout_micros, default.max_enqueued_batches) == (1000, 0, 10)
    assert default.num_batch_threads == (os.cpu_count() or 1)
    path = tmp_path / "batching_parameters.txt"
    path.write_text("max_batch_size { value: 16 }\nnum_batch_threads { value: 3 }\nallowed_batch_sizes: 4\n"
                    "allowed_batch_sizes: 16\npad_variable_length_inputs: true\n")
    options = batching.options_for(str(tmp_path))
    assert options == batching.Options(16, 0, 3, 10, (4, 16))
    for text, fragment in [("max_batch_size { value: 0 }", "max_batch_size must be at least 1"),
                           ("max_batch_size { value: 8 }\nallowed_batch_sizes: 4", "must equal max_batch_size (8)"),
                           ("max_batch_sizes { value: 8 }", "max_batch_sizes"),
                           ("allowed_batch_sizes: 8\nallowed_batch_sizes: 4\nmax_batch_size { value: 4 }", "increasing")]:
        path.write_text(text)
        with pytest.raises(UserError) as error:
            batching.options_for(str(tmp_path))
        assert str(error.value).startswith(f"batching parameters file {path}: ") and fragment in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(UserError, match="cannot read the batching parameters file"):
        batching.options_for(str(tmp_path), str(tmp_path / "missing.txt"))


def test_the_server_flags_refuse_a_parameters_file_without_batching(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        local_server.main([str(tmp_path), "--batching_parameters_file=x.txt", "--grpc_port=-1", "--rest_port=-1"])
    assert exit.value.code == 2 and "--batching_parameters_file needs --enable_batching" in capsys.readouterr().err


def test_concurrent_one_seed_requests_through_grpc_get_the_direct_bytes(model_exports):
    version_dir = model_exports["dcgan"]
    root = os.path.dirname(os.path.dirname(version_dir))
    local = local_server.LocalModels(root)
    runs = []
    original = local.run

    def recording_run(session, fetch, feed):
        runs.append(next(iter(feed.values())).shape[0])
        return original(session, fetch, feed)

    local.run = recording_run
    # A long timeout and a small batch: the eight requests fill two batches of four.
    models = batching.BatchingModels(local, _options(max_batch_size=4, batch_timeout_micros=5_000_000))
    server, port = local_server.start_grpc_server(models)
    answers = {}
    try:
        def request(seed):
            with serving.connect(f"127.0.0.1:{port}", os.path.basename(os.path.dirname(version_dir))) as client:
                answers[seed] = client.predict({"seed": np.asarray([seed], np.int64)})["images"]
        threads = [threading.Thread(target=request, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        server.stop()
        models.stop()
    assert sorted(runs) == [4, 4] and sorted(answers) == list(range(8))
    loaded = tf.saved_model.load(version_dir)
    for seed, images in answers.items():
        direct = loaded.signatures["serving_default"](seed=tf.constant([seed], tf.int64))["images"].numpy()
        np.testing.assert_array_equal(images, direct)


def test_a_request_that_does_not_fit_closes_the_open_batch():
    fake = _FakeModels()
    fake.gate = threading.Event()
    models = batching.BatchingModels(fake, _options(max_batch_size=4))
    try:
        results, errors = {}, {}
        threads = _send(models, [[0]], results, errors)
        assert fake.started.wait(10)
        queued = 0
        for x in ([1, 2, 3], [4, 5], [6]):  # One at a time, in this order: 3 rows, then 2 do not fit.
            threads += _send(models, [x], {}, errors)
            queued += len(x)
            _queued(models, queued)
        fake.gate.set()
        for thread in threads:
            thread.join(10)
    finally:
        models.stop()
    assert not errors and fake.calls == [1, 3, 3]
