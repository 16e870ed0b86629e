"""Kinds of evaluation, one module each: what a model can be measured by (`zoo.contract.Evaluation`
names one), and everything particular to it (see `zoo.kinds.base.Kind`).

    from zoo import kinds
    kind = kinds.get(evaluation.kind)          # a model's declared evaluation -> its Kind
    fragment = kind.measure(request)           # zoo-eval, zoo-tune, zoo-ship
    measurement = kind.training_measurement(config, interface, evaluation, functions)  # eval_every
    kinds.objective("bits_per_dim")            # (kind, Objective) for --objective / eval_metric

Adding a kind of evaluation is one module here (a Kind subclass and its instance) and its line in
KINDS. Importing this package imports no TensorFlow.
"""

from zoo.errors import UserError
from zoo.kinds.base import Kind, Objective, Request, TrainingMeasurement
from zoo.kinds.image_likelihood import IMAGE_LIKELIHOOD
from zoo.kinds.samples import SAMPLES
from zoo.kinds.text_generation import TEXT_GENERATION
from zoo.kinds.text_likelihood import TEXT_LIKELIHOOD
from zoo.kinds.translation import TRANSLATION

# Every kind, in the order a card's metrics are collected (a translation metric is prefixed where a
# sample metric of its name exists).
KINDS = {kind.name: kind for kind in (SAMPLES, IMAGE_LIKELIHOOD, TEXT_LIKELIHOOD, TEXT_GENERATION, TRANSLATION)}
# The order of a card headline's parts: pair-by-pair scores, likelihoods, then FID.
HEADLINE_ORDER = (TRANSLATION, IMAGE_LIKELIHOOD, TEXT_LIKELIHOOD, TEXT_GENERATION, SAMPLES)


def names():
    return tuple(KINDS)


def get(name):
    """The Kind called `name` (a Kind passes through); ValueError naming the known ones."""
    if isinstance(name, Kind):
        return name
    if name not in KINDS:
        raise ValueError(f"unknown evaluation {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def preview_kinds():
    return tuple(kind.name for kind in KINDS.values() if kind.preview)


def objectives():
    """{objective name: (kind, Objective)} over every kind (zoo-tune's --objective)."""
    return {objective.name: (kind, objective) for kind in KINDS.values() for objective in kind.objectives}


def objective(name):
    """(kind, Objective) of a tuning objective; one line naming the available ones."""
    table = objectives()
    if name not in table:
        raise UserError(f"unknown --objective {name!r}; available: {', '.join(table)}")
    return table[name]


def declared(interface):
    """[(Evaluation, Kind)] of what an interface declares, in its order."""
    return [(evaluation, get(evaluation.kind)) for evaluation in interface.evaluations]


def available_objectives(interface):
    """Names of the objectives an interface's declared evaluations can produce."""
    return [objective.name for evaluation, kind in declared(interface) for objective in kind.objectives
            if objective.available(interface.signature(evaluation.signature))]


# The configs' default eval_metric (experiments/configs/_base.py): for a model none of whose
# evaluations measures it, it stands for that model's primary training metric.
DEFAULT_METRIC = SAMPLES.objectives[0].metric


def training_choice(interface, metric, model="the model"):
    """(Evaluation, Kind, metric) that training-time evaluation uses: the declared evaluation whose
    kind measures `metric` during training; for the default metric a model does not measure, the
    first declared evaluation that measures anything during training, with its primary metric.
    A metric the model cannot measure, or a model with nothing to measure, is one line."""
    candidates = [(evaluation, kind) for evaluation, kind in declared(interface) if kind.training_objectives()]
    if not candidates:
        kinds = ", ".join(evaluation.kind for evaluation in interface.evaluations) or "none"
        raise UserError(f"eval_every needs a model that declares an evaluation measurable during training "
                        f"({', '.join(kind.name for kind in KINDS.values() if kind.training_objectives())}); "
                        f"{model} declares {kinds}")
    for evaluation, kind in candidates:
        signature = interface.signature(evaluation.signature)
        if any(objective.metric == metric and objective.available(signature)
               for objective in kind.training_objectives()):
            return evaluation, kind, metric
    if metric != DEFAULT_METRIC:
        raise UserError(f"eval_metric {metric!r} is not available; choose one of "
                        f"{', '.join(training_metrics(interface))}")
    evaluation, kind = candidates[0]
    return evaluation, kind, kind.training_objectives()[0].metric


def training_metrics(interface):
    """The metrics eval_metric may name for an interface."""
    metrics = []
    for evaluation, kind in declared(interface):
        signature = interface.signature(evaluation.signature)
        metrics += [objective.metric for objective in kind.training_objectives()
                    if objective.available(signature) and objective.metric not in metrics]
    return metrics


def card_metrics(record):
    """The numbers a card keeps from a zoo-eval record, flat: {name: value}."""
    values = {}
    for kind in KINDS.values():
        kind.card_metrics(record, values)
    return values


def headline(metrics):
    return ", ".join(part for kind in HEADLINE_ORDER for part in kind.headline(metrics))


__all__ = ["HEADLINE_ORDER", "IMAGE_LIKELIHOOD", "KINDS", "Kind", "Objective", "Request", "SAMPLES", "TEXT_GENERATION",
           "TEXT_LIKELIHOOD", "TRANSLATION", "TrainingMeasurement", "DEFAULT_METRIC", "available_objectives", "card_metrics", "declared", "get", "headline",
           "names", "objective", "objectives", "preview_kinds", "training_choice", "training_metrics"]
