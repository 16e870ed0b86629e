"""The model contract: what a model declares to the shared code (its signatures' inputs by role,
its evaluations and its preview grid), returned by `model.interface()`.

The trainer, exporter, warm-up, evaluator, sampler and tuner never look at a model's name or at
its signature inputs' names; they read the model's `Interface` (and, from an export alone, the
copy written into assets.extra/zoo_export.json). Each input has a *role* that says how a valid
value is made:

    seed           int64 per row; one output per seed, the same output for the same seed
    class_label    int64 per row in [0, num_values); evaluation feeds the data's `feature`
    latent         float32 [D] per row, standard normal (`latents_from_seeds` of a seed)
    image          uint8 [H, W, C] per row; evaluation feeds the data's `feature`
    text           string per row (bytes); evaluation feeds the data's text
    categorical_code  int64 per row in [0, num_values), a code the model was trained to honour
    uniform_code   float32 [D] per row in [low, high]
    parameter      one number per row with a default and an allowed range [low, high]; an int64
                   one may be a `prefix` length (a larger value extends the same output)

An input may also carry an `example`: the value its warm-up request uses when the role's own
example would not do (a text long enough to score). Outputs have roles too (`images`: uint8
images; `log_likelihood`, `elbo`, `num_tokens`: per-row numbers; `text`).

Evaluations name what can be measured and through which signature; each kind of evaluation is
one module of zoo.kinds, which says the input roles it fills and needs and the output roles it
reads (a generator's seeds, an image likelihood's images, a text likelihood's text, a text
generation's prompt and seed, a translation's images; any of them may also take parameters, left
at their declared defaults).

The preview (trainer grids, zoo-sample's default grid) is one of the model's evaluations whose
kind draws images, or none.
"""

import dataclasses
import json

from zoo import export_record
from zoo.errors import UserError

# Input roles. Shared code names roles through these constants, never a model's input names.
SEED, CLASS_LABEL, LATENT, IMAGE, TEXT = "seed", "class_label", "latent", "image", "text"
CATEGORICAL_CODE, UNIFORM_CODE, PARAMETER = "categorical_code", "uniform_code", "parameter"
INPUT_ROLES = (SEED, CLASS_LABEL, LATENT, IMAGE, TEXT, CATEGORICAL_CODE, UNIFORM_CODE, PARAMETER)
# Output roles.
IMAGES, LOG_LIKELIHOOD, ELBO, NUM_TOKENS, MEAN, LOG_VAR = "images", "log_likelihood", "elbo", "num_tokens", "mean", "log_var"
OUTPUT_ROLES = (IMAGES, LOG_LIKELIHOOD, ELBO, NUM_TOKENS, TEXT, MEAN, LOG_VAR)
DEFAULT_SIGNATURE = "serving_default"  # TF Serving's default signature key.
DTYPES = ("int64", "float32", "uint8", "string")
_ROLE_DTYPES = {"seed": "int64", "class_label": "int64", "latent": "float32", "image": "uint8", "text": "string",
                "categorical_code": "int64", "uniform_code": "float32"}


