"""The one trainer: a `tf.function` step inside a `tf.distribute` strategy, checkpoints that resume
exactly, TensorBoard summaries, progress lines and an export at the end.

Resuming is exact because everything random is a function of the global step: batch k of the data
stream is fixed by (seed, k) (see `zoo.data.make_pipeline`) and the step's noise comes from the
stateless seed (seed, k), drawn for the global batch with each replica keeping its rows (see
`zoo.models.base.replica_normal`), so the number of replicas does not change the run. The
checkpoint therefore holds the networks, the optimizers, the step (the data position and the
random stream's position) and the seed. The guarded step and the multi-worker roles are in
`zoo.train.steps`; finding, checking and restoring checkpoint files in `zoo.train.checkpoints`.
"""

import contextlib
import dataclasses
import glob
import json
import os
import shutil
import signal

import keras
import tensorflow as tf

from zoo import config as config_lib
from zoo import contract, data, export, images, locks, registry
from zoo.errors import CheckpointWriteFailed, TrainingDiverged, UserError
from zoo.export import trust
from zoo.metrics import sampling
from zoo.train import checkpoints, run_record, steps, transfer
from zoo.train.evaluation import BEST_DIR, HISTORY_FILE, TrainingEvaluator
from zoo.train.progress import Progress, format_duration, format_losses

RUN_FILE = run_record.RUN_FILE
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
PREVIEW_SEEDS = 64
PREVIEW_EXAMPLES = 16
STRATEGIES = ("default", "mirrored", "multi_worker")
NAN_POLICIES = ("stop", "skip")
# Keys that change what a checkpoint means: a resumed run must keep them (see _check_resume).
# model_config is compared key by key; the dataset's reading options (zoo.data.OPTIONS) too.
RESUME_KEYS = ("model", "dataset", "train_split", "batch_size", "seed", "init_from", "init_partial", "freeze")
# Keys added after runs were recorded without them, with the default such a run had.
ADDED_KEYS = {"train_split": "train", "classes": None, "max_examples": None, "init_from": None, "init_partial": "",
              "freeze": "",
              # The GAN aids every GAN config declares since the shared update, at the values that
              # reproduce the runs recorded without them.
              **{f"model_config.{key}": value for key, value in {
                  "diffaugment": "", "ema_decay": 0.0, "ema_batch_norm": "average", "real_label": 1.0,
                  "r1_gamma": 0.0, "r1_interval": 1, "gradient_penalty_weight": 0.0, "n_critic": 1,
                  "beta_2": 0.999, "beta_1": 0.9, "discriminator_normalization": "batch",
                  # Diffusion's sampler default (1: DDIM), declared since DPM-Solver++(2M) joined it.
                  "solver_order": 1}.items()}}
# Compared as well once the run has evaluations: they define what "best" and patience compare.
EVALUATION_KEYS = ("eval_split", "eval_metric", "eval_samples", "eval_reference_examples", "feature_model")


@dataclasses.dataclass
class TrainResult:
    step: int
    losses: dict
    steps_per_second: float
    images_per_second: float
    checkpoint: str
    export_path: str | None = None
    # completed, time_budget, early_stopping, interrupted, or stopped_by_peer (another worker of a
    # multi-worker run was interrupted).
    stop_reason: str = "completed"
    steady_steps_per_second: float = 0.0
    skipped_updates: int = 0  # Non-finite updates dropped under nan_policy="skip".

    @property
    def interrupted(self):
        """Stopped by a signal before its end: rerunning the command resumes it."""
        return self.stop_reason in ("interrupted", "stopped_by_peer")


