"""The distributed training step: one step under a `tf.distribute` strategy, guarded against
non-finite values, and this process's part in a multi-worker run."""

import dataclasses
import os

import tensorflow as tf


def make_step_function(model, strategy, jit_compile):
    """One distributed training step. Every replica gets the same stateless seed, a function of
    (seed, step) alone: models draw each random tensor for the global batch and keep their replica's
    rows (`zoo.models.base.replica_normal`), so any number of replicas trains as one device would."""
    replica_step = model.train_step
    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def distributed_step(batch, seed, step):
        # Folding in 0 (what the one replica of the default strategy always folded in) keeps the
        # numbers of runs made before the seed stopped depending on the replica. The fold runs
        # outside XLA, whose stateless ops read only 32 bits of each seed element.
        step_seed = tf.random.experimental.stateless_fold_in(tf.stack([seed, step]), 0)
        losses = strategy.run(replica_step, args=(batch, step_seed))
        return {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None) for name, value in losses.items()}

    return distributed_step


def training_variables(model):
    """Every variable a checkpoint holds for `model` (networks, optimizers, averages), in order."""
    return [variable for item in model.checkpoint_items().values() for variable in item.values]


def is_float(variable):
    return tf.as_dtype(variable.dtype).is_floating


def guard_step(step_function, strategy, variables, skip):
    """Wraps a distributed step so that it also returns whether the step left everything finite:
    the losses (computed before the update) and every checkpointed float variable after it, so a
    NaN that only reaches the weights (an overflowing gradient) is caught at its step.

    With `skip`, a non-finite update is dropped: the variables (optimizer state included) go back
    to their values before the step, kept in a copy that follows every finite step.
    """
    floats = [variable for variable in variables if is_float(variable)]
    backups = []
    if skip:
        with strategy.scope():
            backups = [tf.Variable(tf.convert_to_tensor(variable), trainable=False, name="before_step")
                       for variable in variables]

    @tf.function
    def guarded_step(batch, seed, step):
        losses = step_function(batch, seed, step)
        checks = [tf.reduce_all(tf.math.is_finite(value)) for value in (*losses.values(), *floats)]
        finite = tf.reduce_all(tf.stack(checks))
        if skip:
            def keep():
                with tf.control_dependencies([backup.assign(variable) for variable, backup in zip(variables, backups)]):
                    return tf.constant(True)

            def revert():
                with tf.control_dependencies([variable.assign(backup) for variable, backup in zip(variables, backups)]):
                    return tf.constant(False)

            finite = tf.cond(finite, keep, revert)
        return losses, finite

    return guarded_step


@dataclasses.dataclass
class Worker:
    """This process's part in a multi-worker run: only the chief writes to the workdir; the
    others write checkpoints to a temporary folder (all workers must save, as TensorFlow's
    multi-worker guide shows) and agree with the chief on every stop."""

    chief: bool
    task_id: int
    workers: int
    agree: callable

    def scratch(self, workdir):
        return os.path.join(workdir, f".worker-{self.task_id}")


def worker_of(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    workers = sum(len(tasks) for name, tasks in cluster.items() if name in ("chief", "worker")) or 1
    if workers == 1:
        return Worker(True, 0, 1, lambda flag: flag)
    chief = resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                              and "chief" not in cluster)

    @tf.function
    def any_worker(flag):
        flags = strategy.run(lambda value: tf.cast(value, tf.int32), args=(flag,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None) > 0

    return Worker(chief, resolver.task_id, workers, lambda flag: bool(any_worker(tf.constant(flag))))
