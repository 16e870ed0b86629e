"""zoo-tune as keras-tuner's chief and two workers on loopback: their trials add up to one search
(each trial run once, by one worker, into its own workdir), the chief alone writes the table and
exports the best trial, and rerunning the three with a larger --max_trials runs only the new trials
(as does a local rerun after them).
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from tests import helpers
from zoo import tune

pytestmark = pytest.mark.integration  # Three processes on loopback.

WORKERS = ("tuner0", "tuner1")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read(path):
    with open(path) as f:
        return json.load(f)


def _run_search(args, logs, round_name, timeout=900):
    """Starts the chief and both workers (the workers first: they wait for the chief's oracle) and
    returns {tuner id: (exit status, output)}; one still running after `timeout` seconds fails the
    test. Output goes to files: the chief waits for the workers, so a full pipe of theirs would
    stall all three."""
    port = _free_port()
    processes = {}
    for tuner_id in (*WORKERS, "chief"):
        log = open(logs / f"{round_name}-{tuner_id}.log", "w")
        processes[tuner_id] = (subprocess.Popen(
            [sys.executable, "-m", "experiments.tune", *args, f"--tuner_id={tuner_id}", f"--oracle=127.0.0.1:{port}"],
            cwd=helpers.REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1"),
            stdout=log, stderr=subprocess.STDOUT), log)
    results, deadline = {}, time.monotonic() + timeout
    try:
        for tuner_id, (process, log) in processes.items():
            try:
                process.wait(timeout=max(0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.close()
                with open(log.name) as f:
                    pytest.fail(f"{tuner_id} still runs after {timeout}s; its output ends: {f.read()[-2000:]}")
            log.close()
            with open(log.name) as f:
                results[tuner_id] = (process.returncode, f.read())
    finally:
        for process, _ in processes.values():
            if process.poll() is None:
                process.kill()
    return results


def _trials_run(output):
    """The trial ids a process trained, from the line each trial starts with."""
    return re.findall(r"^trial (\w+): \d+ steps", output, re.M)


def _check_one_search(directory, results, expected_ids):
    """Every trial of `expected_ids` ran exactly once, on one worker, and is recorded as its; the
    chief ran none and reported the best of the trials' own recorded scores."""
    assert all(code == 0 for code, _ in results.values()), {k: out[-3000:] for k, (_, out) in results.items()}
    ran = {tuner_id: _trials_run(results[tuner_id][1]) for tuner_id in (*WORKERS, "chief")}
    assert ran["chief"] == []
    assert sorted(ran["tuner0"] + ran["tuner1"]) == sorted(expected_ids), ran
    for tuner_id in WORKERS:
        assert f"worker {tuner_id}: ran trials {', '.join(ran[tuner_id]) or 'none'} of the search" in results[tuner_id][1]
        assert "best trial" not in results[tuner_id][1] and "exported" not in results[tuner_id][1]
    table = _read(os.path.join(directory, "trials.json"))
    scores = {}
    for row in table["trials"]:
        result = _read(os.path.join(directory, "trials", row["trial_id"], "trial_result.json"))
        assert row["status"] == "COMPLETED" and row["objective"] == result["value"]
        assert row["tuner_id"] == result["tuner_id"] in WORKERS
        if row["trial_id"] in expected_ids:  # Recorded as run by the worker that ran it.
            assert row["trial_id"] in ran[result["tuner_id"]]
        scores[row["trial_id"]] = result["value"]
    best = min(scores, key=scores.get)
    assert re.search(rf"^best trial {best}: fid={scores[best]:.4f} ", results["chief"][1], re.M), results["chief"][1]
    card = _read(os.path.join(_read(os.path.join(directory, "best_export.json"))["export"], "assets.extra",
                              "model_card.json"))
    assert card["trial_id"] == best and card["objective"]["value"] == scores[best]
    locks = os.path.join(directory, "locks")  # Every worker's and trial's lock was released.
    assert not os.path.exists(locks) or os.listdir(locks) == [], os.listdir(locks)
    return ran, scores


def test_a_chief_and_two_workers_run_one_search_and_resume_it(tiny_fashion_mnist, tmp_path):
    directory = str(tmp_path / "search")
    args = ["--model=dcgan", "--smoke", "--steps=2", "--eval_samples=32", "--eval_reference_examples=64",
            f"--data_dir={tiny_fashion_mnist}", f"--directory={directory}"]

    results = _run_search([*args, "--max_trials=4"], tmp_path, "first")
    ran, scores = _check_one_search(directory, results, ["0", "1", "2", "3"])
    # keras-tuner hands a trial to whichever worker asks next, so which worker runs which trial is
    # not fixed; both asked within a second of the chief answering (they were waiting for it), and
    # a trial takes several seconds to train, export and score, so each got at least one.
    assert ran["tuner0"] and ran["tuner1"], ran
    assert "chief: serving the oracle of the search" in results["chief"][1]
    first = {trial_id: _read(os.path.join(directory, "trials", trial_id, "trial_result.json")) for trial_id in scores}

    # The same three with a larger budget: only the two new trials run; the first four are kept.
    results = _run_search([*args, "--max_trials=6"], tmp_path, "second")
    _, scores = _check_one_search(directory, results, ["4", "5"])
    assert sorted(scores) == ["0", "1", "2", "3", "4", "5"]
    for trial_id, record in first.items():
        assert _read(os.path.join(directory, "trials", trial_id, "trial_result.json")) == record

    # A local rerun continues the distributed search (keras-tuner's reloading is not tied to the chief's id).
    outcome = tune.run_search(tune.Search(model="dcgan", smoke=True, steps=2, eval_samples=32,
                                          eval_reference_examples=64, data_dir=tiny_fashion_mnist, max_trials=7),
                              directory, export_dir=os.path.join(directory, "exports"))
    assert outcome["ran"] == ["6"] and [row["status"] for row in outcome["rows"]] == ["COMPLETED"] * 7
    assert outcome["best"]["objective"] == min(row["objective"] for row in outcome["rows"])
