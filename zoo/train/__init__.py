"""The one trainer for every model: `train_and_evaluate(config, workdir)`."""

from zoo.train.trainer import (TrainResult, checkpoint_problem, last_finite_checkpoint, make_strategy, restore_model,
                               train_and_evaluate)

__all__ = ["TrainResult", "checkpoint_problem", "last_finite_checkpoint", "make_strategy", "restore_model",
           "train_and_evaluate"]
