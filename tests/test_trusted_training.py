"""Training that can be trusted: no checkpoint or export from non-finite weights (nan_policy stop
and skip), a resume with a config that changes what the checkpoint means is refused, a damaged
newest checkpoint falls back to the previous one, and a failed write keeps the previous intact."""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from zoo import export, registry, train
from zoo.errors import TrainingDiverged, UserError


def _poison(monkeypatch, model_name, first, last=10**9):
    """Makes `model_name`'s train_step write NaN into one generator weight *after* its update on
    this invocation's steps first..last (1-based): the losses it returns stay finite, so only a
    check of the weights catches it."""
    factory = registry.get(model_name)
    calls = tf.Variable(0, dtype=tf.int64, trainable=False)

    def make(model_config, spec):
        model = factory(model_config, spec)
        original = model.train_step

        def train_step(batch, seed):
            losses = original(batch, seed)
            with tf.control_dependencies(list(losses.values())):
                call = calls.assign_add(1)
            bad = tf.logical_and(call >= first, call <= last)
            weight = model.generator.trainable_variables[0]
            with tf.control_dependencies([weight.assign(tf.where(bad, weight * np.nan, weight))]):
                return {name: tf.identity(value) for name, value in losses.items()}

        model.train_step = train_step
        return model

    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: make if name == model_name else real_get(name))


def _checkpoints(workdir):
    return sorted(os.path.basename(path)[:-len(".index")]
                  for path in glob.glob(os.path.join(workdir, "checkpoints", "ckpt-*.index")))


def _tensors(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "_CHECKPOINTABLE_OBJECT_GRAPH" not in name and not name.startswith(("step/", "save_counter/"))}


def _config(data_dir, **overrides):
    defaults = dict(checkpoint_every=1, log_every=100, image_every=0, keep_checkpoints=10)
    return helpers.smoke_config("mlp_gan", data_dir, **{**defaults, **overrides})


@pytest.fixture(scope="module")
def two_step_run(tiny_fashion_mnist, tmp_path_factory):
    """A 2-step mlp_gan run (ckpt-1, ckpt-2), trained once for this module; tests resume copies of it."""
    workdir = str(tmp_path_factory.mktemp("two_step") / "run")
    train.train_and_evaluate(_config(tiny_fashion_mnist, train_steps=2), workdir)
    return workdir


def _copy_of(run, tmp_path):
    workdir = str(tmp_path / "run")
    shutil.copytree(run, workdir)
    return workdir


def test_non_finite_weights_stop_the_run_at_their_step_and_reach_no_checkpoint(tiny_fashion_mnist, tmp_path,
                                                                                monkeypatch):
    _poison(monkeypatch, "mlp_gan", first=3)
    workdir, exports = str(tmp_path / "run"), str(tmp_path / "exports")
    with pytest.raises(TrainingDiverged) as raised:
        train.train_and_evaluate(_config(tiny_fashion_mnist, train_steps=6), workdir, export_dir=exports)
    message = str(raised.value)
    assert "diverged at step 3" in message and message.endswith("ckpt-2 (rerun the same command to resume from it)")
    assert _checkpoints(workdir) == ["ckpt-1", "ckpt-2"]
    for name in _checkpoints(workdir):
        assert all(np.all(np.isfinite(value)) for value in _tensors(os.path.join(workdir, "checkpoints", name)).values()
                   if value.dtype.kind == "f")
    assert not os.path.exists(os.path.join(exports, "mlp_gan_fashion_mnist"))


def test_skip_drops_a_non_finite_update_and_training_goes_on(tiny_fashion_mnist, tmp_path, monkeypatch, capsys):
    _poison(monkeypatch, "mlp_gan", first=3, last=3)
    workdir = str(tmp_path / "run")
    config = _config(tiny_fashion_mnist, train_steps=5, log_every=1, nan_policy="skip")
    result = train.train_and_evaluate(config, workdir)
    assert result.step == 5 and result.skipped_updates == 1
    out = capsys.readouterr().out
    assert "step 3/5" in out and "skipped 1" in out.split("step 3/5")[1].splitlines()[0]
    assert "skipped 1 non-finite updates" in out.strip().splitlines()[-1]
    before, after, later = (_tensors(os.path.join(workdir, "checkpoints", f"ckpt-{n}")) for n in (2, 3, 4))
    assert before.keys() == after.keys()
    for name in before:  # Step 3's update, optimizer state included, was dropped as a whole.
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    assert any(not np.array_equal(after[name], later[name]) for name in after)  # Step 4 trained again.
    events = glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents*"))
    skipped = [float(tf.make_ndarray(value.tensor)) for path in events
               for event in tf.compat.v1.train.summary_iterator(path) for value in event.summary.value
               if value.tag == "train/skipped_updates"]
    assert skipped == [1.0]


