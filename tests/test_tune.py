"""zoo-tune: every tuner on tiny budgets, resume after an interruption, failed trials, the best
trial's export and model card, and the bad-input one-liners."""

import json
import math
import os

import pytest
import tensorflow as tf

from tests import helpers
from zoo import data, train, tune
from zoo.errors import TrainingDiverged, UserError


def _search(data_dir, **overrides):
    settings = {"model": "dcgan", "tuner": "random", "objective": "fid", "max_trials": 2, "steps": 2,
                "eval_samples": 32, "eval_reference_examples": 64, "data_dir": data_dir, "smoke": True}
    settings.update(overrides)
    return tune.Search(**settings)


def _read(path):
    with open(path) as f:
        return json.load(f)


def _counting_trainer(monkeypatch, before=None):
    """Wraps the trainer the trials call; `before(call_number, config)` may change or refuse a run."""
    real, calls = train.train_and_evaluate, []

    def trainer(config, workdir, *args, **kwargs):
        calls.append(os.path.basename(workdir))
        if before is not None:
            before(len(calls), config)
        return real(config, workdir, *args, **kwargs)

    monkeypatch.setattr(train, "train_and_evaluate", trainer)
    return calls


def test_random_search_exports_the_best_trial_with_a_model_card(tiny_fashion_mnist, tmp_path):
    directory, exports = str(tmp_path / "search"), str(tmp_path / "exports")
    outcome = tune.run_search(_search(tiny_fashion_mnist), directory, exports)
    rows = _read(os.path.join(directory, "trials.json"))["trials"]
    assert [row["status"] for row in rows] == ["COMPLETED", "COMPLETED"]
    assert all(math.isfinite(row["objective"]) and row["steps"] == 2 for row in rows)
    # Trials differ (the space is really sampled) and each workdir keeps its TensorBoard logs.
    assert rows[0]["hyperparameters"] != rows[1]["hyperparameters"]
    for row in rows:
        assert os.listdir(os.path.join(directory, "trials", row["trial_id"], "tensorboard"))
    best = min(rows, key=lambda row: row["objective"])
    assert outcome["best"]["trial_id"] == best["trial_id"]
    assert outcome["export"] == os.path.join(exports, "dcgan_fashion_mnist", "1")
    card = _read(os.path.join(outcome["export"], "assets.extra", "model_card.json"))
    assert card["trial_id"] == best["trial_id"] and card["step"] == 2
    assert card["objective"] == {"name": "fid", "value": best["objective"], "direction": "min", "eval_samples": 32,
                                 "split": "validation"}
    # Trials are scored on the validation split held out of train (43 of the tiny 256), never on test.
    assert _read(os.path.join(directory, "trials.json"))["split"] == "validation"
    for row in rows:
        result = _read(os.path.join(directory, "trials", row["trial_id"], "trial_result.json"))
        assert result["split"] == result["evaluation"]["split"] == "validation"
        reference = result["evaluation"]["reference"]
        assert reference["num_examples"] == 43 and "fashion_mnist validation: 43 images" in reference["description"]
        assert "held out of train" in reference["description"]
    assert card["hyperparameters"] == best["hyperparameters"]
    assert card["config"]["model_config"]["latent_dim"] == best["hyperparameters"]["latent_dim"]
    assert len(card["trials"]) == 2
    with open(os.path.join(directory, "trials.md")) as f:
        table = f.read()
    assert "generator_learning_rate" in table and f"{best['objective']:.4f}" in table
    loaded = tf.saved_model.load(outcome["export"])
    images = loaded.signatures["serving_default"](seed=tf.constant([0, 1], tf.int64))["images"]
    assert images.shape == (2, 28, 28, 1)
    # The same search in another directory samples the same trials (the tuner is seeded).
    twin = tune.run_search(_search(tiny_fashion_mnist), str(tmp_path / "twin"), export_dir=None)
    assert [row["hyperparameters"] for row in twin["rows"]] == [row["hyperparameters"] for row in rows]
    # A rerun of the finished search trains nothing and writes no second version.
    again = tune.run_search(_search(tiny_fashion_mnist), directory, exports)
    assert again["export"] == outcome["export"] and sorted(os.listdir(os.path.dirname(outcome["export"]))) == ["1"]


