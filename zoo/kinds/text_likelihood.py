"""text_likelihood: bits per byte of the split's held-out text under a byte-level language model
(the whole text as one string: every byte after the first is predicted)."""

from zoo import contract
from zoo.kinds.base import Kind, Objective, TrainingMeasurement

NAME = "text_likelihood"
_RECORD = "likelihood"


class TextLikelihood(Kind):
    name = NAME
    fills = frozenset({contract.TEXT, contract.PARAMETER})
    needs = contract.TEXT
    outputs = (contract.LOG_LIKELIHOOD, contract.NUM_TOKENS)
    objectives = (Objective("bits_per_byte", (_RECORD, "bits_per_byte"), metric="bits_per_byte"),)
    intended_use = ("Trying byte-level text generation and scoring (bits/byte) without training; a starting point "
                    "for fine-tuning on other text; serving and client tests.")

    def measure(self, request):
        from zoo.metrics import likelihood

        return {_RECORD: likelihood.evaluate_text_likelihood(request.function, request.signature, request.dataset,
                                                             request.split, request.options.get("data_dir"),
                                                             request.options.get("validation_size"))}

    def training_measurement(self, config, interface, evaluation, functions):
        return _Measurement(config, interface.signature(evaluation.signature), functions[evaluation.signature])

    def training_protocol(self, config):
        return f"the {config.eval_split} split's text"

    def check_budget(self, config):
        pass  # The whole split's text is scored; eval_samples does not apply.

    def card_metrics(self, record, values):
        if "bits_per_byte" in record.get(_RECORD, {}):
            values["bits_per_byte"] = record[_RECORD]["bits_per_byte"]

    def headline(self, metrics):
        return [f"{metrics['bits_per_byte']:.3f} bits/byte"] if "bits_per_byte" in metrics else []

    def protocol(self, record):
        likelihood = record.get(_RECORD, {})
        return [f"{likelihood['num_tokens']:,} bytes scored"] if "bits_per_byte" in likelihood else []

    def summary(self, record, split):
        likelihood = record.get(_RECORD, {})
        if "bits_per_byte" not in likelihood:
            return []
        return [f"{likelihood['bits_per_byte']:.4f} bits/byte ({likelihood['num_tokens']} bytes predicted)"]

    def limitations(self, dataset, image_shape):
        return ["Byte-level and small: it imitates the style of its training text, may repeat passages of it "
                "verbatim, and states nothing reliable; not for factual or user-facing text."]


class _Measurement(TrainingMeasurement):
    """Bits per byte of the whole eval_split text, through the model's log-likelihood signature."""

    summaries = ("bits_per_byte",)

    def __init__(self, config, signature, function):
        from zoo import data

        self.config, self.signature, self.function = config, signature, function
        self.options = data.options_of(config)

    def measure(self):
        from zoo.metrics import likelihood

        record = likelihood.evaluate_text_likelihood(self.function, self.signature, self.config.dataset,
                                                     self.config.eval_split, self.options.get("data_dir"),
                                                     self.options.get("validation_size"))
        self.num_tokens = record["num_tokens"]
        return {"bits_per_byte": record["bits_per_byte"]}

    def describe(self, entry):
        return (f"bits/byte={entry['bits_per_byte']:.4f} ({self.num_tokens} bytes of {self.config.dataset} "
                f"{self.config.eval_split})")


TEXT_LIKELIHOOD = TextLikelihood()
