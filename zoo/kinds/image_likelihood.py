"""image_likelihood: the negative log-likelihood of the split's images under the model, in nats
per image and bits per dimension (for a VAE the importance-weighted bound, with the negative ELBO
beside it)."""

from zoo import contract
from zoo.kinds.base import Kind, Objective, TrainingMeasurement
from zoo.kinds.samples import image_limit

NAME = "image_likelihood"
_RECORD = "likelihood"


class ImageLikelihood(Kind):
    name = NAME
    fills = frozenset({contract.IMAGE, contract.CLASS_LABEL, contract.PARAMETER})
    needs = contract.IMAGE
    outputs = (contract.LOG_LIKELIHOOD,)
    objectives = (Objective("bits_per_dim", (_RECORD, "nll", "bits_per_dim"), metric="bits_per_dim"),
                  Objective("nll", (_RECORD, "nll", "nll_nats"), metric="nll"),
                  Objective("negative_elbo", (_RECORD, "negative_elbo", "bits_per_dim"), metric="negative_elbo",
                            output=contract.ELBO))
    intended_use = ("Drawing samples and measuring them without training; a starting point for fine-tuning; a "
                    "reference for serving and client tests. Not a state-of-the-art model.")

    def measure(self, request):
        from zoo.metrics import likelihood

        return {_RECORD: likelihood.evaluate_likelihood(request.function, request.signature, request.dataset,
                                                        request.split, request.likelihood_examples,
                                                        request.batch_size, request.options)}

    def training_measurement(self, config, interface, evaluation, functions):
        return _Measurement(config, interface.signature(evaluation.signature), functions[evaluation.signature])

    def training_protocol(self, config):
        return f"{config.eval_samples:,} images of the {config.eval_split} split"

    def card_metrics(self, record, values):
        likelihood = record.get(_RECORD, {})
        if "nll" in likelihood:
            values["nll_bits_per_dim"] = likelihood["nll"]["bits_per_dim"]
            values["nll_nats"] = likelihood["nll"]["nll_nats"]
        if "negative_elbo" in likelihood:
            values["negative_elbo_bits_per_dim"] = likelihood["negative_elbo"]["bits_per_dim"]

    def headline(self, metrics):
        return [f"{metrics['nll_bits_per_dim']:.3f} bits/dim"] if "nll_bits_per_dim" in metrics else []

    def protocol(self, record):
        likelihood = record.get(_RECORD, {})
        return [f"{likelihood['num_examples']:,} images scored"] if "nll" in likelihood else []

    def summary(self, record, split):
        likelihood = record.get(_RECORD, {})
        if "nll" not in likelihood:
            return []
        text = (f"NLL {likelihood['nll']['nll_nats']:.1f} nats = {likelihood['nll']['bits_per_dim']:.3f} bits/dim "
                f"({likelihood['num_examples']} {likelihood['split']} images)")
        if "negative_elbo" in likelihood:
            text += f"  -ELBO {likelihood['negative_elbo']['bits_per_dim']:.3f} bits/dim"
        return [text]

    def limitations(self, dataset, image_shape):
        return [image_limit(dataset, image_shape)]


class _Measurement(TrainingMeasurement):
    """The likelihood of the first eval_samples images of eval_split, through the model's own
    log-likelihood signature (what its export would report on that split)."""

    summaries = ("bits_per_dim", "nll", "negative_elbo")

    def __init__(self, config, signature, function):
        from zoo import data

        self.config, self.signature, self.function = config, signature, function
        self.options = data.options_of(config)

    def measure(self):
        from zoo.metrics import likelihood

        record = likelihood.evaluate_likelihood(self.function, self.signature, self.config.dataset,
                                                self.config.eval_split, self.config.eval_samples,
                                                options=self.options)
        self.num_examples = record["num_examples"]
        entry = {"bits_per_dim": record["nll"]["bits_per_dim"], "nll": record["nll"]["nll_nats"]}
        if "negative_elbo" in record:
            entry["negative_elbo"] = record["negative_elbo"]["bits_per_dim"]
        return entry

    def describe(self, entry):
        text = f"bits/dim={entry['bits_per_dim']:.4f} nll={entry['nll']:.2f} nats"
        if "negative_elbo" in entry:
            text += f" -elbo={entry['negative_elbo']:.4f} bits/dim"
        return text + f" ({self.num_examples} {self.config.dataset} {self.config.eval_split} images)"


IMAGE_LIKELIHOOD = ImageLikelihood()