def test_a_search_from_a_named_config_uses_its_space_defaults_and_export_name(tiny_fashion_mnist, tmp_path):
    """--config searches another config of a model (here the per-CPU-minute DCGAN, whose space
    includes the batch size) and exports under that config's export name; the config is part of
    what a rerun must match."""
    directory, exports = str(tmp_path / "search"), str(tmp_path / "exports")
    outcome = tune.run_search(_search(tiny_fashion_mnist, config="dcgan_fashion_mnist_fast", max_trials=1),
                              directory, exports)
    (row,) = outcome["rows"]
    assert row["status"] == "COMPLETED" and row["hyperparameters"]["batch_size"] in (8, 16)
    config = _read(os.path.join(directory, "trials", row["trial_id"], "config.json"))
    assert config["batch_size"] == row["hyperparameters"]["batch_size"]
    assert config["model_config"]["kernel_size"] == row["hyperparameters"]["kernel_size"]
    assert outcome["export"] == os.path.join(exports, "dcgan_fashion_mnist_fast", "1")
    assert _read(os.path.join(directory, tune.search.SEARCH_FILE))["config"] == "dcgan_fashion_mnist_fast"
    with pytest.raises(UserError, match="holds a different search \\(config='dcgan_fashion_mnist_fast', not None"):
        tune.search.check_directory(directory, _search(tiny_fashion_mnist, max_trials=1))
    with pytest.raises(UserError, match="config 'sngan_fashion_mnist' trains 'sngan', not --model=dcgan"):
        tune.search.base_config(_search(tiny_fashion_mnist, config="sngan_fashion_mnist"))
    with pytest.raises(UserError, match="unknown config 'nope'; available configs: "):
        tune.search.base_config(_search(tiny_fashion_mnist, config="nope"))


@pytest.mark.slow  # The Bayesian tuner's plumbing is the random one's; this is a second end-to-end search.
def test_bayesian_search_of_a_likelihood_model(tiny_fashion_mnist, tmp_path):
    directory = str(tmp_path / "search")
    outcome = tune.run_search(_search(tiny_fashion_mnist, model="vae", tuner="bayesian", objective="bits_per_dim"),
                              directory, export_dir=None)
    rows = outcome["rows"]
    assert [row["status"] for row in rows] == ["COMPLETED", "COMPLETED"]
    for row in rows:
        result = _read(os.path.join(directory, "trials", row["trial_id"], "trial_result.json"))
        assert result["value"] == row["objective"] == result["evaluation"]["likelihood"]["nll"]["bits_per_dim"]
        assert 0 < row["objective"] < 100


def test_hyperband_promotes_a_trial_from_its_parents_checkpoint(tiny_fashion_mnist, tmp_path, capsys):
    directory = str(tmp_path / "search")
    search = _search(tiny_fashion_mnist, tuner="hyperband", max_trials=3, steps=4, hyperband_max_epochs=2,
                     hyperband_factor=2)
    rows = tune.run_search(search, directory, export_dir=None)["rows"]
    assert [row["steps"] for row in rows] == [2, 2, 4]
    promoted = rows[2]
    parent = min(rows[:2], key=lambda row: row["objective"])
    assert promoted["parent"] == parent["trial_id"] and promoted["hyperparameters"] == parent["hyperparameters"]
    assert "resuming dcgan from step 2" in capsys.readouterr().out
    checkpoints = os.listdir(os.path.join(directory, "trials", promoted["trial_id"], "checkpoints"))
    assert "ckpt-2.index" in checkpoints and "ckpt-4.index" in checkpoints


