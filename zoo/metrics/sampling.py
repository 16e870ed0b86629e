"""Calling a model's declared signatures in bounded batches: samples from seeds, translations of
images, and the grids that show them. Works the same on a SavedModel signature, a model's own
serving function or a TF Serving client, because it reads only the declaration
(`zoo.contract`) to know which input gets what.

Conditional generators get balanced labels: image i has label i mod num_values.
"""

import math

import numpy as np

from zoo.errors import UserError
from zoo import contract

# Evaluation seeds start here, far from the seeds users and sample grids use (0, 1, 2, ...).
EVAL_FIRST_SEED = 10**9


def assertion_message(error):
    """The message of the in-graph check that failed, from a TF InvalidArgumentError's text."""
    import re

    found = re.search(r"assertion failed: \[([^\]]+)\]", str(error))
    return found.group(1) if found else str(error).strip().splitlines()[0]


def call(function, request):
    """{output: numpy} of `function` (a signature or tf.function taking named inputs) on a numpy request."""
    import tensorflow as tf

    outputs = function(**{name: tf.constant(value) for name, value in request.items()})
    return {name: value.numpy() if hasattr(value, "numpy") else np.asarray(value) for name, value in outputs.items()}


def parse_parameters(items):
    """{name: number} from command-line items "name=value" (--parameter), or a one-line UserError."""
    parameters = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            parameters[name] = float(value)
        except ValueError:
            raise UserError(f"--parameter must be name=number (e.g. steps=25), got {item!r}") from None
    return parameters


def parameter_defaults(signature, rows, parameters=None):
    """{name: batch} of the signature's parameter inputs: their declared defaults, or the values in
    `parameters` ({name: number}), which must name declared parameters and lie in their ranges."""
    declared = {spec.name: spec for spec in signature.inputs_with(contract.PARAMETER)}
    values = {name: spec.default for name, spec in declared.items()}
    for name, value in (parameters or {}).items():
        spec = declared.get(name)
        if spec is None:
            allowed = ", ".join(f"{key} (default {item.default}, {item.low}..{item.high})"
                                for key, item in declared.items()) or "none"
            raise UserError(f"{signature.name} has no parameter {name!r}; its parameters: {allowed}")
        if not spec.low <= value <= spec.high or (spec.dtype == "int64" and value != int(value)):
            kind = "an integer" if spec.dtype == "int64" else "a number"
            raise UserError(f"parameter {name} must be {kind} between {spec.low} and {spec.high}, got {value:g}")
        values[name] = value
    return {name: np.full(rows, values[name], spec.numpy_dtype()) for name, spec in declared.items()}


def sample_request(signature, seeds, labels=None, parameters=None):
    """The request of a samples signature: `seeds` for its seed input, parameters at their
    defaults (or as given in `parameters`) and, when it takes a class label, `labels` (default:
    balanced, seed i -> i mod num_values)."""
    seeds = np.asarray(seeds, np.int64)
    request = {signature.input_with(contract.SEED).name: seeds, **parameter_defaults(signature, len(seeds), parameters)}
    label = signature.input_with(contract.CLASS_LABEL)
    if label is not None:
        request[label.name] = (np.arange(len(seeds)) % label.num_values if labels is None
                               else np.asarray(labels)).astype(np.int64)
    elif labels is not None:
        raise UserError(f"a label was given, but {signature.name} takes no class label")
    return request


def _checked_images(images, where):
    if images.dtype != np.uint8 or images.ndim != 4:
        raise UserError(f"{where} returned {images.dtype} {images.shape}, not uint8 images [N, H, W, C]")
    return images


def generate_images(function, signature, num_samples, first_seed=EVAL_FIRST_SEED, batch_size=256, labels=None,
                    parameters=None):
    """uint8 images [num_samples, H, W, C] of seeds first_seed, first_seed+1, ... through a
    samples signature (`labels`: one per sample, default balanced; `parameters`: see
    `parameter_defaults`)."""
    parameter_defaults(signature, 0, parameters)  # Refuses a bad --parameter before any work.
    output = signature.output_with(contract.IMAGES)
    label = signature.input_with(contract.CLASS_LABEL)
    if label is not None and labels is None:  # Balanced over the whole set, not per batch.
        labels = np.arange(num_samples) % label.num_values
    batches = []
    for start in range(0, num_samples, batch_size):
        stop = min(start + batch_size, num_samples)
        seeds = np.arange(first_seed + start, first_seed + stop, dtype=np.int64)
        request = sample_request(signature, seeds, None if labels is None else labels[start:stop], parameters)
        batches.append(call(function, request)[output])
    return _checked_images(np.concatenate(batches), signature.name)


