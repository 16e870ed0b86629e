"""The binaries end to end, and the one-line errors a user gets for bad input."""

import json
import re
import os

import pytest

from tests import helpers


def test_train_export_sample_end_to_end(tiny_fashion_mnist, tmp_path):
    workdir, exports = tmp_path / "run", tmp_path / "exports"
    result = helpers.run_binary("train", "--model=dcgan", "--smoke", f"--data_dir={tiny_fashion_mnist}",
                                f"--workdir={workdir}", f"--export_dir={exports}", "--train_steps=3", "--eval_every=3",
                                "--early_stopping_patience=2", "--set=eval_samples=64", "--validation_size=50")
    assert result.returncode == 0, result.stderr
    assert "trained dcgan on fashion_mnist: steps 0->3" in result.stdout
    assert "eval at step 3: fid=" in result.stdout and os.path.exists(workdir / "best")
    # --validation_size: the last 50 of the 256 training images are held out and evaluated on.
    assert "data: fashion_mnist train: 206 images (first 206 of the 256 training images; last 50" in result.stdout
    assert "(64 samples vs fashion_mnist validation)" in result.stdout
    info = json.load(open(exports / "dcgan_fashion_mnist" / "1" / "assets.extra" / "zoo_export.json"))
    assert info["data_options"]["validation_size"] == 50
    assert "--train_steps=3" in open(workdir / "flags.txt").read()
    # zoo-train exported version 1; this export becomes the canary beside a stable version 1.
    result = helpers.run_binary("export", f"--workdir={workdir}", f"--export_dir={exports}", "--label=canary",
                                "--label=stable=1")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(exports / "dcgan_fashion_mnist")) == ["1", "2"]
    assert "dcgan_fashion_mnist served at specific:1,2, labels canary=2, stable=1" in result.stdout
    config = open(exports / "models.config").read()
    assert 'base_path: "/models/dcgan_fashion_mnist"' in config and 'key: "canary"' in config
    assert os.path.exists(exports / "batching_parameters.txt")
    assert os.path.exists(exports / "dcgan_fashion_mnist" / "2" / "assets.extra" / "tf_serving_warmup_requests")
    result = helpers.run_binary("sample", f"--export={exports / 'dcgan_fashion_mnist'}", "--num=4",
                                f"--out={tmp_path / 'grid.png'}")
    assert result.returncode == 0 and os.path.getsize(tmp_path / "grid.png") > 0, result.stderr


def test_user_errors_are_one_line(tiny_fashion_mnist, tmp_path):
    common = [f"--data_dir={tiny_fashion_mnist}", "--smoke", "--export_dir="]
    cases = [
        (["--model=dcgann", f"--workdir={tmp_path / 'a'}"], ["unknown model 'dcgann'", "mlp_gan"]),
        (["--model=dcgan", "--dataset=fashion_mnistt", f"--workdir={tmp_path / 'b'}", "--smoke", "--export_dir="],
         ["unknown dataset 'fashion_mnistt'", "fashion_mnist"]),
        (["--model=dcgan", "--train_steps=0", f"--workdir={tmp_path / 'c'}"], ["train_steps must be a positive"]),
        (["--model=dcgan", f"--workdir={tmp_path / 'd'}", "--set=model_config.nope=1"], ["unknown config key"]),
        (["--model=dcgan"], ["--workdir is required"]),
    ]
    for args, fragments in cases:
        extra = [] if "--smoke" in args else common
        helpers.assert_one_line_error(helpers.run_binary("train", *args, *extra), *fragments)
    assert not any(os.path.exists(tmp_path / name) for name in "abcd")
    missing = tmp_path / "empty"
    missing.mkdir()
    helpers.assert_one_line_error(
        helpers.run_binary("train", "--model=dcgan", f"--workdir={tmp_path / 'e'}", f"--data_dir={missing}", "--smoke"),
        str(missing),
    )
    helpers.assert_one_line_error(helpers.run_binary("export", f"--workdir={tmp_path / 'none'}"), "no checkpoint")
    helpers.assert_one_line_error(helpers.run_binary("sample", f"--export={tmp_path / 'none'}"), "no SavedModel versions")


@pytest.mark.integration  # a signal to a fresh process
def test_sigterm_saves_a_checkpoint_and_the_same_command_resumes(tiny_fashion_mnist, tmp_path):
    import signal
    import subprocess
    import sys

    args = [sys.executable, "-m", "experiments.train", "--model=mlp_gan", "--smoke", f"--workdir={tmp_path}",
            f"--data_dir={tiny_fashion_mnist}", "--train_steps=100000", "--export_dir=",
            "--set=checkpoint_every=100000"]
    process = subprocess.Popen(args, cwd=helpers.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    for line in process.stdout:
        if line.startswith("step 20/"):
            break
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("stopped mlp_gan") and "rerun the same command to resume" in summary, out
    stopped_at = int(summary.split("->")[1].split()[0])
    assert stopped_at >= 20
    result = helpers.run_binary("train", *args[3:7], "--train_steps=" + str(stopped_at + 2), "--export_dir=")
    assert result.returncode == 0, result.stderr
    assert f"resuming mlp_gan from step {stopped_at}" in result.stdout
    assert f"steps {stopped_at}->{stopped_at + 2}" in result.stdout


# What TensorFlow prints on its own: absl's C++ lines ("I0000 00:00:..." / "E1207 ..."), the notice
# before them, and Python-side tf_logging warnings (deprecations, retracing).
TENSORFLOW_NOISE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|"
                              r"WARNING:tensorflow:|Instructions for updating:)", re.MULTILINE)


@pytest.mark.integration  # a fresh process: TensorFlow's start-up lines are printed once per process
def test_commands_print_no_tensorflow_noise_by_default(tiny_fashion_mnist, tmp_path):
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_")}  # A user's shell.
    exports = tmp_path / "exports"
    commands = [
        ["train", "--model=dcgan", "--smoke", f"--data_dir={tiny_fashion_mnist}", f"--workdir={tmp_path / 'run'}",
         f"--export_dir={exports}", "--train_steps=2"],  # Trains, exports and replays the warm-up in a session.
        ["sample", f"--export={exports / 'dcgan_fashion_mnist'}", "--num=4", f"--out={tmp_path / 'grid.png'}"],
    ]
    for command in commands:
        result = subprocess.run([sys.executable, "-m", f"experiments.{command[0]}", *command[1:]], cwd=helpers.REPO,
                                env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        noise = TENSORFLOW_NOISE.findall(result.stdout + result.stderr)
        assert not noise, f"zoo-{command[0]} printed TensorFlow's own lines:\n{result.stderr}"
    verbose = subprocess.run([sys.executable, "-m", "experiments.sample", *commands[1][1:], "--verbosity=0"],
                             cwd=helpers.REPO, env=env, capture_output=True, text=True, timeout=600)
    assert verbose.returncode == 0, verbose.stderr
    assert "WARNING: All log messages before absl" in verbose.stderr  # --verbosity shows them: the check can fail.