@dataclasses.dataclass(frozen=True)
class Input:
    """One input of a signature: its name, role, dtype and per-row shape (no batch dimension)."""

    name: str
    role: str
    dtype: str
    shape: tuple = ()
    num_values: int = 0  # class_label, categorical_code: values are 0 .. num_values - 1.
    default: float | int | None = None  # parameter.
    low: float | int | None = None  # parameter, uniform_code.
    high: float | int | None = None
    feature: str = ""  # image, class_label: the data feature evaluation feeds (e.g. "image", "label").
    example: object = None  # A warm-up value for one row, when the role's own would not do.
    # parameter: the output for value v is a prefix of the output for any larger value (all else
    # equal), so a client may stream it by growing the value (a text's new-token count).
    prefix: bool = False

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(self.shape))
        if self.role not in INPUT_ROLES:
            raise ValueError(f"input {self.name!r}: unknown role {self.role!r}; known: {', '.join(INPUT_ROLES)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"input {self.name!r}: unknown dtype {self.dtype!r}; known: {', '.join(DTYPES)}")
        wanted = _ROLE_DTYPES.get(self.role)
        if wanted and self.dtype != wanted:
            raise ValueError(f"input {self.name!r}: role {self.role} takes {wanted}, not {self.dtype}")
        if self.role in ("class_label", "categorical_code") and self.num_values < 1:
            raise ValueError(f"input {self.name!r}: role {self.role} needs num_values >= 1")
        if self.role == "parameter" and (self.default is None or self.low is None or self.high is None):
            raise ValueError(f"input {self.name!r}: a parameter needs a default, low and high")
        if self.prefix and (self.role != "parameter" or self.dtype != "int64"):
            raise ValueError(f"input {self.name!r}: only an int64 parameter can be a prefix length")

    def tensor_spec(self):
        """The tf.TensorSpec of the signature input ([None, *shape], named)."""
        import tensorflow as tf

        return tf.TensorSpec([None, *self.shape], tf.dtypes.as_dtype(self.dtype), name=self.name)

    def numpy_dtype(self):
        import numpy as np

        return object if self.dtype == "string" else np.dtype(self.dtype)

    def example_row(self):
        """One valid value of this input (without the batch dimension)."""
        import numpy as np

        if self.example is not None:
            value = self.example
        elif self.role == "parameter":
            value = self.default
        elif self.role == "image":
            value = np.full(self.shape, 128)
        elif self.role == "text":
            value = b"a"
        else:  # seed, class_label, categorical_code: 0; latent, uniform_code: zeros.
            value = np.zeros(self.shape)
        if self.dtype == "string" and isinstance(value, str):
            value = value.encode()
        return np.asarray(value, dtype=self.numpy_dtype())

    def batch(self, rows):
        """A numpy batch of `rows` copies of the example row."""
        import numpy as np

        return np.repeat(self.example_row()[None], rows, axis=0)

    def to_json(self):
        record = {"name": self.name, "role": self.role, "dtype": self.dtype, "shape": list(self.shape)}
        for key in ("num_values", "default", "low", "high", "feature", "example", "prefix"):
            value = getattr(self, key)
            if value is not None and value != "" and not (key in ("num_values", "prefix") and not value):
                record[key] = value.decode("latin-1") if isinstance(value, bytes) else value
        return record


@dataclasses.dataclass(frozen=True)
class Signature:
    """A serving signature: its inputs (in the order the tf.function takes them) and output roles."""

    name: str
    inputs: tuple
    outputs: dict  # output name -> role

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))
        names = [spec.name for spec in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"signature {self.name!r} declares an input twice: {names}")
        for output, role in self.outputs.items():
            if role not in OUTPUT_ROLES:
                raise ValueError(f"signature {self.name!r} output {output!r}: unknown role {role!r}")

    def input_with(self, role):
        """The first input of `role`, or None."""
        return next((spec for spec in self.inputs if spec.role == role), None)

    def inputs_with(self, role):
        return [spec for spec in self.inputs if spec.role == role]

    def output_with(self, role):
        """The name of the first output of `role`, or None."""
        return next((name for name, value in self.outputs.items() if value == role), None)

    def roles(self):
        return {spec.role for spec in self.inputs}

    def input_signature(self):
        """[tf.TensorSpec] for `tf.function(input_signature=...)`."""
        return [spec.tensor_spec() for spec in self.inputs]

    def example_request(self, rows=1):
        """{input name: numpy batch} that the signature accepts."""
        return {spec.name: spec.batch(rows) for spec in self.inputs}

    def to_json(self):
        return {"inputs": [spec.to_json() for spec in self.inputs], "outputs": dict(self.outputs)}


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """A measurement that applies to the model: its kind (a zoo.kinds name) and signature.

    `reference` names the data feature outputs are compared with (samples: the real images;
    translation: the targets)."""

    kind: str
    signature: str
    reference: str = ""

    def to_json(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Interface:
    """Everything shared code may know about a model's serving side."""

    signatures: tuple
    evaluations: tuple = ()
    preview: str | None = None  # The kind of one of `evaluations` (samples or translation), or None.

    def __post_init__(self):
        object.__setattr__(self, "signatures", tuple(self.signatures))
        object.__setattr__(self, "evaluations", tuple(self.evaluations))
        self.validate()

    def validate(self):
        """Raises ValueError when the declaration contradicts itself."""
        names = [signature.name for signature in self.signatures]
        if DEFAULT_SIGNATURE not in names:
            raise ValueError(f"an interface needs a serving_default signature; it declares {names}")
        from zoo import kinds

        for evaluation in self.evaluations:
            try:
                kind = kinds.get(evaluation.kind)
            except ValueError as error:
                raise ValueError(str(error)) from None
            if evaluation.signature not in names:
                raise ValueError(f"evaluation {evaluation.kind} uses undeclared signature {evaluation.signature!r}")
            signature = self.signature(evaluation.signature)
            if kind.needs not in signature.roles() or not signature.roles() <= kind.fills:
                raise ValueError(f"evaluation {evaluation.kind} needs a signature taking {kind.needs} (and only "
                                 f"{sorted(kind.fills)}); {signature.name} takes {sorted(signature.roles())}")
            missing = [role for role in kind.outputs if signature.output_with(role) is None]
            if missing:
                raise ValueError(f"evaluation {evaluation.kind}: {signature.name} has no output of role {missing}")
            for spec in signature.inputs:
                if spec.role in ("image", "class_label") and not spec.feature:
                    raise ValueError(f"evaluation {evaluation.kind}: input {spec.name} needs the data feature it reads")
        if self.preview is not None:
            preview_kinds = kinds.preview_kinds()
            if self.preview not in preview_kinds or self.evaluation(self.preview) is None:
                raise ValueError(f"preview {self.preview!r} must be one of the declared evaluations of kind "
                                 f"{' or '.join(preview_kinds)}")

    def signature(self, name):
        """The declared signature `name`, or None."""
        return next((signature for signature in self.signatures if signature.name == name), None)

    def evaluation(self, kind):
        """The declared evaluation of `kind` (a name or a zoo.kinds Kind), or None."""
        name = getattr(kind, "name", kind)
        return next((evaluation for evaluation in self.evaluations if evaluation.kind == name), None)

    def evaluation_signature(self, kind):
        evaluation = self.evaluation(kind)
        return None if evaluation is None else self.signature(evaluation.signature)

    def signature_taking(self, required, allowed=()):
        """The first signature whose input roles include every role in `required` and nothing
        outside `required` | `allowed`, or None."""
        required, allowed = set(required), set(required) | set(allowed)
        for signature in self.signatures:
            if required <= signature.roles() <= allowed:
                return signature
        return None

    def to_json(self):
        return {"signatures": [{"name": signature.name, **signature.to_json()} for signature in self.signatures],
                "evaluations": [evaluation.to_json() for evaluation in self.evaluations],
                "preview": self.preview}

    @classmethod
    def from_json(cls, record):
        signatures = []
        for signature in record["signatures"]:
            inputs = [Input(**{**spec, "example": _example_from_json(spec)}) for spec in signature["inputs"]]
            signatures.append(Signature(signature["name"], inputs, signature["outputs"]))
        evaluations = [Evaluation(**evaluation) for evaluation in record.get("evaluations", [])]
        return cls(signatures, evaluations, record.get("preview"))


def _example_from_json(spec):
    value = spec.get("example")
    if value is not None and spec["dtype"] == "string":
        return value.encode("latin-1")
    return value


INFO_KEY = export_record.INTERFACE_KEY


def from_export_info(info, where):
    """The Interface recorded in an export's zoo_export.json record, or a one-line UserError."""
    if INFO_KEY not in info:
        raise UserError(f"{where} does not declare its interface (assets.extra/zoo_export.json has no "
                        f"{INFO_KEY!r}; exports from zoo before the model contract lack it): re-export it with zoo-export")
    return Interface.from_json(info[INFO_KEY])


def from_export(version_dir):
    """The Interface of an export version directory, read from its zoo_export.json (zoo.export_record:
    the record zoo.export writes; this module never imports zoo.export, nor it this one)."""
    return from_export_info(export_record.read_info(version_dir), version_dir)


def dumps(interface):
    return json.dumps(interface.to_json(), sort_keys=True)
