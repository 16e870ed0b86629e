"""The one trainer: a `tf.function` step inside a `tf.distribute` strategy, checkpoints that resume
exactly, TensorBoard summaries, progress lines and an export at the end.

Resuming is exact because everything random is a function of the global step: batch k of the data
stream is fixed by (seed, k) (see `zoo.data.make_pipeline`) and the step's noise comes from the
stateless seed (seed, k) folded with the replica id. The checkpoint therefore holds the networks,
the optimizers, the step (the data position and the random stream's position) and the seed.
"""

import contextlib
import dataclasses
import json
import math
import os
import signal

import keras
import tensorflow as tf

from zoo import config as config_lib
from zoo import contract, data, export, images, registry
from zoo.errors import TrainingDiverged, UserError
from zoo.metrics import sampling
from zoo.train.evaluation import BEST_DIR, TrainingEvaluator
from zoo.train.progress import Progress, format_duration, format_losses

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
PREVIEW_SEEDS = 64
PREVIEW_EXAMPLES = 16
STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass
class TrainResult:
    step: int
    losses: dict
    steps_per_second: float
    images_per_second: float
    checkpoint: str
    export_path: str | None = None
    stop_reason: str = "completed"  # completed, time_budget, early_stopping or interrupted.
    steady_steps_per_second: float = 0.0

    @property
    def interrupted(self):
        """Stopped by a signal before its end: rerunning the command resumes it."""
        return self.stop_reason == "interrupted"


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


def _read_run_record(workdir):
    path = os.path.join(workdir, RUN_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _check_workdir(workdir, config):
    """Refuses a workdir that holds another model's or dataset's run before anything is written."""
    record = _read_run_record(workdir)
    if record and (record["model"], record["dataset"]) != (config.model, config.dataset):
        raise UserError(
            f"workdir {workdir!r} holds a {record['model']!r} run on {record['dataset']!r}, not "
            f"{config.model!r} on {config.dataset!r}: pass a new --workdir"
        )
    if record is None and tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR)):
        raise UserError(f"workdir {workdir!r} holds a checkpoint without {RUN_FILE}: pass a new --workdir")


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


def _restore(checkpoint, path, workdir):
    try:
        checkpoint.restore(path).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"checkpoint {path} in {workdir!r} does not match this config ({first_line}): pass a new --workdir")


def restore_model(workdir, checkpoint_path=None):
    """Rebuilds the model recorded in `workdir` and restores a checkpoint: "latest" (default),
    "best" (kept by evaluation during training) or a checkpoint path.

    Returns (model, config, step). Used by `zoo-export`; needs no data.
    """
    record = _read_run_record(workdir)
    if checkpoint_path in (None, "latest", "best"):
        folder = BEST_DIR if checkpoint_path == "best" else CHECKPOINT_DIR
        path = tf.train.latest_checkpoint(os.path.join(workdir, folder))
        if checkpoint_path == "best" and path is None:
            raise UserError(f"no best checkpoint in {workdir!r}: train with eval_every > 0 to keep one")
    else:
        path = checkpoint_path
    if record is None or path is None:
        raise UserError(f"no checkpoint in workdir {workdir!r}: train first with zoo-train --workdir={workdir}")
    with open(os.path.join(workdir, CONFIG_FILE)) as f:
        config = config_lib.from_json(f.read())
    model, checkpoint = _build(config, data.DataSpec.from_json(record.get("data", record)),
                               tf.distribute.get_strategy())
    _restore(checkpoint, path, workdir)
    return model, config, int(checkpoint.step.numpy())


def _make_step_function(model, strategy, jit_compile):
    """One distributed training step: every replica gets its own stateless seed (seed, step, replica)."""

    def replica_step(batch, seed, step):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        step_seed = tf.random.experimental.stateless_fold_in(tf.stack([seed, step]), replica)
        return model.train_step(batch, step_seed)

    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def distributed_step(batch, seed, step):
        losses = strategy.run(replica_step, args=(batch, seed, step))
        return {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None) for name, value in losses.items()}

    return distributed_step


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
    if interface.preview == contract.SAMPLES:
        return lambda: sampling.sample_grid(function, signature, 0, PREVIEW_SEEDS)[0]
    image = signature.input_with(contract.IMAGE)
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


def _write_records(workdir, config, source, flags_text):
    """config.json (resolved config), run.json (model, data shape) and flags.txt (command line)."""
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, CONFIG_FILE), "w") as f:
        f.write(config_lib.to_json(config))
    if flags_text is not None:
        with open(os.path.join(workdir, "flags.txt"), "w") as f:
            f.write(flags_text)
    with open(os.path.join(workdir, RUN_FILE), "w") as f:
        record = {"model": config.model, "dataset": config.dataset, "data": source.spec.to_json()}
        json.dump(record, f, indent=2)


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
        line += f"; best {config.eval_metric}={best[config.eval_metric]:.4f} at step {best['step']}"
    if result.stop_reason == "early_stopping":
        line += f"; stopped early: no improvement in {config.early_stopping_patience} evaluations"
    if result.stop_reason == "time_budget":
        line += f"; stopped by the time budget of {format_duration(config.max_train_seconds)}"
    if stopped:
        line += "; rerun the same command to resume"
    return line