def test_skip_stops_after_too_many_in_a_row(tiny_fashion_mnist, tmp_path, monkeypatch):
    _poison(monkeypatch, "mlp_gan", first=2)
    workdir = str(tmp_path / "run")
    config = _config(tiny_fashion_mnist, train_steps=20, nan_policy="skip", max_skipped_updates=3)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 4: 3 non-finite updates in a row skipped "
                                               r"\(steps 2-4, max_skipped_updates=3\).*ckpt-3 \(rerun"):
        train.train_and_evaluate(config, workdir)
    # Skipped steps keep the weights of step 1: the later saves hold those (finite) weights.
    assert _checkpoints(workdir) == ["ckpt-1", "ckpt-2", "ckpt-3"]
    first, third = (_tensors(os.path.join(workdir, "checkpoints", f"ckpt-{n}")) for n in (1, 3))
    for name in first:
        np.testing.assert_array_equal(first[name], third[name], err_msg=name)


def test_unknown_nan_policy_is_refused(tiny_fashion_mnist, tmp_path):
    with pytest.raises(UserError, match="nan_policy 'ignore' is not known; allowed: stop, skip"):
        train.train_and_evaluate(_config(tiny_fashion_mnist, nan_policy="ignore"), str(tmp_path / "run"))


def test_export_refuses_non_finite_weights(tiny_fashion_mnist, tmp_path):
    workdir = str(tmp_path / "run")
    train.train_and_evaluate(_config(tiny_fashion_mnist, train_steps=1), workdir)
    model, _, _ = train.restore_model(workdir)
    weight = model.generator.trainable_variables[-1]
    weight.assign(weight * np.inf)
    with pytest.raises(TrainingDiverged, match=f"refusing to export m: {weight.path} holds non-finite values"):
        export.export_model(model, str(tmp_path / "exports"), "m")
    assert os.listdir(tmp_path / "exports" / "m") == []


@pytest.mark.parametrize("key,value,recorded", [
    ("batch_size", 4, "8"),
    ("seed", 3, "0"),
    ("model_config.latent_dim", 7, None),
    ("channels", 3, "None"),
])
def test_a_resume_that_changes_what_the_checkpoint_means_is_refused(tiny_fashion_mnist, two_step_run, tmp_path, key,
                                                                     value, recorded):
    workdir = _copy_of(two_step_run, tmp_path)
    before = open(os.path.join(workdir, "config.json")).read()
    config = _config(tiny_fashion_mnist, train_steps=4)
    if key.startswith("model_config."):
        recorded = repr(config.model_config[key.split(".")[1]])
        config.model_config[key.split(".")[1]] = value
    else:
        config[key] = value
    with pytest.raises(UserError, match=rf"was trained with {key}={recorded}, this run asks for {key}={value}"):
        train.train_and_evaluate(config, workdir)
    assert open(os.path.join(workdir, "config.json")).read() == before
    assert _checkpoints(workdir) == ["ckpt-1", "ckpt-2"]


def test_a_resume_may_change_steps_logging_cadence_and_budget(tiny_fashion_mnist, two_step_run, tmp_path):
    workdir = _copy_of(two_step_run, tmp_path)
    config = _config(tiny_fashion_mnist, train_steps=3, log_every=1, checkpoint_every=3, image_every=3,
                     max_train_seconds=600, eval_every=0, nan_policy="skip")
    assert train.train_and_evaluate(config, workdir).step == 3
    assert json.load(open(os.path.join(workdir, "config.json")))["train_steps"] == 3


