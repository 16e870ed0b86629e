"""Nothing a user does by accident corrupts a run or shadows a shipped model (issue 32): one run per
workdir (zoo.locks: a second is refused naming the holder, a lock left by a killed process is
taken over), and a default training or evaluation from the repository writes nothing into exports/."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from tests import helpers
from zoo import locks, train, tune
from zoo.errors import UserError

EXPORTS = os.path.join(helpers.REPO, "exports")
# A process that holds a directory's lock until it is killed.
HOLDER = "import sys, time\nfrom zoo import locks\nwith locks.hold(sys.argv[1]):\n    print('held', flush=True)\n" \
         "    time.sleep(600)\n"


def _holder(directory):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], cwd=helpers.REPO,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def _train_args(data_dir, workdir):
    return ["--model=mlp_gan", "--smoke", f"--data_dir={data_dir}", f"--workdir={workdir}", "--export_dir=",
            "--set=checkpoint_every=5", "--set=image_every=0"]


@pytest.mark.integration  # two processes on one workdir
def test_a_second_trainer_on_a_workdir_in_use_is_refused_and_the_first_finishes_intact(tiny_fashion_mnist, tmp_path):
    workdir = tmp_path / "run"
    args = _train_args(tiny_fashion_mnist, workdir)
    first = subprocess.Popen([sys.executable, "-m", "experiments.train", *args, "--train_steps=100000"],
                             cwd=helpers.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    try:
        for line in first.stdout:
            if line.startswith("step 20/"):
                break
        holder = json.load(open(workdir / locks.LOCK_FILE))
        assert (holder["pid"], holder["host"]) == (first.pid, socket.gethostname())
        second = helpers.run_binary("train", *args, "--train_steps=3")
        helpers.assert_one_line_error(second, f"workdir '{workdir}' is in use by process {first.pid} on host "
                                      f"{socket.gethostname()} (train.py, since {holder['started']})",
                                      "pass another --workdir")
        # zoo-export reads no checkpoint of a run in progress either.
        helpers.assert_one_line_error(helpers.run_binary("export", f"--workdir={workdir}",
                                                         f"--export_dir={tmp_path / 'exports'}"),
                                      f"is in use by process {first.pid}")
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    stopped_at = int(out.strip().splitlines()[-1].split("->")[1].split()[0])
    # The first run's records and checkpoints are its own and whole: it resumes from where it stopped.
    assert "--train_steps=100000" in open(workdir / "flags.txt").read()
    assert not os.path.exists(workdir / locks.LOCK_FILE) and not os.path.exists(tmp_path / "exports")
    assert train.restore_model(str(workdir))[2] == stopped_at
    again = helpers.run_binary("train", *args, f"--train_steps={stopped_at + 1}")
    assert again.returncode == 0, again.stderr
    assert f"resuming mlp_gan from step {stopped_at}" in again.stdout and "took over" not in again.stdout


def test_a_lock_left_by_a_killed_process_is_taken_over_and_said(tiny_fashion_mnist, tmp_path, capsys):
    workdir = tmp_path / "run"
    holder = _holder(workdir)
    with pytest.raises(UserError, match=f"workdir '{workdir}' is in use by process {holder.pid} on host "):
        train.train_and_evaluate(helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=2), str(workdir))
    assert os.listdir(workdir) == [locks.LOCK_FILE]  # The refused run wrote nothing.
    holder.kill()  # SIGKILL: no clean-up runs, the lock file stays; the kernel releases the lock.
    holder.wait()
    assert json.load(open(workdir / locks.LOCK_FILE))["pid"] == holder.pid
    result = train.train_and_evaluate(helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=2), str(workdir))
    assert result.step == 2
    taken = [line for line in capsys.readouterr().out.splitlines() if line.startswith("took over")]
    assert len(taken) == 1 and f"process {holder.pid} on host {socket.gethostname()}" in taken[0]
    assert "is no longer running" in taken[0]
    assert not os.path.exists(workdir / locks.LOCK_FILE)


def test_a_refused_run_leaves_no_workdir_and_tune_holds_its_directory(tiny_fashion_mnist, tmp_path):
    # Refused before it wrote anything: the workdir the lock created is gone again.
    with pytest.raises(UserError):
        train.train_and_evaluate(helpers.smoke_config("mlp_gan", str(tmp_path / "no_data")), str(tmp_path / "a" / "b"))
    assert not os.path.exists(tmp_path / "a")
    directory = tmp_path / "search"
    holder = _holder(directory)
    try:
        with pytest.raises(UserError, match=f"search directory '{directory}' is in use by process {holder.pid}.*"
                                            f"--directory"):
            tune.run_search(tune.Search(model="dcgan", smoke=True, data_dir=tiny_fashion_mnist), str(directory))
    finally:
        holder.kill()
        holder.wait()


def _tree(root):
    """{path: (size, mtime)} of everything under `root`, ignored files included."""
    return {os.path.join(folder, name): (os.path.getsize(os.path.join(folder, name)),
                                         os.path.getmtime(os.path.join(folder, name)))
            for folder, folders, files in os.walk(root) for name in files + folders}


def _git_status():
    result = subprocess.run(["git", "status", "--porcelain", "--ignored", "--", "exports"], cwd=helpers.REPO,
                            capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


@pytest.mark.integration  # the installed command in a fresh process
def test_a_default_training_from_the_repository_exports_into_its_run(tiny_fashion_mnist, tmp_path):
    """From the repository root, zoo-train without --export_dir exports into <workdir>/exports and
    zoo-eval without --out records beside the run (or, for a shipped export, under runs/eval of the
    current directory): exports/ is untouched, ignored files included."""
    before, status = _tree(EXPORTS), _git_status()
    workdir = tmp_path / "run"
    result = helpers.run_binary("train", "--model=dcgan", "--smoke", f"--data_dir={tiny_fashion_mnist}",
                                f"--workdir={workdir}", "--train_steps=2", "--set=image_every=0")
    assert result.returncode == 0, result.stderr
    assert f"export {workdir}/exports/dcgan_fashion_mnist/1" in result.stdout
    assert os.listdir(workdir / "exports" / "dcgan_fashion_mnist") == ["1"]
    evaluation = ["--num_samples=64", "--reference_examples=64", f"--data_dir={tiny_fashion_mnist}"]
    result = helpers.run_binary("evaluate", f"--export={workdir / 'exports' / 'dcgan_fashion_mnist'}", *evaluation)
    assert result.returncode == 0, result.stderr
    record = workdir / "eval" / "dcgan_fashion_mnist-1-fashion_mnist-test.json"
    assert result.stdout.strip().endswith(f"-> {record}") and json.load(open(record))["num_samples"] == 64
    # A shipped export (not in a run) records under runs/eval of the current directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--export={EXPORTS}/dcgan_fashion_mnist",
                             *evaluation], cwd=elsewhere, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=helpers.REPO))
    assert result.returncode == 0, result.stderr
    version = sorted(os.listdir(os.path.join(EXPORTS, "dcgan_fashion_mnist")))[-1]
    assert os.path.exists(elsewhere / "runs" / "eval" / f"dcgan_fashion_mnist-{version}-fashion_mnist-test.json")
    assert _tree(EXPORTS) == before and _git_status() == status