def translate(function, signature, inputs, batch_size=256, parameters=None):
    """uint8 outputs of a translation signature for uint8 input images [N, H, W, C]."""
    image = signature.input_with(contract.IMAGE)
    output = signature.output_with(contract.IMAGES)
    batches = []
    for start in range(0, len(inputs), batch_size):
        rows = inputs[start:start + batch_size]
        batches.append(call(function, {image.name: rows, **parameter_defaults(signature, len(rows), parameters)})[output])
    return _checked_images(np.concatenate(batches), signature.name)


def as_rgb(images, channels):
    """uint8 images with `channels` (1 or 3) channels; gray is repeated, RGB kept."""
    if images.shape[-1] == channels:
        return images
    return np.repeat(images, 3, axis=-1) if channels == 3 else images[..., :1]


def translation_grid(inputs, outputs, targets=None):
    """Rows of (input | output | target) triples, several triples per row so the grid is about
    square; returns (grid, columns)."""
    from zoo import images as images_lib

    parts = [inputs, outputs] + ([targets] if targets is not None else [])
    channels = max(part.shape[-1] for part in parts)
    parts = [as_rgb(part, channels) for part in parts]
    if len({part.shape[1:3] for part in parts}) != 1:  # Inputs of another size than outputs.
        from PIL import Image

        height, width = outputs.shape[1:3]
        parts = [np.stack([np.asarray(Image.fromarray(image.squeeze(-1) if channels == 1 else image)
                                      .resize((width, height))).reshape(height, width, channels)
                           for image in part]) if part.shape[1:3] != (height, width) else part for part in parts]
    per_triple = len(parts)
    stacked = np.stack(parts, axis=1).reshape(-1, *parts[0].shape[1:])
    triples_per_row = max(1, math.ceil(math.sqrt(len(inputs) / per_triple)))
    columns = per_triple * triples_per_row
    return images_lib.make_grid(stacked, columns=columns), columns


def sample_grid(function, signature, first_seed, num, columns=None, label=None, parameters=None):
    """(uint8 grid, description) of `num` samples from seeds first_seed...; a conditional model
    draws `label` for every image, or one row per class."""
    from zoo import images as images_lib

    label_input = signature.input_with(contract.CLASS_LABEL)
    if label_input is None and label is not None:
        raise UserError(f"--label needs a conditional model; {signature.name} takes no class label")
    labels, what = None, "unconditional"
    if label_input is not None:
        classes = label_input.num_values
        if label is None:
            columns = max(1, num // classes)
            labels = np.repeat(np.arange(classes), columns)
            num, what = len(labels), f"one row per class ({classes} classes)"
        else:
            if not 0 <= label < classes:
                raise UserError(f"--label must be between 0 and {classes - 1}, got {label}")
            labels, what = np.full(num, label), f"label {label}"
    seeds = np.arange(first_seed, first_seed + num, dtype=np.int64)
    pixels = generate_images(function, signature, num, first_seed, batch_size=max(num, 1), labels=labels,
                             parameters=parameters)
    given = "".join(f", {name}={value:g}" for name, value in (parameters or {}).items())
    return images_lib.make_grid(pixels, columns=columns), f"{num} images, {what}, seeds {seeds[0]}..{seeds[-1]}{given}"


def examples_of(source, count, features):
    """numpy arrays of `features` of the first `count` elements of a zoo.data Source."""
    batch = next(iter(source.dataset.take(count).batch(count)))
    return [batch[feature].numpy() for feature in features]


def refused_as_user_error(where):
    """A context turning an in-graph check's InvalidArgumentError into a one-line UserError."""
    import tensorflow as tf

    class Refused:
        def __enter__(self):
            return self

        def __exit__(self, kind, error, traceback):
            if kind is not None and issubclass(kind, tf.errors.InvalidArgumentError):
                raise UserError(f"{where} refused the request: {assertion_message(error)}") from None
            return False

    return Refused()


def _with_classes(signature, num_classes):
    """The declared signature with its class label's num_values replaced by --num_classes."""
    import dataclasses

    from zoo import contract

    label = signature.input_with(contract.CLASS_LABEL)
    if label is None or not num_classes:
        return signature
    inputs = [dataclasses.replace(spec, num_values=num_classes) if spec is label else spec for spec in signature.inputs]
    return dataclasses.replace(signature, inputs=inputs)


def text_signature(interface):
    """The signature that continues text from a seed (a text input and a seed in, text out): the
    default signature when it does, else the first that does; None for a model that writes no text."""
    def continues_text(signature):
        return (signature.input_with(contract.TEXT) is not None and signature.input_with(contract.SEED) is not None
                and signature.output_with(contract.TEXT) is not None)

    found = [signature for signature in interface.signatures if continues_text(signature)]
    return next((signature for signature in found if signature.name == contract.DEFAULT_SIGNATURE),
                found[0] if found else None)


def generate_texts(function, signature, prompts, first_seed, num, parameters=None):
    """[(prompt, seed, text)]: `num` texts per prompt with seeds first_seed..first_seed+num-1 (the same
    seeds for every prompt), parameters at their declared defaults or as given; one request."""
    rows = [(prompt, first_seed + index) for prompt in prompts for index in range(num)]
    if len(rows) > _max_batch():
        raise UserError(f"--num x prompts must be at most {_max_batch()}, got {len(rows)}")
    request = {signature.input_with(contract.TEXT).name: np.array([prompt.encode() for prompt, _ in rows], object),
               signature.input_with(contract.SEED).name: np.array([seed for _, seed in rows], np.int64),
               **parameter_defaults(signature, len(rows), parameters)}
    texts = call(function, request)[signature.output_with(contract.TEXT)]
    return [(prompt, seed, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))
            for (prompt, seed), text in zip(rows, texts.tolist())]


