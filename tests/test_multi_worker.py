"""--strategy=multi_worker: two worker processes on loopback (TF_CONFIG) train like one process.

Each worker has one CPU replica and reads its half of every global batch; randomness is drawn for
the global batch (zoo.models.base) and batch statistics are synchronized, so two workers at a
global batch of 8 follow the single-process run at batch 8. Only the chief writes to the workdir.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from zoo import train

pytestmark = pytest.mark.integration  # Two worker processes on loopback.



def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(args):
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen([sys.executable, "-m", "experiments.train", *args], cwd=helpers.REPO,
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return processes


def _finish(processes):
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    return [process.returncode for process in processes], outputs


def test_two_workers_on_loopback_stop_together_resume_and_equal_one_process(tiny_fashion_mnist, tmp_path):
    workdir, exports = str(tmp_path / "workers"), str(tmp_path / "exports")
    args = ["--model=dcgan", "--smoke", f"--data_dir={tiny_fashion_mnist}", f"--workdir={workdir}",
            f"--export_dir={exports}", "--set=checkpoint_every=1000", "--set=image_every=2",
            "--set=model_config.ema_decay=0.9", "--strategy=multi_worker"]

    # A signal to the non-chief worker stops both after the same step: the chief saves and says why.
    processes = _start_workers([*args, "--train_steps=1000"])
    seen = []
    for line in processes[1].stdout:
        seen.append(line)
        if line.startswith("step 2/"):
            processes[1].send_signal(signal.SIGTERM)
            break
    codes, outputs = _finish(processes)
    outputs[1] = "".join(seen) + outputs[1]
    assert codes == [130, 130], outputs
    assert "another worker was stopped; rerun the same command to resume" in outputs[0]
    stopped = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    step = int(stopped.rsplit("-", 1)[1])
    assert step >= 2 and f"steps 0->{step}" in outputs[0] and f"steps 0->{step}" in outputs[1]
    assert not os.path.exists(exports)

    # Rerunning resumes on both workers and finishes; only the chief (worker 0) wrote: one set of
    # checkpoints, records, grids and one export, and worker 1's temporary checkpoints are gone.
    final = step + 2
    codes, outputs = _finish(_start_workers([*args, f"--train_steps={final}"]))
    assert codes == [0, 0], outputs
    assert all(f"resuming dcgan from step {step}" in output and f"steps {step}->{final}" in output
               for output in outputs)
    assert sorted(os.listdir(workdir)) == ["checkpoints", "config.json", "flags.txt", "run.json", "samples",
                                           "tensorboard"]
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(workdir, "checkpoints", "ckpt-*.index"))) == [
        f"ckpt-{step}.index", f"ckpt-{final}.index"]
    assert os.listdir(os.path.join(exports, "dcgan_fashion_mnist")) == ["1"]
    # run.json: the chief alone recorded each invocation, once (the stopped one too).
    with open(os.path.join(workdir, "run.json")) as f:
        record = json.load(f)
    assert [(run["start_step"], run["end_step"], run["stop"]) for run in record["invocations"]] == [
        (0, step, "stopped_by_peer"), (step, final, "completed")]
    assert record["steps"] == final

    # The same global batch in one process (default strategy, one replica) reaches the same model.
    # Tolerance 1e-5: float32 sums of the two half-batch gradients and of the synchronized batch
    # statistics round differently from one sum over the batch; measured, every weight agreed within
    # 1.1e-6 after 4 steps, and the networks' outputs within that too. Exempt: the biases of the
    # discriminator's convolutions that feed batch normalization, which the loss cannot see (the
    # batch statistics subtract them again): their gradient is rounding noise that Adam normalizes
    # into +-lr steps, so they wander (measured 9.4e-5) without changing a training-mode output.
    single = str(tmp_path / "single")
    config = helpers.smoke_config("dcgan", tiny_fashion_mnist, train_steps=final, checkpoint_every=1000,
                                  image_every=0)
    config.model_config.ema_decay = 0.9
    train.train_and_evaluate(config, single)
    (ours, _, ours_step), (theirs, _, their_step) = train.restore_model(workdir), train.restore_model(single)
    assert ours_step == their_step == final
    blind = {id(conv.bias) for conv, norm in zip(ours.discriminator.convs[1:], ours.discriminator.norms)
             if "Normalization" in type(norm).__name__}
    assert blind  # The exemption names real variables.
    for network in ("generator", "ema_generator", "discriminator"):
        for a, b in zip(getattr(ours, network).variables, getattr(theirs, network).variables):
            if id(a) not in blind:
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5, err_msg=f"{network} {a.path}")
    z = tf.random.stateless_normal([16, ours.latent_dim], seed=[1, 2])
    for network in ("generator", "ema_generator"):
        np.testing.assert_allclose(getattr(ours, network)(z).numpy(), getattr(theirs, network)(z).numpy(),
                                   rtol=0, atol=1e-5, err_msg=network)
    images = theirs.generator(z)  # The discriminator as training uses it: batch statistics.
    np.testing.assert_allclose(ours.discriminator(images, training=True).numpy(),
                               theirs.discriminator(images, training=True).numpy(), rtol=0, atol=1e-5)
