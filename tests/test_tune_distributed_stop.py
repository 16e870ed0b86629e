"""zoo-tune's distributed search stops by itself at --max_consecutive_failures: with every trial
failing, the chief and both workers end on their own, each with one line and a non-zero status,
the table records the failed trials, and rerunning the three once the cause is fixed continues the
search to its end.
"""

import os
import re

import pytest

from tests.test_tune_distributed import WORKERS, _read, _run_search, _trials_run

pytestmark = pytest.mark.integration  # Three processes on loopback, twice.

# A config file whose trials diverge at their first step while a file named "broken" lies beside
# it: Adam's beta_2 at infinity makes the first update non-finite (a failure inside the trial, past
# every check made before the search starts). Removing the file fixes the cause without changing
# the search (its config is the same file), so a rerun continues the same search.
FAILING_CONFIG = '''
import os

from experiments.configs.dcgan_fashion_mnist import get_config as dcgan_config, search_space  # noqa: F401


def get_config(smoke=False):
    config = dcgan_config(smoke)
    if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "broken")):
        config.model_config.beta_2 = float("inf")
    return config
'''


def _error_line(output):
    """The one line a command that failed ends with."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and re.match(r"^\S+: error: ", lines[-1]), output[-3000:]
    assert sum(": error: " in line for line in lines) == 1, output[-3000:]
    return lines[-1]


def test_a_distributed_search_stops_at_the_failure_limit_and_a_rerun_continues(tiny_fashion_mnist, tmp_path):
    config = tmp_path / "failing_dcgan.py"
    config.write_text(FAILING_CONFIG)
    broken = tmp_path / "broken"
    broken.write_text("")
    directory = str(tmp_path / "search")
    args = [f"--config={config}", "--smoke", "--steps=2", "--eval_samples=32", "--eval_reference_examples=64",
            f"--data_dir={tiny_fashion_mnist}", f"--directory={directory}", "--max_trials=5",
            "--max_consecutive_failures=2"]

    results = _run_search(args, tmp_path, "broken", timeout=420)
    outputs = {tuner_id: output for tuner_id, (_, output) in results.items()}
    assert {tuner_id: code for tuner_id, (code, _) in results.items()} == {"tuner0": 2, "tuner1": 2, "chief": 2}, \
        {tuner_id: output[-3000:] for tuner_id, output in outputs.items()}
    table = _read(os.path.join(directory, "trials.json"))["trials"]
    ids = [row["trial_id"] for row in table]
    # Two failures in a row stop it; a worker that was running a trial then ends that one first.
    assert 2 <= len(ids) <= 1 + len(WORKERS) and ids == [str(number) for number in range(len(ids))], table
    assert all(row["status"] == "FAILED" and "diverged at step 1" in row["reason"] for row in table), table
    ran = {tuner_id: _trials_run(outputs[tuner_id]) for tuner_id in outputs}
    assert ran["chief"] == [] and sorted(ran["tuner0"] + ran["tuner1"]) == ids, ran
    for row in table:  # Recorded as failed by the worker that ran it.
        result = _read(os.path.join(directory, "trials", row["trial_id"], "trial_result.json"))
        assert "diverged at step 1" in result["failed"] and row["trial_id"] in ran[result["tuner_id"]]

    chief_line = _error_line(outputs["chief"])
    stop = re.search(r"search stopped: (2 trials in a row failed \(last: trial (\d+): dcgan diverged at step 1: .*\)); "
                     r"see (\S+)$", chief_line)
    assert stop and stop.group(3) == os.path.join(directory, "trials.md"), chief_line
    assert int(stop.group(2)) in (len(ids) - 2, len(ids) - 1)  # The second failure in a row to end.
    for tuner_id in WORKERS:
        line = _error_line(outputs[tuner_id])
        assert f"worker {tuner_id}: search stopped by the chief: {stop.group(1)}; this worker ran trials " \
               f"{', '.join(ran[tuner_id]) or 'none'}; the chief writes {os.path.join(directory, 'trials.md')}" \
               in line, line
        assert "ran trials" not in outputs[tuner_id].replace(line, "")  # Not the line of a search that ended.
    with open(os.path.join(directory, "trials.md")) as f:
        assert f.read().count("| failed |") == len(ids)
    locks = os.path.join(directory, "locks")  # Every worker's and trial's lock was released.
    assert not os.path.exists(locks) or os.listdir(locks) == [], os.listdir(locks)
    assert not os.path.exists(os.path.join(directory, "best_export.json"))

    # The cause fixed, the same three continue the search: the failed trials are kept, the rest complete.
    broken.unlink()
    results = _run_search(args, tmp_path, "fixed", timeout=420)
    assert all(code == 0 for code, _ in results.values()), {k: out[-3000:] for k, (_, out) in results.items()}
    table = _read(os.path.join(directory, "trials.json"))["trials"]
    assert [row["status"] for row in table] == ["FAILED"] * len(ids) + ["COMPLETED"] * (5 - len(ids)), table
    ran_again = sorted(_trials_run(results["tuner0"][1]) + _trials_run(results["tuner1"][1]))
    assert ran_again == [str(number) for number in range(len(ids), 5)], ran_again
    best = min((row for row in table if row["status"] == "COMPLETED"), key=lambda row: row["objective"])
    assert re.search(rf"^best trial {best['trial_id']}: fid=", results["chief"][1], re.M), results["chief"][1][-3000:]
    assert _read(os.path.join(directory, "best_export.json"))["trial_id"] == best["trial_id"]