def make_strategy(name):
    """`default` (one device), `mirrored` (all local GPUs, else all logical CPUs), `multi_worker`."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
        if gpus:
            return tf.distribute.MirroredStrategy(gpus)
        cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UserError(f"unknown --strategy {name!r}; available: {', '.join(STRATEGIES)}")


def _validate(config):
    for key in ("train_steps", "batch_size", "log_every", "checkpoint_every"):
        if not isinstance(config[key], int) or config[key] <= 0:
            raise UserError(f"{key} must be a positive integer, got {config[key]!r}")
    policy = config.get("nan_policy", "stop")
    if policy not in NAN_POLICIES:
        raise UserError(f"nan_policy {policy!r} is not known; allowed: {', '.join(NAN_POLICIES)}")
    limit = config.get("max_skipped_updates", 10)
    if policy == "skip" and (not isinstance(limit, int) or limit <= 0):
        raise UserError(f"max_skipped_updates must be a positive integer with nan_policy='skip', got {limit!r}")


def _check_workdir(workdir, config):
    """Refuses a workdir that holds another model's or dataset's run before anything is written."""
    record = run_record.read(workdir)
    if record and (record["model"], record["dataset"]) != (config.model, config.dataset):
        raise UserError(
            f"workdir {workdir!r} holds a {record['model']!r} run on {record['dataset']!r}, not "
            f"{config.model!r} on {config.dataset!r}: pass a new --workdir"
        )
    if not checkpoints.checkpoint_paths(os.path.join(workdir, CHECKPOINT_DIR)):
        return
    if record is None:
        raise UserError(f"workdir {workdir!r} holds a checkpoint without {RUN_FILE}: pass a new --workdir")
    _check_resume(workdir, config)


def _flat(config, prefix=""):
    for key, value in config.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _check_resume(workdir, config):
    """Refuses to resume a run whose checkpoint means something else under `config`: a changed
    model, model_config entry, dataset or reading option, batch size (the data position) or seed;
    and, once the run has evaluations, a changed evaluation protocol. Step counts, logging,
    evaluation cadence and the time budget may change between invocations."""
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        raise UserError(f"workdir {workdir!r} holds a checkpoint without {CONFIG_FILE}: pass a new --workdir")
    with open(path) as f:
        recorded = json.load(f)
    keys = [*RESUME_KEYS, *data.OPTIONS]
    if os.path.exists(os.path.join(workdir, HISTORY_FILE)):
        keys += EVALUATION_KEYS
    current = dict(_flat(json.loads(config_lib.to_json(config))))  # As config.json records it.
    before = dict(_flat(recorded))
    keys += sorted({key for key in (*current, *before) if key.startswith("model_config.")})
    for key in keys:
        if key not in before and current.get(key) == ADDED_KEYS.get(key, None):  # Added since, at its default.
            continue
        old, new = before.get(key, "(not recorded)"), current.get(key, "(not set)")
        if old != new:
            raise UserError(f"workdir {workdir!r} was trained with {key}={old!r}, this run asks for {key}={new!r}: "
                            f"a resumed run keeps model, model_config, dataset and its options, batch_size and seed "
                            f"(pass --workdir=<new> to start another run, or the recorded value to resume)")


def _build(config, spec, strategy):
    # Initial weights are a function of the seed too (Keras initializers draw from its global seed).
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = registry.get(config.model)(config.model_config, spec)
        model.build_for_training()
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        seed = tf.Variable(config.seed, dtype=tf.int64, trainable=False, name="training_seed")
    checkpoint = tf.train.Checkpoint(step=step, seed=seed, **model.checkpoint_items())
    return model, checkpoint


def restore_model(workdir, checkpoint_path=None):
    """Rebuilds the model recorded in `workdir` and restores a checkpoint: "latest" (default: the
    newest usable one, see `_restore_newest_usable`), "best" (kept by evaluation during training)
    or a checkpoint path.

    Returns (model, config, step). Used by `zoo-export`; needs no data.
    """
    record = run_record.read(workdir)
    latest = checkpoint_path in (None, "latest")
    if latest:
        path = next(iter(checkpoints.checkpoint_paths(os.path.join(workdir, CHECKPOINT_DIR))), None)
    elif checkpoint_path == "best":
        path = tf.train.latest_checkpoint(os.path.join(workdir, BEST_DIR))
        if path is None:
            raise UserError(f"no best checkpoint in {workdir!r}: train with eval_every > 0 to keep one")
    else:
        path = checkpoint_path
    if record is None or path is None:
        raise UserError(f"no checkpoint in workdir {workdir!r}: train first with zoo-train --workdir={workdir}")
    with open(os.path.join(workdir, CONFIG_FILE)) as f:
        config = config_lib.from_json(f.read())
    model, checkpoint = _build(config, data.DataSpec.from_json(record.get("data", record)),
                               tf.distribute.get_strategy())
    if latest:
        checkpoints.restore_newest_usable(checkpoint, os.path.join(workdir, CHECKPOINT_DIR), workdir, set_aside=False)
    else:
        checkpoints.restore(checkpoint, path, workdir)
    return model, config, int(checkpoint.step.numpy())


@contextlib.contextmanager
def _stop_on_signal():
    """The first SIGINT/SIGTERM asks the loop to stop after the current step; a second one kills."""
    requested = {"stop": False}

    def handler(signum, frame):
        if requested["stop"]:
            raise KeyboardInterrupt
        requested["stop"] = True
        print(f"\nreceived signal {signum}: saving a checkpoint after this step (again to abort)", flush=True)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # Not the main thread: signals stay with their owner.
        previous = {}
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _preview(model, source):
    """A function drawing the grid the model declares as its preview (fixed seeds, or the first
    training examples as input | output | target rows), or None when it declares none."""
    interface = model.interface()
    if interface.preview is None:
        return None
    evaluation = interface.evaluation(interface.preview)
    signature = interface.signature(evaluation.signature)
    function = model.serving_signatures()[evaluation.signature]
    image = signature.input_with(contract.IMAGE)
    if image is None:  # Drawn from seeds.
        return lambda: sampling.sample_grid(function, signature, 0, PREVIEW_SEEDS)[0]
    inputs, targets = sampling.examples_of(source, PREVIEW_EXAMPLES, [image.feature, evaluation.reference])
    return lambda: sampling.translation_grid(inputs, sampling.translate(function, signature, inputs), targets)[0]


def _write_preview(draw, workdir, writer, step):
    grid = draw()
    with writer.as_default(step=step):
        tf.summary.image("samples", grid[None])
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    images.save_png(grid, os.path.join(workdir, "samples", f"step_{step:07d}.png"))


def export_record(config, model, step):
    """The facts an export keeps about its training: model, dataset and how it was read (so
    zoo-eval reads the data the same way), step, and the model's own export_info()."""
    options = {key: value for key, value in data.options_of(config).items() if key != "data_dir"}
    return {"model": config.model, "dataset": config.dataset, "data_options": options, "step": step,
            **model.export_info()}


