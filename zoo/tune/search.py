"""keras-tuner searches over a zoo model's hyperparameters, scored by FID/KID or likelihood.

A search lives in one directory:

    <directory>/search.json            what is searched (model, dataset, tuner, objective, budget):
                                       a rerun must match it, so a directory never mixes searches
    <directory>/keras_tuner/           keras-tuner's oracle and trial state (what makes it resumable)
    <directory>/trials/<trial_id>/     each trial's zoo workdir: checkpoints, TensorBoard logs,
                                       config.json, its export and trial_result.json
    <directory>/trials.json, .md       the table of trials

A trial's config is the model's default config (experiments/configs/<model>_<dataset>.py), the
command's overrides, then the trial's hyperparameters from the config file's
`search_space(hp, smoke)`. It trains with the one trainer, exports, and is scored through the
export with zoo-eval's code path (`zoo.metrics.evaluate_export`), so a trial's number is what
zoo-eval would report for the same sample count and split. Trials are scored on the validation
split (`split`, default "validation": the part of the training data held out of "train", see
zoo.data and `validation_size`), never on test unless asked: choosing the best trial is a
selection, and the test split is kept for the numbers to report.

Resuming is keras-tuner's own: the oracle reloads its state, and a trial that was running when
the process died is sent back for a retry; its workdir is wiped first, so it is redone from
scratch with the same hyperparameters. Hyperband's budget is training steps: a promoted trial
copies its parent's checkpoints and the trainer resumes from them up to its larger step count.
A search stopped by `max_consecutive_failures` failed trials in a row continues too: the count
runs across reruns (the last trials to end), so the rerun stops again if its first trial to end
fails, and goes on once one completes.
"""

import ast
import contextlib
import copy
import dataclasses
import json
import math
import os
import shutil
import time

from zoo import config as config_lib
from zoo.errors import TrainingDiverged, UserError
from zoo.tune import distribute

TUNERS = ("random", "bayesian", "hyperband")


def objective_names():
    """zoo-tune's --objective choices: every kind's objectives (zoo.kinds), all minimized."""
    from zoo import kinds

    return tuple(kinds.objectives())


SEARCH_FILE = "search.json"
PROJECT = "keras_tuner"
TRIALS_DIR = "trials"
TRIAL_RESULT = "trial_result.json"
MODEL_CARD = "model_card.json"
# What makes two searches the same one: a rerun may raise max_trials, not change these.
IDENTITY = ("model", "config", "dataset", "tuner", "objective", "steps", "seed", "overrides", "fixed", "smoke",
            "hyperband_max_epochs", "hyperband_factor", "split", "validation_size")
# What a search.json written before a key existed meant by it (searches scored on test before "split").
IDENTITY_DEFAULTS = {"split": "test", "config": None}


@dataclasses.dataclass
class Search:
    model: str
    dataset: str = "fashion_mnist"
    config: str | None = None  # The config searched from (name or file; None: the model's, <model>_<dataset>).
    tuner: str = "random"
    objective: str = "fid"
    max_trials: int = 10
    steps: int = 1000  # Per trial; Hyperband's largest trial.
    eval_samples: int = 2000  # Generated images (FID/KID) or scored `split` images (likelihoods) per trial.
    eval_reference_examples: int = 10000
    split: str = "validation"  # The split trials are scored on (held out of train; "test" only to report).
    validation_size: int | None = None  # Training examples held out as validation (None: the dataset's default).
    seed: int = 0
    overrides: tuple = ()  # key=value config overrides applied before the trial's hyperparameters.
    fixed: tuple = ()  # name=value: hyperparameters held at one value.
    data_dir: str | None = None
    smoke: bool = False
    hyperband_max_epochs: int = 9  # Hyperband's unit: steps / hyperband_max_epochs training steps.
    hyperband_factor: int = 3
    max_consecutive_failures: int = 3

    def record(self):
        values = dataclasses.asdict(self)
        values.update(overrides=list(self.overrides), fixed=list(self.fixed))
        return {key: values[key] for key in IDENTITY}


def tunable_configs():
    """The configs in experiments/configs that declare search_space(hp)."""
    return [name for name in config_lib.available_configs() if hasattr(config_lib.config_module(name), "search_space")]


def search_space_function(config_name):
    """The config file's `search_space(hp, smoke)`; one line naming the configs that have one."""
    module = config_lib.config_module(config_name)
    if not hasattr(module, "search_space"):
        raise UserError(f"config {config_name!r} declares no search_space(hp); tunable configs: "
                        f"{', '.join(tunable_configs())}")
    return module.search_space


