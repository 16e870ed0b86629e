"""Evaluation during training: the model's own measure on held-out data, the `best` checkpoint,
early stopping.

Every `eval_every` steps the kind (zoo.kinds) of one of the model's declared evaluations measures
it on `eval_split`: FID and KID of `eval_samples` images drawn from fixed seeds (a translation
model: of its translations of the split's first `eval_samples` inputs) against the split's
reference statistics (computed once and cached, see zoo.metrics.reference); bits/dim of the
split's first `eval_samples` images for an image likelihood; bits/byte of the split's text for a
language model. The numbers go to TensorBoard and a progress line. `eval_metric` picks the number
(and so the evaluation) to minimize; the configs' default, fid, stands for a model's primary
metric when none of its evaluations measures FID. The checkpoint of the best `eval_metric` so
far is kept in workdir/best/, and the history in workdir/evaluations.json, so a resumed run keeps
counting toward `early_stopping_patience` where it left off.

`eval_split` defaults to "validation", the part of the training data held out of "train"
(`validation_size`, see zoo.data): the best checkpoint and early stopping are selections, so they
never read the test split, which is kept for the numbers a README reports.
"""

import json
import os

import tensorflow as tf

BEST_DIR = "best"
HISTORY_FILE = "evaluations.json"


class TrainingEvaluator:
    """Measures the model during training and decides when to stop early (lower is better)."""

    def __init__(self, config, workdir, model, checkpoint, start_step):
        from zoo import kinds

        interface = model.interface()
        evaluation, self.kind, self.metric = kinds.training_choice(interface, config.eval_metric, config.model)
        self.kind.check_budget(config)
        self.config, self.workdir = config, workdir
        self.measurement = self.kind.training_measurement(config, interface, evaluation, model.serving_signatures())
        self.best_manager = tf.train.CheckpointManager(checkpoint, os.path.join(workdir, BEST_DIR), max_to_keep=1)
        # Evaluations after the restored step belong to a timeline the resumed run replaces.
        self.history = [entry for entry in self._read_history() if entry["step"] <= start_step]

    def _read_history(self):
        path = os.path.join(self.workdir, HISTORY_FILE)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return json.load(f)["evaluations"]

    def _write_history(self):
        path = os.path.join(self.workdir, HISTORY_FILE)
        with open(path + ".tmp", "w") as f:
            json.dump({"metric": self.metric, "evaluations": self.history}, f, indent=2)
        os.replace(path + ".tmp", path)

    def best(self):
        """The history entry with the lowest metric, or None."""
        metric = self.metric
        return min(self.history, key=lambda entry: entry[metric]) if self.history else None

    def evaluations_without_improvement(self):
        best = self.best()
        return 0 if best is None else sum(entry["step"] > best["step"] for entry in self.history)

    def evaluate(self, step, writer):
        """Evaluates at `step`; saves `best` on improvement. Returns True when patience has run out."""
        previous_best = self.best()
        entry = {"step": step, **self.measurement.measure()}
        self.history.append(entry)
        metric = self.metric
        improved = previous_best is None or entry[metric] < previous_best[metric]
        if improved:
            self.best_manager.save(checkpoint_number=step)
        self._write_history()
        with writer.as_default(step=step):
            for name in self.measurement.summaries:
                if name in entry:
                    tf.summary.scalar(f"eval/{name}", entry[name])
        best = self.best()
        print(f"eval at step {step}: {self.measurement.describe(entry)}; "
              f"best {metric}={best[metric]:.4f} at step {best['step']}", flush=True)
        return self.patience_exhausted()

    def patience_exhausted(self):
        """True once early_stopping_patience evaluations in a row did not improve (0: never)."""
        patience = self.config.early_stopping_patience
        return bool(patience) and self.evaluations_without_improvement() >= patience

    def restore_best(self, checkpoint):
        """Loads the best checkpoint's weights into the model (for the export); returns its step."""
        if self.best_manager.latest_checkpoint is None:
            return None
        checkpoint.restore(self.best_manager.latest_checkpoint).assert_existing_objects_matched()
        return self.best()["step"]