def train_and_evaluate(config, workdir, export_dir=None, strategy=None, flags_text=None):
    """Trains `config.model` on `config.dataset` in `workdir`, resuming from its latest checkpoint.

    Writes the resolved config (config.json), the model/data record (run.json) and, from the
    command line, the flags used (flags.txt) into `workdir`.
    """
    _validate(config)
    strategy = strategy or tf.distribute.get_strategy()
    _check_workdir(workdir, config)
    source = data.load_for(config, "train")
    print(f"data: {source.description}", flush=True)
    model, checkpoint = _build(config, source.spec, strategy)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(workdir, CHECKPOINT_DIR), config.keep_checkpoints)
    if manager.latest_checkpoint:
        _restore(checkpoint, manager.latest_checkpoint, workdir)
        if int(checkpoint.seed.numpy()) != config.seed:
            raise UserError(f"workdir {workdir!r} was trained with seed {int(checkpoint.seed.numpy())}, not {config.seed}")
    _write_records(workdir, config, source, flags_text)

    start = step = int(checkpoint.step.numpy())
    if start:
        print(f"resuming {config.model} from step {start} ({manager.latest_checkpoint})", flush=True)
    # A model may read several batches a step (WGAN-GP's critic updates): one tensor of them all.
    examples_per_step = config.batch_size * getattr(model, "batches_per_step", 1)
    batches = iter(strategy.experimental_distribute_dataset(
        data.make_pipeline(source, examples_per_step, config.seed, start_step=start)))
    step_function = _make_step_function(model, strategy, config.jit_compile)
    writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
    seed = tf.constant(config.seed, tf.int64)
    progress = Progress(start, config.train_steps, budget_seconds=config.get("max_train_seconds", 0))
    preview = _preview(model, source)
    evaluator = None
    if config.get("eval_every"):
        evaluator = TrainingEvaluator(config, workdir, model, checkpoint, start)
    values, saved = {}, {"step": start, "path": manager.latest_checkpoint}

    def save():
        checkpoint.step.assign(step)
        saved.update(step=step, path=manager.save(checkpoint_number=step))

    stop_reason, budget = "completed", config.get("max_train_seconds", 0)
    with _stop_on_signal() as stop:
        while step < config.train_steps:
            if stop["stop"]:
                stop_reason = "interrupted"
                break
            if budget and progress.elapsed() >= budget:
                stop_reason = "time_budget"
                break
            if evaluator is not None and evaluator.patience_exhausted():  # A rerun of a run that stopped early.
                stop_reason = "early_stopping"
                break
            losses = step_function(next(batches), seed, tf.constant(step, tf.int64))
            step += 1
            if step % config.log_every == 0 or step == config.train_steps:
                values = {name: float(value) for name, value in losses.items()}
                if not all(math.isfinite(value) for value in values.values()):
                    raise TrainingDiverged(f"{config.model} diverged at step {step}: {format_losses(values)}; "
                                           f"last good checkpoint: {manager.latest_checkpoint}")
                rate = progress.report(step, values)
                with writer.as_default(step=step):
                    for name, value in values.items():
                        tf.summary.scalar(f"losses/{name}", value)
                    tf.summary.scalar("speed/steps_per_second", rate)
                    tf.summary.scalar("speed/images_per_second", rate * examples_per_step)
            if preview is not None and config.image_every and step % config.image_every == 0:
                _write_preview(preview, workdir, writer, step)
            if step % config.checkpoint_every == 0:
                save()
            if evaluator is not None and step % config.eval_every == 0:
                if saved["step"] != step:
                    save()  # The evaluated weights are always a checkpoint too.
                if evaluator.evaluate(step, writer):
                    stop_reason = "early_stopping"
                    break
        steady = progress.steady_rate(step)
        if saved["step"] != step or saved["path"] is None:
            save()
    writer.flush()
    path = saved["path"]
    stopped = stop_reason == "interrupted"
    if step == start and not stopped:
        print(f"nothing to train: {workdir} is already at step {step} (train_steps={config.train_steps}); "
              f"zoo-export --workdir={workdir} exports it", flush=True)
        return TrainResult(step, {}, 0.0, 0.0, path)

    elapsed = progress.elapsed()
    average = (step - start) / elapsed if step > start and elapsed > 0 else 0.0
    export_path = None
    if export_dir and not stopped:
        info = export_record(config, model, step)
        if evaluator is not None and config.export_checkpoint == "best" and evaluator.best() is not None:
            info.update(step=evaluator.restore_best(checkpoint), checkpoint="best", evaluation=evaluator.best())
        export_path = export.export_model(model, export_dir, config.export_name, info)
    result = TrainResult(step, values, average, average * examples_per_step, path, export_path, stop_reason, steady)
    print(_summary(config, result, start, elapsed, evaluator), flush=True)
    return result