def _parse_assignments(assignments, what):
    parsed = {}
    for assignment in assignments:
        name, sep, raw = assignment.partition("=")
        if not sep:
            raise UserError(f"{what} {assignment!r} must look like name=value, e.g. generator_width=64")
        try:
            parsed[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            parsed[name] = raw
    return parsed


def hyperparameter_names(space, smoke):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    space(hp, smoke)
    return [parameter.name for parameter in hp.space]


def fixed_hyperparameters(search, space):
    """`--fix` values as keras-tuner Fixed hyperparameters; unknown names are one line."""
    import keras_tuner

    names = hyperparameter_names(space, search.smoke)
    hp = keras_tuner.HyperParameters()
    for name, value in _parse_assignments(search.fixed, "--fix").items():
        if name not in names:
            raise UserError(f"unknown hyperparameter {name!r} in --fix; {search.model}'s search space has: "
                            f"{', '.join(names)}")
        hp.Fixed(name, value)
    return hp


def base_config(search):
    """The model's default config with the command's overrides and the trial-independent settings."""
    from zoo import registry

    registry.get(search.model)
    name = search.config or config_lib.default_config_name(search.model, search.dataset)
    config = config_lib.load(name, smoke=search.smoke)
    if config.model != search.model and search.config:
        raise UserError(f"config {name!r} trains {config.model!r}, not --model={search.model}")
    if config.model != search.model:
        raise UserError(f"no config for {search.model!r}; available configs: {', '.join(config_lib.available_configs())}")
    if search.dataset != config.dataset:
        config.dataset = search.dataset
        config.export_name = config_lib.export_name(config.model, search.dataset)
    config.data_dir = search.data_dir
    if search.validation_size is not None:
        config.validation_size = search.validation_size
    config.seed = search.seed
    config.train_steps = search.steps
    config.eval_every = 0  # The trial is scored once, at its end, through its export.
    config_lib.apply_overrides(config, search.overrides)
    return name, config


def trial_config(config, overrides):
    """`config` with a trial's `{dotted key: value}` overrides, through the same checks as --set."""
    return config_lib.apply_overrides(copy.deepcopy(config), [f"{key}={value!r}" for key, value in overrides.items()])


def check_objective(config, objective):
    """Refuses, before any training, an objective the model's declared evaluations cannot produce."""
    from zoo import data, kinds, registry

    kinds.objective(objective)  # An unknown name is one line naming the available ones.
    source = data.load_for(config, "train")
    interface = registry.get(config.model)(config.model_config, source.spec).interface()
    produces = kinds.available_objectives(interface)
    if objective not in produces:
        raise UserError(f"{config.model} cannot produce --objective={objective}; it can: {', '.join(produces) or 'none'}")


def check_directory(directory, search, worker=False):
    """Writes search.json on the first run; a rerun with another search is one line. A worker
    (`worker`: a distributed search's) only reads it: the chief writes it before serving."""
    path = os.path.join(directory, SEARCH_FILE)
    record = search.record()
    if worker and not os.path.exists(path):
        raise UserError(f"directory {directory!r} holds no search: a worker runs in its chief's --directory "
                        f"(on a file system every process of the search shares)")
    if os.path.exists(path):
        with open(path) as f:
            recorded = json.load(f)
        different = [key for key in IDENTITY if recorded.get(key, IDENTITY_DEFAULTS.get(key)) != record[key]]
        if different:
            key = different[0]
            raise UserError(f"directory {directory!r} holds a different search "
                            f"({key}={recorded.get(key, IDENTITY_DEFAULTS.get(key))!r}, not "
                            f"{record[key]!r}; a {recorded.get('model')} {recorded.get('tuner')} search of "
                            f"{recorded.get('objective')}): pass a new --directory")
        return
    if os.path.isdir(os.path.join(directory, PROJECT)):
        raise UserError(f"directory {directory!r} holds keras-tuner state without {SEARCH_FILE}: pass a new --directory")
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f, indent=2)


