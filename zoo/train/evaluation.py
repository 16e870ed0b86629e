"""Evaluation during training: FID/KID of a fixed sample set, the `best` checkpoint, early stopping.

Every `eval_every` steps the model's declared samples evaluation draws `eval_samples` images from
fixed seeds (a translation model translates the first `eval_samples` inputs of `eval_split`); their
FID and KID against the reference statistics of `eval_split` (real images, or the translation's
targets; computed once and cached, see zoo.metrics.reference) go to TensorBoard and a progress line. The checkpoint of the
best `eval_metric` so far is kept in workdir/best/, and the history in workdir/evaluations.json,
so a resumed run keeps counting toward `early_stopping_patience` where it left off.

`eval_split` defaults to "validation", the part of the training data held out of "train"
(`validation_size`, see zoo.data): the best checkpoint and early stopping are selections, so they
never read the test split, which is kept for the numbers a README reports.
"""

import json
import os

import tensorflow as tf

from zoo.errors import UserError

BEST_DIR = "best"
HISTORY_FILE = "evaluations.json"
METRICS = ("fid", "kid_mean")


class TrainingEvaluator:
    """Measures the model during training and decides when to stop early (lower is better)."""

    def __init__(self, config, workdir, model, checkpoint, start_step):
        from zoo import contract, metrics
        from zoo.metrics import sampling

        interface = model.interface()
        evaluation = interface.evaluation(contract.SAMPLES) or interface.evaluation(contract.TRANSLATION)
        if evaluation is None:
            declared = ", ".join(evaluation.kind for evaluation in interface.evaluations) or "none"
            raise UserError(f"eval_every needs a model that declares a samples or translation evaluation; "
                            f"{config.model} declares {declared}")
        if config.eval_metric not in METRICS:
            raise UserError(f"eval_metric {config.eval_metric!r} is not available; choose one of {', '.join(METRICS)}")
        if config.eval_samples < 2:
            raise UserError(f"eval_samples must be at least 2, got {config.eval_samples}")
        self.config, self.workdir = config, workdir
        from zoo import data

        options = data.options_of(config)
        self.extractor = metrics.resolve_feature_extractor(
            config.get("feature_model"), config.dataset,
            **{key: options.get(key) for key in ("data_dir", "image_size", "channels", "validation_size")})
        self.reference = metrics.reference_statistics(
            config.dataset, config.eval_split, self.extractor, max_examples=config.eval_reference_examples,
            feature=evaluation.reference,
            **{key: value for key, value in options.items() if key not in ("sequence_length", "max_examples")})
        signature = interface.signature(evaluation.signature)
        function = model.serving_signatures()[evaluation.signature]
        if evaluation.kind == contract.SAMPLES:
            self.draw = lambda: sampling.generate_images(function, signature, config.eval_samples)
        else:
            source = data.load(config.dataset, config.eval_split, **options)
            inputs, = sampling.examples_of(source, min(config.eval_samples, source.num_examples),
                                           [signature.input_with(contract.IMAGE).feature])
            self.draw = lambda: sampling.translate(function, signature, inputs)
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
            json.dump({"metric": self.config.eval_metric, "evaluations": self.history}, f, indent=2)
        os.replace(path + ".tmp", path)

    def best(self):
        """The history entry with the lowest metric, or None."""
        metric = self.config.eval_metric
        return min(self.history, key=lambda entry: entry[metric]) if self.history else None

    def evaluations_without_improvement(self):
        best = self.best()
        return 0 if best is None else sum(entry["step"] > best["step"] for entry in self.history)

    def evaluate(self, step, writer):
        """Evaluates at `step`; saves `best` on improvement. Returns True when patience has run out."""
        from zoo import metrics

        images = self.draw()
        values = metrics.evaluate_images(images, self.reference, self.extractor, metrics=("fid", "kid"))
        previous_best = self.best()
        entry = {"step": step, "fid": float(values["fid"]), "kid_mean": float(values["kid_mean"]),
                 "kid_std": float(values["kid_std"])}
        self.history.append(entry)
        metric = self.config.eval_metric
        improved = previous_best is None or entry[metric] < previous_best[metric]
        if improved:
            self.best_manager.save(checkpoint_number=step)
        self._write_history()
        with writer.as_default(step=step):
            for name in ("fid", "kid_mean", "kid_std"):
                tf.summary.scalar(f"eval/{name}", entry[name])
        best = self.best()
        print(f"eval at step {step}: fid={entry['fid']:.3f} kid={entry['kid_mean']:.4f}±{entry['kid_std']:.4f} "
              f"({self.config.eval_samples} samples vs {self.config.dataset} {self.config.eval_split}); "
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