def preview_grid(interface, call, where, info, first_seed, num, columns=None, label=None, num_classes=None,
                 input_pattern=None, split="test", data_dir=None, parameters=None):
    """(uint8 grid, description) of the grid the model declares as its preview.

    `call(signature_name)` returns a function of named inputs (a SavedModel signature or a server)."""
    if interface.preview is None:
        kinds = ", ".join(evaluation.kind for evaluation in interface.evaluations) or "nothing"
        raise UserError(f"{where} declares no image grid (it is evaluated by {kinds}); call its signatures "
                        f"{[signature.name for signature in interface.signatures]} directly")
    evaluation = interface.evaluation(interface.preview)
    signature = _with_classes(interface.signature(evaluation.signature), num_classes)
    function = call(evaluation.signature)
    if num > _max_batch():
        raise UserError(f"--num must be at most {_max_batch()}, got {num}")
    image = signature.input_with(contract.IMAGE)
    if image is None:  # Drawn from seeds.
        if input_pattern:
            raise UserError(f"--input translates images; {where} samples from seeds")
        with refused_as_user_error(where):
            return sample_grid(function, signature, first_seed, num, columns, label, parameters)
    if label is not None:
        raise UserError(f"--label needs a conditional model; {where} translates images")
    if input_pattern:
        inputs, names = _read_inputs(input_pattern, image.shape, num)
        targets, what = None, f"{len(inputs)} files {names[0]}..{names[-1]} (input | output)"
    else:
        from zoo import data

        dataset = info.get("dataset")
        if not dataset:
            raise UserError(f"{where} does not record its dataset: pass --input=<files> to translate")
        options = {**info.get("data_options", {}), **({"data_dir": data_dir} if data_dir else {})}
        source = data.load(dataset, split, **options)
        inputs, targets = examples_of(source, min(num, source.num_examples),
                                               [image.feature, evaluation.reference])
        what = f"the first {len(inputs)} pairs of {dataset} {split} (input | output | target)"
    with refused_as_user_error(where):
        outputs = translate(function, signature, inputs, parameters=parameters)
    grid, _ = translation_grid(inputs, outputs, targets)
    return grid, what


def _max_batch():
    from zoo.signatures import MAX_SERVING_BATCH  # The bound every serving signature checks.

    return MAX_SERVING_BATCH


def _read_inputs(pattern, shape, num):
    """uint8 images [N, H, W, C] of the files matching `pattern`, center-cropped and resized to the
    declared input shape (H, W, C), with their names."""
    import glob
    import os

    import numpy as np
    from PIL import Image

    paths = sorted(glob.glob(os.path.expanduser(pattern))) or ([pattern] if os.path.isfile(pattern) else [])
    if not paths:
        raise UserError(f"--input={pattern!r} matches no file")
    paths = paths[:num]
    height, width, channels = shape
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert("L" if channels == 1 else "RGB")
                side = min(image.size)
                left, top = (image.size[0] - side) // 2, (image.size[1] - side) // 2
                image = image.crop((left, top, left + side, top + side)).resize((width, height), Image.BILINEAR)
                images.append(np.asarray(image, np.uint8).reshape(height, width, channels))
        except (OSError, SyntaxError, ValueError) as error:
            raise UserError(f"cannot read --input image {path}: {error}") from None
    return np.stack(images), [os.path.basename(path) for path in paths]