def test_an_interrupted_search_resumes_keeping_completed_trials(tiny_fashion_mnist, tmp_path, monkeypatch):
    directory = str(tmp_path / "search")

    def interrupt_second(call, config):
        if call == 2:
            raise KeyboardInterrupt

    _counting_trainer(monkeypatch, interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        tune.run_search(_search(tiny_fashion_mnist, max_trials=3), directory, export_dir=None)
    first = _read(os.path.join(directory, "trials", "0", "trial_result.json"))
    interrupted = _read(os.path.join(directory, "keras_tuner", "trial_1", "trial.json"))
    assert interrupted["status"] == "RUNNING"

    calls = _counting_trainer(monkeypatch)
    rows = tune.run_search(_search(tiny_fashion_mnist, max_trials=3), directory, export_dir=None)["rows"]
    assert calls == ["1", "2"]  # The completed trial is kept; the interrupted one is redone first.
    assert [row["status"] for row in rows] == ["COMPLETED"] * 3
    assert _read(os.path.join(directory, "trials", "0", "trial_result.json")) == first
    assert rows[1]["hyperparameters"] == {name: value for name, value in interrupted["hyperparameters"]["values"].items()}


def test_a_diverged_trial_is_marked_failed_and_the_search_goes_on(tiny_fashion_mnist, tmp_path, monkeypatch):
    def diverge_first(call, config):
        if call == 1:
            config.model_config.generator_learning_rate = float("nan")

    _counting_trainer(monkeypatch, diverge_first)
    outcome = tune.run_search(_search(tiny_fashion_mnist), str(tmp_path / "search"), export_dir=None)
    failed, completed = outcome["rows"]
    assert failed["status"] == "FAILED" and failed["objective"] is None
    assert "diverged at step" in failed["reason"]
    assert completed["status"] == "COMPLETED" and outcome["best"]["trial_id"] == completed["trial_id"]
    with open(tmp_path / "search" / "trials.md") as f:
        assert "diverged at step" in f.read()


def test_consecutive_failures_stop_the_search_with_one_line(tiny_fashion_mnist, tmp_path, monkeypatch):
    def diverge(call, config):
        raise TrainingDiverged(f"dcgan diverged at step {call}: generator_loss=nan")

    calls = _counting_trainer(monkeypatch, diverge)
    with pytest.raises(UserError, match=r"search stopped: 2 trials in a row failed \(last: .*diverged at step 2"):
        tune.run_search(_search(tiny_fashion_mnist, max_trials=5, max_consecutive_failures=2),
                        str(tmp_path / "search"), export_dir=None)
    assert len(calls) == 2


def test_bad_input_is_one_line(tiny_fashion_mnist, tmp_path):
    def tune_binary(*args):
        return helpers.run_binary("tune", "--model=dcgan", "--smoke", "--steps=2", f"--data_dir={tiny_fashion_mnist}",
                                  f"--directory={tmp_path / 'search'}", "--export_dir=", *args)

    helpers.assert_one_line_error(tune_binary("--fix=generator_widht=8"), "unknown hyperparameter 'generator_widht'",
                                  "generator_width")
    helpers.assert_one_line_error(tune_binary("--set=model_config.latent=3"), "unknown config key 'model_config.latent'")
    helpers.assert_one_line_error(tune_binary("--set=model_config.loss='hinge'"), "sets a searched key", "--fix")
    helpers.assert_one_line_error(tune_binary("--objective=bits_per_dim"), "dcgan cannot produce --objective=bits_per_dim",
                                  "fid, kid")
    helpers.assert_one_line_error(tune_binary("--validation_size=0"), "validation_size=0 holds nothing out of train")
    helpers.assert_one_line_error(tune_binary("--split=valid"), "unknown split 'valid'")
    assert not os.path.exists(tmp_path / "search")  # Refused before anything was written.
    tune.search.check_directory(str(tmp_path / "search"), _search(tiny_fashion_mnist, objective="kid"))
    helpers.assert_one_line_error(tune_binary("--objective=fid"), "holds a different search", "objective='kid'",
                                  "pass a new --directory")


def test_a_search_scored_on_test_before_the_split_existed_is_not_resumed_on_validation(tiny_fashion_mnist, tmp_path):
    directory = str(tmp_path / "search")
    search = _search(tiny_fashion_mnist)
    assert search.split == "validation"
    record = search.record()
    del record["split"], record["validation_size"]  # search.json as written before them: scored on test.
    os.makedirs(directory)
    with open(os.path.join(directory, tune.search.SEARCH_FILE), "w") as f:
        json.dump(record, f)
    with pytest.raises(UserError, match="holds a different search \\(split='test', not 'validation'"):
        tune.search.check_directory(directory, search)
    tune.search.check_directory(directory, _search(tiny_fashion_mnist, split="test"))  # The same search.


def test_the_tunable_configs_are_found():
    assert {"dcgan_fashion_mnist", "dcgan_fashion_mnist_fast", "cgan_fashion_mnist", "vae_fashion_mnist",
            "pixelcnn_fashion_mnist"} <= set(tune.search.tunable_configs())


@pytest.mark.parametrize("name", tune.search.tunable_configs())
def test_every_search_space_applies_to_its_config_and_builds(name, tiny_fashion_mnist):
    """Random points of each declared space are valid configs: the keys exist, the types fit, and
    the model builds (smoke) or at least accepts the values (full size)."""
    import keras_tuner

    from zoo import config as config_lib
    from zoo import registry

    space = tune.search.search_space_function(name)
    for smoke in (True, False):
        hp = keras_tuner.HyperParameters()
        space(hp, smoke)
        assert len(hp.space) >= 4
        for seed in range(3):
            for parameter in hp.space:
                hp.values[parameter.name] = parameter.random_sample(seed)
            config = tune.search.trial_config(config_lib.load(name, smoke=smoke), space(hp, smoke))
            if smoke:
                config.data_dir = tiny_fashion_mnist
                model = registry.get(config.model)(config.model_config, data.load_for(config, "train").spec)
                assert model.serving_signatures()


def test_distributed_roles_come_from_the_flags_or_keras_tuners_variables(monkeypatch):
    """--tuner_id/--oracle, else KERASTUNER_TUNER_ID/_ORACLE_IP/_ORACLE_PORT (keras-tuner's chief
    rule: an id containing "chief"); the variables are set for the search and restored after."""
    from zoo.tune import distribute

    assert not tune.distribute.role_of(environ={}).distributed
    assert not distribute.role_of(environ={"KERASTUNER_TUNER_ID": "tuner3"}).distributed  # keras-tuner: local.
    worker = distribute.role_of(environ={"KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "10.0.0.2",
                                         "KERASTUNER_ORACLE_PORT": "8000"})
    assert worker == distribute.Role("tuner1", "10.0.0.2", 8000) and worker.worker and not worker.chief
    chief = distribute.role_of("chief", "[::1]:8000", environ=worker.environment())  # The flags win.
    assert chief.chief and chief.address == "[::1]:8000"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "before")
    with distribute.environment(worker):
        assert {name: os.environ.get(name) for name in worker.environment()} == worker.environment()
    assert os.environ["KERASTUNER_TUNER_ID"] == "before" and "KERASTUNER_ORACLE_IP" not in os.environ
    with distribute.environment(distribute.Role()):  # A local search runs without them.
        assert "KERASTUNER_TUNER_ID" not in os.environ