def _last_line(message):
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def make_tuner(search, directory, role=None):
    """A ZooTuner over `search` in `directory` (reloading its state when it exists), as the
    `role` (zoo.tune.distribute.Role) of a distributed search or, by default, a local one."""
    import keras_tuner

    role = role or distribute.Role()

    config_name, config = base_config(search)
    space = search_space_function(config_name)
    fixed = fixed_hyperparameters(search, space)
    # The space must apply cleanly to the config (names and types) before any trial trains.
    searched = space(keras_tuner.HyperParameters(), search.smoke)
    trial_config(config, searched)
    for override in search.overrides:
        key = override.partition("=")[0]
        if key in searched:  # The trial's value would silently replace it.
            raise UserError(f"--set={override} sets a searched key; hold its hyperparameter with --fix instead "
                            f"(searched keys: {', '.join(searched)})")
    check_objective(config, search.objective)
    from zoo import data

    data.load_for(config, search.split)  # A bad --split or --validation_size is refused before any trial.
    if search.tuner not in TUNERS:
        raise UserError(f"unknown --tuner {search.tuner!r}; available: {', '.join(TUNERS)}")
    if search.max_trials <= 0 or search.steps <= 0 or search.eval_samples < 2:
        raise UserError(f"--max_trials and --steps must be positive and --eval_samples at least 2, got "
                        f"{search.max_trials}, {search.steps} and {search.eval_samples}")
    if search.tuner == "hyperband" and not 0 < search.hyperband_max_epochs <= search.steps:
        raise UserError(f"--hyperband_max_epochs must be between 1 and --steps={search.steps}, "
                        f"got {search.hyperband_max_epochs}")
    if role.chief:
        distribute.check_port_free(role)

    objective = keras_tuner.Objective(search.objective, direction="min")
    # keras-tuner reads seed 0 as "no seed" (a random one): shifted by one, equal seeds give equal trials.
    common = dict(objective=objective, seed=search.seed + 1, hyperparameters=fixed,
                  max_consecutive_failed_trials=search.max_consecutive_failures)

    def oracle_class(base):  # A chief's oracle stops the search at the failure limit instead of raising.
        return distribute.stopping_oracle(base, role.chief, lambda trial: failure_reason(directory, trial))

    if search.tuner == "random":
        oracle = oracle_class(keras_tuner.oracles.RandomSearchOracle)(max_trials=search.max_trials, **common)
    elif search.tuner == "bayesian":
        try:
            oracle = oracle_class(keras_tuner.oracles.BayesianOptimizationOracle)(max_trials=search.max_trials,
                                                                                  **common)
        except ImportError as error:
            raise UserError(f"--tuner=bayesian needs scikit-learn and scipy ({error.msg.split(' before')[0]}): "
                            "pip install 'keras-tuner[bayesian]'") from None
    else:
        oracle = oracle_class(keras_tuner.oracles.HyperbandOracle)(max_epochs=search.hyperband_max_epochs,
                                                                   factor=search.hyperband_factor, **common)
        oracle.max_trials = search.max_trials  # Hyperband has no such argument; Oracle.create_trial honours it.
    if role.worker:  # Nothing is touched in the directory before the chief has set it up.
        distribute.wait_for_chief(oracle, role)
    check_directory(directory, search, worker=role.worker)
    return ZooTuner(search, config, space, oracle, directory)


def _tuner_base():
    from keras_tuner.src.engine import base_tuner

    return base_tuner.BaseTuner


def _space_hypermodel(space, smoke):
    import keras_tuner

    class SearchSpace(keras_tuner.HyperModel):
        """Declares the config's search space to keras-tuner; `build` returns config overrides, not a model."""

        def build(self, hp):
            return space(hp, smoke)

    return SearchSpace()


