"""What a kind of evaluation declares (`Kind`), its objectives and the request evaluate_export
hands to `Kind.measure`.

A kind owns everything particular to one way of measuring a model: which signature inputs and
outputs it needs, how an export is measured (the record fragment zoo-eval writes), how a model is
measured during training (what `best/` and early stopping compare), the numbers it lets zoo-tune
and the trainer minimize, and what a card and zoo-eval's line say about it. Shared code looks a
kind up by the name a model declares (`zoo.kinds.get`) and calls these; it never names one.
"""

import dataclasses

from zoo.errors import UserError


@dataclasses.dataclass(frozen=True)
class Objective:
    """A number to minimize: `name` for zoo-tune's --objective, `path` the keys leading to it in
    evaluate_export's record, `metric` its key in a training-time evaluation (what eval_metric
    names; None: not measured during training), `output` an output role the evaluated signature
    must have for it (None: any)."""

    name: str
    path: tuple
    metric: str | None = None
    output: str | None = None

    def read(self, record):
        value = record
        for key in self.path:
            value = value[key]
        return value

    def available(self, signature):
        return self.output is None or signature.output_with(self.output) is not None


@dataclasses.dataclass(frozen=True)
class Request:
    """What evaluate_export asks a kind to measure: the signature (its declaration and the callable
    loaded from the export), the data and the budget (samples, likelihood examples, prompts)."""

    function: object
    signature: object
    evaluation: object  # zoo.contract.Evaluation
    dataset: str
    split: str
    num_samples: int
    first_seed: int | None
    batch_size: int
    feature_model: str | None
    reference_examples: int
    likelihood_examples: int | None
    options: dict
    parameters: dict | None = None
    num_prompts: int = 0  # Held-out prompts a generation is measured on (0: skipped).
    prompt_bytes: int = 32
    continuation_bytes: int = 64


class TrainingMeasurement:
    """A kind's measurement during training, built once per run; `measure()` returns the numbers
    of one evaluation ({metric: value}), `summaries` the ones written to TensorBoard, `describe`
    the progress line's text for an entry."""

    summaries = ()

    def measure(self):
        raise NotImplementedError

    def describe(self, entry):
        raise NotImplementedError


class Kind:
    """One kind of evaluation. Subclasses set the class attributes and implement the methods."""

    name = ""
    fills = frozenset()  # Input roles the evaluation can fill.
    needs = ""  # The input role its signature must take.
    outputs = ()  # Output roles it reads.
    objectives = ()  # Objective, the first the primary.
    draws = False  # It reads num_samples (samples drawn or pairs translated; 0 skips it).
    preview = False  # Its outputs are images a preview grid can show.
    intended_use = ""  # The card's intended-use paragraph for a model evaluated first by this kind.

    def __repr__(self):
        return f"<evaluation kind {self.name}>"

    def measure(self, request):
        """The record fragment of an export's evaluation ({} when the request skips it)."""
        raise NotImplementedError

    def training_measurement(self, config, interface, evaluation, functions):
        """A TrainingMeasurement on config.eval_split; `functions` are the model's serving
        signatures by name."""
        raise NotImplementedError

    def training_protocol(self, config):
        """How a training-time evaluation was made, for a card: e.g. "2,000 samples vs the validation split"."""
        raise NotImplementedError

    def card_metrics(self, record, values):
        """Adds the numbers a card keeps from `record` to `values` ({name: value})."""

    def headline(self, metrics):
        """The parts of a card's headline this kind's numbers in `metrics` give."""
        return []

    def protocol(self, record):
        """Parts of a card's protocol text for what `record` measured."""
        return []

    def summary(self, record, split):
        """Parts of zoo-eval's line for `record` ([] when this kind measured nothing)."""
        return []

    def limitations(self, dataset, image_shape):
        """Lines a shipped card's limits add for a model evaluated by this kind."""
        return []

    def training_objectives(self):
        return [objective for objective in self.objectives if objective.metric]

    def check_budget(self, config):
        if config.eval_samples < 2:
            raise UserError(f"eval_samples must be at least 2, got {config.eval_samples}")