def test_bad_distributed_flags_are_one_line(tiny_fashion_mnist, tmp_path):
    import socket

    from zoo.tune import distribute

    directory = tmp_path / "search"

    def tune_binary(*args, env=None):
        return helpers.run_binary("tune", "--model=dcgan", "--smoke", "--steps=2", f"--data_dir={tiny_fashion_mnist}",
                                  f"--directory={directory}", "--export_dir=", *args, env=env)

    helpers.assert_one_line_error(tune_binary("--tuner_id=tuner0"), "--tuner_id needs --oracle=host:port",
                                  "--tuner_id=chief")
    helpers.assert_one_line_error(tune_binary("--oracle=127.0.0.1:8000"), "--oracle needs --tuner_id")
    helpers.assert_one_line_error(tune_binary("--tuner_id=tuner0", "--oracle=localhost"),
                                  "--oracle='localhost' must be host:port", "1 to 65535")
    helpers.assert_one_line_error(tune_binary("--tuner_id=a/b", "--oracle=localhost:8000"),
                                  "--tuner_id='a/b' must be letters, digits")
    helpers.assert_one_line_error(tune_binary(env={"KERASTUNER_ORACLE_IP": "127.0.0.1"}),
                                  "KERASTUNER_ORACLE_IP is set but KERASTUNER_TUNER_ID and KERASTUNER_ORACLE_PORT not")
    with socket.socket() as taken:  # A chief cannot serve where something already listens.
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        helpers.assert_one_line_error(tune_binary("--tuner_id=chief", f"--oracle=127.0.0.1:{port}"),
                                      f"--oracle=127.0.0.1:{port}: the chief cannot serve there", "another port")
    assert not directory.exists()  # Refused before anything was written.
    # A second worker with a live worker's id would be handed its trial: refused, naming the holder.
    role = distribute.Role("tuner0", "127.0.0.1", port)
    with distribute.worker_lock(str(directory), role):
        helpers.assert_one_line_error(tune_binary("--tuner_id=tuner0", f"--oracle=127.0.0.1:{port}"),
                                      "worker tuner0 of the search", f"is in use by process {os.getpid()}",
                                      "pass another --tuner_id")