class ZooTuner(_tuner_base()):
    """keras-tuner's BaseTuner whose trial is a zoo training run scored through its export."""

    def __init__(self, search, config, space, oracle, directory):
        self.search_settings, self.config, self.space = search, config, space
        self.search_directory = directory
        self.ran = []  # The ids of the trials this process ran (a worker runs part of the search).
        super().__init__(oracle, hypermodel=_space_hypermodel(space, search.smoke), directory=directory,
                         project_name=PROJECT, overwrite=False)
        if self._is_worker():  # keras-tuner's client, which also keeps why the chief stopped the search.
            self.oracle = distribute.worker_client(oracle)

    def _get_tuner_fname(self):
        """keras-tuner names the tuner's file after its id and reloads the oracle only when that
        file exists: the search's own tuner (local or chief) keeps one name, so a search started
        in either mode resumes in the other; a worker's file is its own."""
        name = f"worker-{self.tuner_id}" if self._is_worker() else "tuner0"
        return os.path.join(str(self.project_dir), f"{name}.json")

    def trial_workdir(self, trial_id):
        return os.path.join(self.search_directory, TRIALS_DIR, trial_id)

    def trial_steps(self, values):
        """Hyperband counts epochs; a zoo epoch is steps / hyperband_max_epochs training steps."""
        if "tuner/epochs" not in values:
            return self.search_settings.steps
        unit = self.search_settings.steps / self.search_settings.hyperband_max_epochs
        return max(1, round(values["tuner/epochs"] * unit))

    def run_trial(self, trial, *args, **kwargs):
        """Runs the trial holding its lock (zoo.tune.distribute.trial_lock): the workdir is wiped,
        trained, exported and scored by one process, even if the oracle hands the trial out again
        while it runs (a restarted chief sends the trials it saw running back for a retry)."""
        import keras_tuner

        with contextlib.ExitStack() as held:
            try:
                held.enter_context(distribute.trial_lock(self.search_directory, trial.trial_id))
            except UserError as error:
                raise keras_tuner.errors.FailedTrialError(f"not run twice: {error}") from None
            self.ran.append(trial.trial_id)
            return self._run_trial(trial)

    def _run_trial(self, trial):
        import keras_tuner

        from zoo import train
        from zoo.metrics.exports import evaluate_export

        search, hp = self.search_settings, trial.hyperparameters
        workdir = self.trial_workdir(trial.trial_id)
        if os.path.exists(workdir):  # An interrupted or retried trial is redone from scratch.
            shutil.rmtree(workdir)
        os.makedirs(workdir)
        parent = hp.values.get("tuner/trial_id")
        if parent is not None:  # A Hyperband promotion continues its parent's run.
            parent_dir = self.trial_workdir(parent)
            shutil.copytree(os.path.join(parent_dir, train.trainer.CHECKPOINT_DIR),
                            os.path.join(workdir, train.trainer.CHECKPOINT_DIR))
            for record in (train.trainer.RUN_FILE, train.trainer.CONFIG_FILE):  # What the resume is checked against.
                shutil.copy(os.path.join(parent_dir, record), workdir)
        overrides = self.space(hp, search.smoke)
        config = trial_config(self.config, overrides)
        config.train_steps = self.trial_steps(hp.values)
        print(f"trial {trial.trial_id}: {config.train_steps} steps"
              + (f" from trial {parent}'s checkpoint" if parent else "") + f"; {_format_values(hp.values)}", flush=True)
        started = time.perf_counter()
        try:
            result = train.train_and_evaluate(config, workdir, export_dir=os.path.join(workdir, "export"))
        except TrainingDiverged as error:
            _write_json(os.path.join(workdir, TRIAL_RESULT), {"failed": str(error), "steps": config.train_steps,
                                                              "seconds": round(time.perf_counter() - started, 1),
                                                              "tuner_id": self.tuner_id})
            raise keras_tuner.errors.FailedTrialError(str(error)) from None
        if result.interrupted:
            raise KeyboardInterrupt  # The trial stays RUNNING in the oracle: a rerun redoes it.
        from zoo import data, kinds

        kind, objective = kinds.objective(search.objective)
        options = {key: value for key, value in data.options_of(config).items() if key != "data_dir"}
        record = evaluate_export(
            result.export_path, config.dataset, search.split, num_samples=search.eval_samples if kind.draws else 0,
            data_dir=config.get("data_dir"), reference_examples=search.eval_reference_examples,
            likelihood_examples=search.eval_samples, data_options=options)
        value = float(objective.read(record))
        seconds = round(time.perf_counter() - started, 1)
        outcome = {"objective": search.objective, "value": value, "split": search.split, "steps": result.step,
                   "seconds": seconds, "tuner_id": self.tuner_id, "evaluation": record}
        if not math.isfinite(value):  # Recorded with the trial: a distributed chief learns why from this file only.
            outcome["failed"] = f"{search.objective} is {value} after {result.step} steps"
        _write_json(os.path.join(workdir, TRIAL_RESULT), outcome)
        if "failed" in outcome:
            raise keras_tuner.errors.FailedTrialError(outcome["failed"])
        print(f"trial {trial.trial_id}: {search.objective}={value:.4f} on {config.dataset} {search.split} after "
              f"{result.step} steps in {seconds:.0f}s", flush=True)
        return {search.objective: value}


def _write_json(path, record):
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(path + ".tmp", path)


def _format_values(values):
    return ", ".join(f"{name}={_format_value(value)}" for name, value in values.items()
                     if not name.startswith("tuner/"))


