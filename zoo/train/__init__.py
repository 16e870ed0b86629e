"""The one trainer for every model: `train_and_evaluate(config, workdir)`."""

from zoo.train.trainer import TrainResult, make_strategy, restore_model, train_and_evaluate

__all__ = ["TrainResult", "make_strategy", "restore_model", "train_and_evaluate"]