def test_a_chiefs_oracle_stops_the_search_at_the_failure_limit_and_a_rerun_continues(tiny_fashion_mnist, tmp_path):
    """The chief's oracle, called as its gRPC servicer calls it for two workers (trials as copies
    through keras-tuner's proto, which drops their message): the limit ends the trial normally,
    then every worker's next CreateTrial is STOPPED with the reason, except a worker's running trial
    (handed back), and keras-tuner's chief may exit. A rerun starts un-stopped and counts the
    failures in a row across runs; a local rerun's completed trial is not stopped by the old ones."""
    import socket

    import keras_tuner
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import oracle as oracle_module
    from keras_tuner.src.engine import trial as trial_module

    from zoo.tune import distribute

    directory = str(tmp_path / "search")
    search = _search(tiny_fashion_mnist, max_trials=8, max_consecutive_failures=2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    chief = distribute.Role("chief", "127.0.0.1", port)

    def chief_tuner():
        with distribute.environment(chief):
            tuner = tune.search.make_tuner(search, directory, chief)
            tuner.save()  # As keras-tuner's chief does before it serves.
        return tuner

    def end(oracle, trial, status, fid=None):
        if status == "FAILED":  # What the worker's _run_trial records for a diverged trial.
            os.makedirs(os.path.join(directory, "trials", trial.trial_id), exist_ok=True)
            with open(os.path.join(directory, "trials", trial.trial_id, "trial_result.json"), "w") as f:
                json.dump({"failed": f"dcgan diverged at step 1 in trial {trial.trial_id}"}, f)
        else:
            oracle.update_trial(trial.trial_id, {"fid": fid})
        sent = trial_module.Trial.from_proto(trial.to_proto())
        sent.status = status
        oracle.end_trial(sent)

    tuner = chief_tuner()
    oracle = tuner.oracle
    first, second = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
    end(oracle, first, "FAILED")
    assert oracle.stopped_by_failures is None
    third = oracle.create_trial("tuner0")
    end(oracle, third, "FAILED")  # The second failure in a row: the stop, not a raise.
    assert oracle.stopped_by_failures == f"2 trials in a row failed (last: trial {third.trial_id}: dcgan diverged " \
                                         f"at step 1 in trial {third.trial_id})"
    assert "tuner0" not in oracle.ongoing_trials  # Ended: keras-tuner's raise would have left it running.
    stopped = oracle.create_trial("tuner0")
    assert stopped.status == "STOPPED"
    assert stopped.hyperparameters.values == {distribute.STOPPED_BY: oracle.stopped_by_failures}
    # What a worker receives through keras-tuner's proto, whose STOPPED trial ends the servicer's loop.
    received = trial_module.Trial.from_proto(stopped.to_proto())
    assert received.hyperparameters.values[distribute.STOPPED_BY] == oracle.stopped_by_failures
    assert not oracle_chief.exit_chief(oracle)  # tuner1 still runs its trial...
    assert oracle.create_trial("tuner1").trial_id == second.trial_id  # ...and, restarted, gets it back.
    end(oracle, second, "FAILED")
    assert oracle.create_trial("tuner1").status == "STOPPED"
    assert oracle_chief.exit_chief(oracle)  # keras-tuner's start_server now returns.
    assert oracle_module.LOCKS[oracle].acquire(blocking=False)  # Nothing holds the oracle's lock.
    oracle_module.LOCKS[oracle].release()
    tune.search._save_served_oracle(oracle)
    rows = tune.search.write_table(tuner, directory)
    assert [row["status"] for row in rows] == ["FAILED"] * 3
    assert all(row["reason"].startswith("dcgan diverged at step 1") for row in rows)
    state = _read(os.path.join(directory, "keras_tuner", "oracle.json"))
    assert state["ongoing_trials"] == {} and state["end_order"] == ["0", "2", "1"]

    # A rerun of the chief hands out trials again; its first trial to end fails: stopped at once.
    tuner = chief_tuner()
    oracle = tuner.oracle
    assert oracle.stopped_by_failures is None and len(oracle.trials) == 3
    fourth = oracle.create_trial("tuner0")
    assert fourth.status == "RUNNING" and fourth.trial_id == "3"
    end(oracle, fourth, "FAILED")
    assert oracle.stopped_by_failures.startswith("2 trials in a row failed (last: trial 3: ")
    assert oracle.create_trial("tuner0").status == "STOPPED" and oracle_chief.exit_chief(oracle)
    tune.search._save_served_oracle(oracle)

    # A local rerun: a completed trial goes on (keras-tuner's own check, which finds two failures in
    # a row anywhere in end_order, would stop it), then two more failures stop it as keras-tuner does.
    with distribute.environment(distribute.Role()):
        oracle = tune.search.make_tuner(search, directory).oracle
    end(oracle, oracle.create_trial("tuner0"), "COMPLETED", fid=12.5)
    end(oracle, oracle.create_trial("tuner0"), "FAILED")
    with pytest.raises(RuntimeError, match="Number of consecutive failures exceeded the limit of 2"):
        end(oracle, oracle.create_trial("tuner0"), "FAILED")
    assert isinstance(oracle, keras_tuner.oracles.RandomSearchOracle)
    assert [oracle.trials[trial_id].status for trial_id in oracle.end_order] == \
        ["FAILED"] * 4 + ["COMPLETED", "FAILED", "FAILED"]
