"""Hyperparameter search over any zoo model with keras-tuner: `run_search(Search(...), directory)`."""

from zoo.tune.search import OBJECTIVES, TUNERS, Search, ZooTuner, make_tuner, run_search

__all__ = ["OBJECTIVES", "TUNERS", "Search", "ZooTuner", "make_tuner", "run_search"]
