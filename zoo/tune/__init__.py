"""Hyperparameter search over any zoo model with keras-tuner: `run_search(Search(...), directory)`,
in one process or as keras-tuner's chief and workers (zoo.tune.distribute)."""

from zoo.tune import distribute
from zoo.tune.search import TUNERS, Search, ZooTuner, make_tuner, objective_names, run_search

__all__ = ["TUNERS", "Search", "ZooTuner", "distribute", "make_tuner", "objective_names", "run_search"]