def _format_value(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def failure_reason(directory, trial):
    """A failed trial's reason in one line: the one its trial_result.json records (written by the
    process that ran it), else its message's last line (a traceback's; keras-tuner's Trial proto
    carries no message, so a distributed chief has none), else where to look."""
    try:  # Called inside the chief's gRPC handler: nothing here may raise.
        result = _read_result(os.path.join(directory, TRIALS_DIR, trial.trial_id, TRIAL_RESULT))
    except (OSError, ValueError):
        result = {}
    reason = result.get("failed") or _last_line(trial.message)
    return f"trial {trial.trial_id}: {reason or 'see the output of the process that ran it'}"


def _read_result(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def trial_rows(tuner):
    """One dict per trial in start order: id, status, hyperparameters, objective, steps, seconds, reason."""
    rows = []
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        result = _read_result(os.path.join(tuner.trial_workdir(trial_id), TRIAL_RESULT))
        values = dict(trial.hyperparameters.values)
        row = {"trial_id": trial_id, "status": trial.status,
               "hyperparameters": {k: v for k, v in values.items() if not k.startswith("tuner/")},
               "parent": values.get("tuner/trial_id"),
               "objective": trial.score if trial.status == "COMPLETED" else None,
               "steps": result.get("steps"), "seconds": result.get("seconds"), "tuner_id": result.get("tuner_id")}
        if trial.status in ("FAILED", "INVALID"):
            row["reason"] = result.get("failed") or _last_line(trial.message)
        rows.append(row)
    return rows


def format_table(rows, objective):
    """A Markdown table of the trials (printed and written as trials.md)."""
    names = []
    for row in rows:
        names += [name for name in row["hyperparameters"] if name not in names]
    header = ["trial", "status", objective, "steps", "seconds", *names, "from", "reason"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["trial_id"], row["status"].lower(),
                 "" if row["objective"] is None else f"{row['objective']:.4f}",
                 "" if row["steps"] is None else str(row["steps"]),
                 "" if row["seconds"] is None else f"{row['seconds']:.0f}",
                 *(_format_value(row["hyperparameters"][n]) if n in row["hyperparameters"] else "" for n in names),
                 row["parent"] or "", (row.get("reason") or "").replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_search(search, directory, export_dir=None, role=None):
    """Runs (or resumes) the search, writes the trial table and exports the best trial, holding
    the directory's lock (zoo.locks) throughout: a second search on it is refused.

    `role` (zoo.tune.distribute.Role; default: from keras-tuner's environment variables, a local
    search without them) makes this process the chief of a distributed search, which serves the
    oracle, waits for its workers and then writes the table and the export as a local search
    does, or one of its workers, which runs trials until the chief has none left and writes
    neither (it holds its worker lock instead of the directory's).

    Returns {"rows", "best", "export", "ran"} ("ran": the ids of the trials this process ran; a
    worker's rows and best are None). `max_consecutive_failures` failed trials in a row (by the
    order they ended) stop it with one line (UserError, after writing the table): a local search at
    once; a distributed one once every worker has ended the trial it was running, the chief and
    each worker that was stopped saying so (zoo.tune.distribute.stopping_oracle). A rerun continues.
    """
    from zoo import locks

    role = distribute.role_of() if role is None else role
    with distribute.environment(role):
        if role.worker:
            with distribute.worker_lock(directory, role):
                return _run_worker(search, directory, role)
        with locks.hold(directory, "search directory", "--directory"):
            return _run_search(search, directory, export_dir, role)


def _run_worker(search, directory, role):
    import grpc

    try:
        tuner = make_tuner(search, directory, role)  # Waits for the chief first.
        tuner.search()
    except grpc.RpcError as error:
        details = error.details() or ""
        raise UserError(f"worker {role.tuner_id}: the chief's oracle at {role.address} failed or stopped answering "
                        f"({error.code().name}: {_last_line(details)}); rerun this worker with the same --tuner_id "
                        f"once the chief runs again: it redoes its trial") from None
    ran = ", ".join(tuner.ran) or "none"
    if tuner.oracle.stopped_by:  # The chief's STOPPED answer said it stopped the search (zoo.tune.distribute).
        raise UserError(f"worker {role.tuner_id}: search stopped by the chief: {tuner.oracle.stopped_by}; this worker "
                        f"ran trials {ran}; the chief writes {os.path.join(directory, 'trials.md')}")
    print(f"worker {role.tuner_id}: ran trials {ran} of the search in {directory}; its "
          f"chief writes the table of trials and exports the best", flush=True)
    return {"rows": None, "best": None, "export": None, "ran": tuner.ran}


def _run_search(search, directory, export_dir, role):
    tuner = make_tuner(search, directory, role)
    if role.chief:
        print(f"chief: serving the oracle of the search in {directory} at {role.address}; workers: zoo-tune with the "
              f"same flags and --tuner_id=tuner0, tuner1, ... --oracle={role.address}", flush=True)
    try:
        tuner.search()
    except RuntimeError as error:  # A local search's oracle raises at the failure limit, as keras-tuner's does.
        if "consecutive failures" not in str(error):
            raise
        write_table(tuner, directory)
        raise UserError(f"search stopped: {search.max_consecutive_failures} trials in a row failed (last: "
                        f"{_last_line(str(error))}); see {os.path.join(directory, 'trials.md')}") from None
    finally:
        if role.chief:
            _save_served_oracle(tuner.oracle)
    rows = write_table(tuner, directory)
    if tuner.oracle.stopped_by_failures:  # A chief's oracle records the stop and lets its workers end.
        raise UserError(f"search stopped: {tuner.oracle.stopped_by_failures}; see "
                        f"{os.path.join(directory, 'trials.md')}")
    completed = [row for row in rows if row["objective"] is not None]
    if not completed:
        raise UserError(f"no trial of the search in {directory!r} completed; see {os.path.join(directory, 'trials.md')}")
    best = min(completed, key=lambda row: row["objective"])
    print(f"best trial {best['trial_id']}: {search.objective}={best['objective']:.4f} ({search.split} split) after "
          f"{best['steps']} steps; "
          f"{_format_values(best['hyperparameters'])}", flush=True)
    path = export_best(tuner, search, directory, best, rows, export_dir) if export_dir else None
    return {"rows": rows, "best": best, "export": path, "ran": tuner.ran}


def _save_served_oracle(oracle):
    """keras-tuner's oracle saves itself in `end_trial` before it stops counting the trial as
    running, and only the tuner that ran the trial saves it again after; a chief's workers do not,
    so the state on disk would still hold the last trial to end as running, and a resumed search
    would redo it. Saved under the oracle's lock, as its gRPC calls run."""
    import keras_tuner

    keras_tuner.synchronized(type(oracle).save)(oracle)


def write_table(tuner, directory):
    rows = trial_rows(tuner)
    _write_json(os.path.join(directory, "trials.json"), {"objective": tuner.search_settings.objective,
                                                         "split": tuner.search_settings.split,
                                                         "search": tuner.search_settings.record(), "trials": rows})
    table = format_table(rows, tuner.search_settings.objective)
    with open(os.path.join(directory, "trials.md"), "w") as f:
        f.write(table + "\n")
    print(table, flush=True)
    return rows


def export_best(tuner, search, directory, best, rows, export_dir):
    """Exports the best trial's final checkpoint with a model card; a rerun of a finished search
    whose best trial was already exported names that export instead of writing another version."""
    from zoo import export, train

    record_path = os.path.join(directory, "best_export.json")
    if os.path.exists(record_path):
        with open(record_path) as f:
            previous = json.load(f)
        if previous["trial_id"] == best["trial_id"] and os.path.isdir(previous["export"]):
            print(f"best trial {best['trial_id']} already exported: {previous['export']}", flush=True)
            return previous["export"]
    model, config, step = train.restore_model(tuner.trial_workdir(best["trial_id"]))
    with open(os.path.join(tuner.trial_workdir(best["trial_id"]), TRIAL_RESULT)) as f:
        evaluation = json.load(f)["evaluation"]
    card = {"model": config.model, "dataset": config.dataset, "trial_id": best["trial_id"], "step": step,
            "objective": {"name": search.objective, "value": best["objective"], "direction": "min",
                          "eval_samples": search.eval_samples, "split": search.split},
            "hyperparameters": best["hyperparameters"], "evaluation": evaluation, "config": config.to_dict(),
            "search": {**search.record(), "directory": directory, "max_trials": search.max_trials}, "trials": rows}
    info = {**train.trainer.export_record(config, model, step),
            "tuning": {"trial_id": best["trial_id"], search.objective: best["objective"]}}
    path = export.export_model(model, export_dir, config.export_name, info, extra_files={MODEL_CARD: card})
    _write_json(record_path, {"trial_id": best["trial_id"], "export": path})
    print(f"exported the best trial to {path} (model card: {os.path.join(path, 'assets.extra', MODEL_CARD)})",
          flush=True)
    return path