def _write_records(workdir, config, source, flags_text, fresh):
    """config.json (resolved config), run.json (model, data shape, training so far: see
    zoo.train.run_record) and flags.txt (command line)."""
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, CONFIG_FILE), "w") as f:
        f.write(config_lib.to_json(config))
    if flags_text is not None:
        with open(os.path.join(workdir, "flags.txt"), "w") as f:
            f.write(flags_text)
    run_record.start(workdir, config, source.spec, fresh)


@contextlib.contextmanager
def _recorded_if_it_fails(chief, workdir, config, flags_text, start, saved, progress):
    """An invocation that ends in an error (divergence, a failed checkpoint write, a second signal)
    is recorded too, at its last checkpoint: where a rerun resumes, after the seconds it spent."""
    try:
        yield
    except BaseException as error:
        if chief:
            with contextlib.suppress(OSError):  # The error itself is what the user needs to see.
                run_record.add_invocation(workdir, config, flags_text, start, saved["step"], progress.elapsed(),
                                          f"failed: {type(error).__name__}")
        raise


def _summary(config, result, start, elapsed, evaluator):
    """The one line that ends a run."""
    stopped = result.interrupted
    line = (f"{'stopped' if stopped else 'trained'} {config.model} on {config.dataset}: steps {start}->{result.step} "
            f"in {format_duration(elapsed)} ({result.steps_per_second:.2f} steps/s, "
            f"{result.images_per_second:.0f} images/s)")
    if result.losses:
        line += f"; {format_losses(result.losses)}"
    line += f"; checkpoint {result.checkpoint}" + (f"; export {result.export_path}" if result.export_path else "")
    if evaluator is not None and evaluator.best() is not None:
        best = evaluator.best()
        line += f"; best {evaluator.metric}={best[evaluator.metric]:.4f} at step {best['step']}"
    if result.skipped_updates:
        line += f"; skipped {result.skipped_updates} non-finite updates"
    if result.stop_reason == "stopped_by_peer":
        line += "; another worker was stopped"
    if result.stop_reason == "early_stopping":
        line += f"; stopped early: no improvement in {config.early_stopping_patience} evaluations"
    if result.stop_reason == "time_budget":
        line += f"; stopped by the time budget of {format_duration(config.max_train_seconds)}"
    if stopped:
        line += "; rerun the same command to resume"
    return line