def _damage(path):
    data_file, = glob.glob(path + ".data-*")
    with open(data_file, "r+b") as f:
        f.truncate(os.path.getsize(data_file) // 2)


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tiny_fashion_mnist, tmp_path, capsys):
    straight = str(tmp_path / "straight")
    train.train_and_evaluate(_config(tiny_fashion_mnist, train_steps=6, checkpoint_every=2), straight)
    workdir = str(tmp_path / "run")
    train.train_and_evaluate(_config(tiny_fashion_mnist, train_steps=4, checkpoint_every=2), workdir)
    _damage(os.path.join(workdir, "checkpoints", "ckpt-4"))
    with open(os.path.join(workdir, "checkpoints", "checkpoint"), "w") as f:
        f.write("garbage")  # The state file too: checkpoints are found by their files.
    capsys.readouterr()
    result = train.train_and_evaluate(_config(tiny_fashion_mnist, train_steps=6, checkpoint_every=2), workdir)
    out = capsys.readouterr().out
    warning, = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "ckpt-4 is unreadable" in warning and "resuming from ckpt-2 instead" in warning
    assert "moved to " + os.path.join(workdir, "checkpoints", "damaged") in warning
    assert "resuming mlp_gan from step 2" in out and result.step == 6
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints", "damaged"))) == [
        "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    # The resumed timeline equals the straight one: steps 3..6 were trained from ckpt-2 exactly.
    a, b = (_tensors(os.path.join(run, "checkpoints", "ckpt-6")) for run in (straight, workdir))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("ckpt-6")


def test_no_readable_checkpoint_is_refused_in_one_line(tiny_fashion_mnist, two_step_run, tmp_path):
    workdir = _copy_of(two_step_run, tmp_path)
    assert _checkpoints(workdir) == ["ckpt-1", "ckpt-2"]
    for name in ("ckpt-1", "ckpt-2"):
        _damage(os.path.join(workdir, "checkpoints", name))
    with pytest.raises(UserError, match=r"no usable checkpoint in .*\(ckpt-2 is unreadable \(.*\); ckpt-1 is "
                                        r"unreadable \(.*\)\): pass a new --workdir"):
        train.train_and_evaluate(_config(tiny_fashion_mnist, train_steps=4), workdir)


@pytest.mark.integration  # a file-size limit on a fresh process
def test_a_failed_checkpoint_write_keeps_the_previous_one_and_says_so(tiny_fashion_mnist, tmp_path):
    """A real write error: a per-file size limit (RLIMIT_FSIZE) the checkpoint's data file exceeds
    while the small files (records, event log) stay under it, as on a disk that fills up."""
    workdir = str(tmp_path / "run")
    args = ["--model=mlp_gan", "--smoke", f"--data_dir={tiny_fashion_mnist}", f"--workdir={workdir}",
            "--export_dir=", "--set=checkpoint_every=2", "--set=image_every=0"]
    first = helpers.run_binary("train", *args, "--train_steps=2")
    assert first.returncode == 0, first.stderr
    data_file, = glob.glob(os.path.join(workdir, "checkpoints", "ckpt-2.data-*"))
    limit = os.path.getsize(data_file) // 2
    assert max(os.path.getsize(path) for path in glob.glob(os.path.join(workdir, "*.json"))) < limit
    limited = helpers.run_python(
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        f"sys.argv = ['zoo-train'] + {args + ['--train_steps=4']!r}\n"
        "from experiments.train import run\n"
        "sys.exit(run())\n")
    helpers.assert_one_line_error(limited, "could not write checkpoint ckpt-4 in", "File too large",
                                  "the previous checkpoint", "ckpt-2 is intact", "rerun the same command to resume")
    assert _checkpoints(workdir) == ["ckpt-2"]
    assert not glob.glob(os.path.join(workdir, "checkpoints", "ckpt-4*"))
    assert train.checkpoint_problem(os.path.join(workdir, "checkpoints", "ckpt-2")) is None
    again = helpers.run_binary("train", *args, "--train_steps=4")
    assert again.returncode == 0, again.stderr
    assert "resuming mlp_gan from step 2" in again.stdout and _checkpoints(workdir) == ["ckpt-2", "ckpt-4"]


def test_jit_compile_over_several_cpu_replicas_is_refused_in_one_line(tiny_fashion_mnist, tmp_path):
    """XLA cannot run a step mirrored over logical CPU devices (it reads a variable of CPU:1 from
    CPU:0): refused before anything is written, instead of a traceback from the first step."""
    strategy = train.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    with pytest.raises(UserError, match="jit_compile=True with 2 replicas on CPU devices fails in XLA"):
        train.train_and_evaluate(_config(tiny_fashion_mnist, jit_compile=True), str(tmp_path / "run"), strategy=strategy)
    assert not os.path.exists(tmp_path / "run" / "checkpoints")
