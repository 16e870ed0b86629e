"""The one trainer for every model: `train_and_evaluate(config, workdir)`."""

from zoo.train.checkpoints import checkpoint_problem, last_finite_checkpoint
from zoo.train.trainer import TrainResult, make_strategy, restore_model, train_and_evaluate

__all__ = ["TrainResult", "checkpoint_problem", "last_finite_checkpoint", "make_strategy", "restore_model",
           "train_and_evaluate"]
