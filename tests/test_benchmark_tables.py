"""benchmarks/make_table.py: the date/machine labels of quality rows and the search table.

The script is loaded as a script (runpy), not imported: benchmarks/ is no package."""

import os
import runpy
import types

from tests.helpers import REPO

make_table = types.SimpleNamespace(**runpy.run_path(os.path.join(REPO, "benchmarks", "make_table.py"),
                                                    run_name="make_table"))


def _row(name, date, machine_id=None, recorded_at=None, fid=50.0):
    row = {"name": name, "date": date, "metrics": {"fid": fid}}
    if machine_id:
        row.update(machine_id=machine_id, recorded_at=recorded_at)
    return row


def test_rows_of_one_date_from_two_machines_get_letters_in_recording_order():
    rows = [_row("late", "2026-12-01", "ffff0000", "2026-12-01T15:00:00"),
            _row("early", "2026-12-01", "00001111", "2026-12-01T09:00:00"),
            _row("unrecorded", "2026-12-01"),
            _row("early_too", "2026-12-01", "00001111", "2026-12-01T09:30:00"),
            _row("alone", "2026-11-28")]
    labels = {row["name"]: label for row, label in zip(rows, (make_table.run_labels(rows)[id(row)] for row in rows))}
    assert labels == {"unrecorded": "2026-12-01 a", "early": "2026-12-01 b", "early_too": "2026-12-01 b",
                      "late": "2026-12-01 c", "alone": "2026-11-28"}


def test_a_machine_whose_runs_cross_midnight_keeps_the_label_of_its_first_day():
    rows = [_row("a", "2026-12-01", "00001111", "2026-12-01T09:00:00"),
            _row("b", "2026-12-01", "ffff0000", "2026-12-01T15:00:00"),
            _row("b_after_midnight", "2026-12-02", "ffff0000", "2026-12-02T00:13:54"),
            _row("c_next_day", "2026-12-02", "12345678", "2026-12-02T10:00:00")]
    labels = {row["name"]: label for row, label in zip(rows, (make_table.run_labels(rows)[id(row)] for row in rows))}
    assert labels == {"a": "2026-12-01 a", "b": "2026-12-01 b", "b_after_midnight": "2026-12-01 b",
                      "c_next_day": "2026-12-02"}


def test_the_search_table_ranks_completed_trials_and_names_the_failed():
    result = {"config": "dcgan_fashion_mnist_fast", "command": "python benchmarks/search.py", "minutes": 10.0,
              "split": "validation", "eval_samples": 2000, "eval_reference_examples": 10000, "date": "2026-12-01",
              "machine": "x86_64 2 cores", "best": {"trial_id": "1"},
              "trials": [{"trial_id": "0", "objective": 80.0, "steps": 100, "hyperparameters": {"loss": "hinge"}},
                         {"trial_id": "2", "objective": None, "steps": 7, "reason": "NaN at step 7",
                          "hyperparameters": {"loss": "hinge", "ema_decay": 0.999}},
                         {"trial_id": "1", "objective": 63.51294, "steps": 200,
                          "hyperparameters": {"loss": "least_squares", "ema_decay": 0.0}}]}
    lines = make_table.search_table(result)
    assert lines[0] == "| trial | validation FID ↓ | steps | loss | ema_decay |"
    assert [line.split(" | ")[0] for line in lines[2:5]] == ["| 1", "| 0", "| 2"]
    assert lines[2] == "| 1 | 63.51 | 200 | least_squares | 0 |"
    assert "failed: NaN at step 7" in lines[4] and "trial 1's values" in lines[-1]


def _quality_row(name, minutes, machine_id, recorded_at, fid):
    row = _row(name, "2026-12-01", machine_id, recorded_at, fid)
    row.update(split="test", steps=100, images_per_second=10.0, budget_minutes=minutes, machine="x86_64 2 cores",
               num_samples=10000, feature_model={"hash": "abc"}, command=f"quality.py --minutes={minutes}",
               train_data="train")
    row["metrics"].update(kid_mean=1.0, kid_std=0.1, precision=0.5, recall=0.5, density=0.5, coverage=0.5)
    return row


def test_a_machine_keeps_its_letter_in_a_budget_table_where_it_is_alone():
    rows = [_quality_row("a10", 10, "00001111", "2026-12-01T09:00:00", 90.0),
            _quality_row("b10", 10, "ffff0000", "2026-12-01T15:00:00", 60.0),
            _quality_row("b60", 60, "ffff0000", "2026-12-01T16:00:00", 30.0)]
    labels = make_table.run_labels(rows)
    sixty = make_table.quality_table([rows[2]], labels)
    assert sixty[2].startswith("| b60 | test | 2026-12-01 b | 100 |")
    # Labelled alone, the one machine of the table would lose its letter.
    assert make_table.quality_table([rows[2]])[2].startswith("| b60 | test | 2026-12-01 | 100 |")
    ten = make_table.quality_table(rows[:2], labels)
    assert [line.split(" | ")[:3] for line in ten[2:4]] == [["| b10", "test", "2026-12-01 b"],
                                                              ["| a10", "test", "2026-12-01 a"]]
