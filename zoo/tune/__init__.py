"""Hyperparameter search over any zoo model with keras-tuner: `run_search(Search(...), directory)`."""

from zoo.tune.search import TUNERS, Search, ZooTuner, make_tuner, objective_names, run_search

__all__ = ["TUNERS", "Search", "ZooTuner", "make_tuner", "objective_names", "run_search"]