def train_and_evaluate(config, workdir, export_dir=None, strategy=None, flags_text=None, trust_export=False):
    """Trains `config.model` on `config.dataset` in `workdir`, resuming from its newest usable
    checkpoint (a damaged newer one is named and set aside).

    Writes the resolved config (config.json), the run's record (run.json: model, data, and the
    steps, wall seconds and flags of every invocation, a resumed run adding its own) and, from the
    command line, the flags used (flags.txt) into `workdir`. Every step is checked for
    non-finite losses and weights (`nan_policy`: "stop" ends the run, "skip" drops the update),
    so no checkpoint or export is ever written from non-finite weights. The run holds the
    workdir's lock (zoo.locks) throughout: a second run on it is refused. Under a multi-worker
    strategy only the chief takes the lock and writes to `workdir`, and every stop is agreed by
    all workers. An `init_from` export must pass zoo.export.trust unless `trust_export`.
    """
    _validate(config)
    strategy = strategy or tf.distribute.get_strategy()
    worker = steps.worker_of(strategy)
    with locks.hold(workdir) if worker.chief else contextlib.nullcontext():
        return _train(config, workdir, export_dir, strategy, flags_text, trust_export, worker)


def _train(config, workdir, export_dir, strategy, flags_text, trust_export, worker):
    _check_workdir(workdir, config)
    if config.get("init_from") and not checkpoints.checkpoint_paths(os.path.join(workdir, CHECKPOINT_DIR)):
        # Refused before any data is read or network built. A warm start reads only an export's
        # variables, never runs its graph; it is checked all the same, so one rule holds everywhere.
        kind, path = transfer.describe_source(config.init_from)
        if kind == "export":
            trust.check(path, trust_export)
        inside = os.path.relpath(os.path.abspath(config.init_from), os.path.abspath(workdir))
        if inside == "." or not inside.startswith(".."):
            raise UserError(f"init_from {config.init_from!r} is inside this run's workdir: start the new run in "
                            f"another --workdir")
    source = data.load_for(config, config.get("train_split") or "train")
    print(f"data: {source.description}", flush=True)
    model, checkpoint = _build(config, source.spec, strategy)
    if config.jit_compile and model.jit_compile_unsupported:
        raise UserError(f"jit_compile=True is not available for {config.model}: {model.jit_compile_unsupported}")
    if config.jit_compile and strategy.num_replicas_in_sync > 1 and not tf.config.list_logical_devices("GPU"):
        raise UserError(f"jit_compile=True with {strategy.num_replicas_in_sync} replicas on CPU devices fails in XLA "
                        f"(a replica cannot read another CPU device's variables): use jit_compile with one replica "
                        f"or on GPUs")
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    restored = checkpoints.restore_newest_usable(checkpoint, directory, workdir, set_aside=worker.chief)
    if restored and int(checkpoint.seed.numpy()) != config.seed:
        raise UserError(f"workdir {workdir!r} was trained with seed {int(checkpoint.seed.numpy())}, not {config.seed}")
    save_directory = directory if worker.chief else os.path.join(worker.scratch(workdir), CHECKPOINT_DIR)
    manager = tf.train.CheckpointManager(checkpoint, save_directory, config.keep_checkpoints)
    if worker.chief:
        _write_records(workdir, config, source, flags_text, fresh=restored is None)

    start = step = int(checkpoint.step.numpy())
    fresh = ()
    if start:
        print(f"resuming {config.model} from step {start} ({restored})", flush=True)
    elif config.get("init_from"):
        report = transfer.warm_start(model, config)
        print(report, flush=True)
        fresh = report.fresh
    frozen = transfer.freeze(model, config, fresh)  # Trainable flags are not checkpointed: set on every start.
    if frozen:
        print(frozen, flush=True)
    # A model may read several batches a step (WGAN-GP's critic updates): one tensor of them all.
    examples_per_step = config.batch_size * model.batches_per_step
    pipeline = data.make_pipeline(source, examples_per_step, config.seed, start_step=start)
    if worker.workers > 1:  # Each worker reads its replicas' rows of every global batch (no files to shard).
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        pipeline = pipeline.with_options(options)
    batches = iter(strategy.experimental_distribute_dataset(pipeline))
    variables = steps.training_variables(model)
    skip = config.get("nan_policy", "stop") == "skip"
    step_function = steps.make_step_function(model, strategy, config.jit_compile)
    step_function = steps.guard_step(step_function, strategy, variables, skip)
    writer = (tf.summary.create_file_writer(os.path.join(workdir, "tensorboard")) if worker.chief
              else tf.summary.create_noop_writer())
    seed = tf.constant(config.seed, tf.int64)
    progress = Progress(start, config.train_steps, budget_seconds=config.get("max_train_seconds", 0))
    preview = _preview(model, source) if worker.chief else None
    evaluator = None
    if config.get("eval_every") and worker.chief:
        evaluator = TrainingEvaluator(config, workdir, model, checkpoint, start)
    values, saved = {}, {"step": start, "path": restored}
    skipped = {"total": 0, "in_a_row": 0, "first": None}

    def diverged(reason):
        last = checkpoints.last_finite_checkpoint(directory)
        return TrainingDiverged(f"{config.model} diverged at step {step}: {reason}; last finite checkpoint: "
                                f"{last or 'none'}" + (" (rerun the same command to resume from it)" if last else ""))

    def save():
        checkpoint.step.assign(step)
        try:
            path = manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as error:
            for partial in glob.glob(os.path.join(glob.escape(save_directory), f"ckpt-{step}[._]*")):
                shutil.rmtree(partial, ignore_errors=True) if os.path.isdir(partial) else os.remove(partial)
            raise CheckpointWriteFailed(
                f"could not write checkpoint ckpt-{step} in {save_directory} ({checkpoints.first_line(error)}); "
                f"the previous "
                f"checkpoint {saved['path'] or '(none)'} is intact: free space and rerun the same command to resume"
            ) from None
        saved.update(step=step, path=path)

    stop_reason, budget = "completed", config.get("max_train_seconds", 0)
    failure_recorded = _recorded_if_it_fails(worker.chief, workdir, config, flags_text, start, saved, progress)
    with _stop_on_signal() as stop, failure_recorded:
        while step < config.train_steps:
            wanted = None
            if stop["stop"]:
                wanted = "interrupted"
            elif budget and progress.elapsed() >= budget:
                wanted = "time_budget"
            elif evaluator is not None and evaluator.patience_exhausted():  # A rerun of a run that stopped early.
                wanted = "early_stopping"
            if worker.agree(wanted is not None):
                stop_reason = wanted or "stopped_by_peer"
                break
            losses, finite = step_function(next(batches), seed, tf.constant(step, tf.int64))
            step += 1
            if not bool(finite):
                reported = format_losses({name: float(value) for name, value in losses.items()})
                if not skip:
                    raise diverged(f"{reported} (losses before the update, or the weights after it, are not finite)")
                skipped["total"] += 1
                skipped["in_a_row"] += 1
                skipped["first"] = skipped["first"] or step
                with writer.as_default(step=step):
                    tf.summary.scalar("train/skipped_updates", skipped["total"])
                if skipped["in_a_row"] >= config.max_skipped_updates:
                    raise diverged(f"{skipped['in_a_row']} non-finite updates in a row skipped (steps "
                                   f"{skipped['first']}-{step}, max_skipped_updates={config.max_skipped_updates}); "
                                   f"{reported}")
            else:
                skipped["in_a_row"], skipped["first"] = 0, None
            if step % config.log_every == 0 or step == config.train_steps:
                values = {name: float(value) for name, value in losses.items()}
                rate = progress.report(step, values, note=f"skipped {skipped['total']}" if skip else "")
                with writer.as_default(step=step):
                    for name, value in values.items():
                        tf.summary.scalar(f"losses/{name}", value)
                    tf.summary.scalar("speed/steps_per_second", rate)
                    tf.summary.scalar("speed/images_per_second", rate * examples_per_step)
            if preview is not None and config.image_every and step % config.image_every == 0:
                _write_preview(preview, workdir, writer, step)
            if step % config.checkpoint_every == 0:
                save()
            evaluating = bool(config.get("eval_every")) and step % config.eval_every == 0
            patience_out = False
            if evaluator is not None and evaluating:
                if saved["step"] != step:
                    save()  # The evaluated weights are always a checkpoint too.
                patience_out = evaluator.evaluate(step, writer)
            if evaluating and worker.agree(patience_out):  # The chief's decision reaches every worker.
                stop_reason = "early_stopping"
                break
        steady = progress.steady_rate(step)
        if saved["step"] != step or saved["path"] is None:
            save()
    writer.flush()
    path = saved["path"]
    stopped = stop_reason in ("interrupted", "stopped_by_peer")
    if not worker.chief:  # Its checkpoints were scratch copies; the chief's are the run's.
        shutil.rmtree(worker.scratch(workdir), ignore_errors=True)
        path = os.path.join(directory, os.path.basename(path)) if path else None
    if step == start and not stopped:
        print(f"nothing to train: {workdir} is already at step {step} (train_steps={config.train_steps}); "
              f"zoo-export --workdir={workdir} exports it", flush=True)
        return TrainResult(step, {}, 0.0, 0.0, path)

    elapsed = progress.elapsed()
    if worker.chief:  # Before the export: the run is at `step` whatever becomes of it.
        run_record.add_invocation(workdir, config, flags_text, start, step, elapsed, stop_reason)
    average = (step - start) / elapsed if step > start and elapsed > 0 else 0.0
    export_path = None
    if export_dir and not stopped and worker.chief:
        info = export_record(config, model, step)
        if evaluator is not None and config.export_checkpoint == "best" and evaluator.best() is not None:
            info.update(step=evaluator.restore_best(checkpoint), checkpoint="best", evaluation=evaluator.best(),
                        eval_metric=evaluator.metric)
        export_path = export.export_model(model, export_dir, config.export_name, info)
    result = TrainResult(step, values, average, average * examples_per_step, path, export_path, stop_reason, steady,
                         skipped["total"])
    print(_summary(config, result, start, elapsed, evaluator), flush=True)
    return result
