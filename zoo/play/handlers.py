"""What the playground does, without the UI: requests from widget values, by the roles an export
declares (zoo.contract), and what comes back (grids, interpolations, streams, scores, kept samples).

Nothing here names a model, a signature or an input: every choice reads a role.
"""

import datetime
import io
import json
import math
import os
import re
import zipfile

import numpy as np

from zoo import contract
from zoo.errors import UserError

MAX_GRID = 64  # Samples per request the playground asks for.
MAX_FRAMES = 32  # Interpolation frames.
STREAM_FIRST = 8  # A streamed text grows 8, 16, 32, ... new tokens: at most twice the one-shot cost.
SWEEPS = (1, 2, 5, 10, 20, 50, 100, 250)  # Values of an integer parameter compared side by side.


def describe_signatures(interface):
    """[(signature, [aliases])]: each distinct signature once (one declared under two names, like
    a `serving_default` that is also `generate`, is shown once with its other name)."""
    shown, aliases = [], {}
    for signature in interface.signatures:
        twin = next((kept for kept in shown if kept.to_json() == signature.to_json()), None)
        if twin is None:
            shown.append(signature)
            aliases[signature.name] = []
        else:
            aliases[twin.name].append(signature.name)
    order = sorted(shown, key=lambda signature: signature.name != contract.DEFAULT_SIGNATURE)
    return [(signature, aliases[signature.name]) for signature in order]


def class_names(entry, spec):
    """The names of a class_label or categorical_code input's values: the names recorded in the
    export, else the dataset's own (zoo.data), else the numbers."""
    names = entry.info.get("class_names")
    if not names and spec.role == contract.CLASS_LABEL:
        from zoo import data

        names = data.class_names_of(entry.info.get("dataset", ""))
    names = list(names or [])
    if len(names) != spec.num_values:
        names = [str(value) for value in range(spec.num_values)]
    return names


def seeds_for(seed, count):
    """`count` consecutive seeds from `seed` (count in 1..MAX_GRID)."""
    seed, count = _integer(seed, "seed"), _integer(count, "count")
    if not 1 <= count <= MAX_GRID:
        raise UserError(f"count must be between 1 and {MAX_GRID}, got {count}")
    if not 0 <= seed <= 2**62:
        raise UserError(f"seed must be between 0 and 2**62, got {seed}")
    return np.arange(seed, seed + count, dtype=np.int64)


def _integer(value, what):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a whole number, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise UserError(f"{what} must be a whole number, got {value!r}")
    return int(number)


def check_parameter(spec, value):
    """A parameter's value as its dtype, or a one-line UserError naming its range."""
    kind = "a whole number" if spec.dtype == "int64" else "a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{spec.name} must be {kind} between {spec.low:g} and {spec.high:g}, got {value!r}") from None
    if not (math.isfinite(number) and spec.low <= number <= spec.high) or (
            spec.dtype == "int64" and number != int(number)):
        raise UserError(f"{spec.name} must be {kind} between {spec.low:g} and {spec.high:g}, got {value!r}")
    return int(number) if spec.dtype == "int64" else number


def latents_for(spec, seeds):
    """Standard-normal latents of a latent input, one per seed: the draws zoo's own seed signatures
    make (zoo.signatures.latents_from_seeds), so seed s here is seed s there."""
    from zoo.signatures import latents_from_seeds

    return latents_from_seeds(np.asarray(seeds, np.int64), spec.shape[0]).numpy()


def fit_image(image, shape):
    """(uint8 [H, W, C] of `shape`, note): an uploaded or drawn image converted to what the model
    takes (alpha composited on white, channels converted, resized), the note saying what changed."""
    from PIL import Image

    if image is None:
        raise UserError("no image: upload one or draw on the sketchpad")
    if isinstance(image, dict):  # A sketchpad's value: the composite of its layers.
        image = image.get("composite")
        if image is None:
            raise UserError("the sketchpad is empty: draw something first")
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise UserError(f"an image must be H x W with 1, 3 or 4 channels, got shape {list(array.shape)}")
    notes = []
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    height, width, channels = shape
    picture = Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array)
    if picture.mode == "RGBA":
        if array[..., 3].min() < 255:
            notes.append("transparent pixels drawn on black")
        background = Image.new("RGBA", picture.size, (0, 0, 0, 255))
        picture = Image.alpha_composite(background, picture).convert("RGB")
    if picture.size != (width, height):
        notes.append(f"resized from {picture.size[0]}x{picture.size[1]} to {width}x{height}")
        picture = picture.resize((width, height), Image.BILINEAR)
    mode = "L" if channels == 1 else "RGB"
    if picture.mode != mode:
        notes.append(f"converted to {'grayscale' if channels == 1 else 'RGB'}")
        picture = picture.convert(mode)
    fitted = np.asarray(picture, np.uint8).reshape(height, width, channels)
    return fitted, "; ".join(notes)


def request_for(signature, values, rows):
    """The numpy request of `signature` for `rows` rows from `values` ({input name: one row's value
    or a list/array of `rows` values}); inputs without a value take their declared example."""
    request = {}
    for spec in signature.inputs:
        if spec.name not in values:
            request[spec.name] = spec.batch(rows)
            continue
        value = values[spec.name]
        array = np.asarray(value, dtype=spec.numpy_dtype())
        if array.shape == tuple(spec.shape):
            array = np.repeat(array[None], rows, axis=0)
        if array.shape != (rows, *spec.shape):
            raise UserError(f"{spec.name} must be {rows} value(s) of shape {list(spec.shape)}, got shape {list(array.shape)}")
        request[spec.name] = array
    return request


def slerp(a, b, t):
    """Spherical interpolation between latent vectors (White 2016, *Sampling Generative Networks*):
    stays at the norm a Gaussian latent has, where a straight line passes through its low-norm middle."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b))
    omega = math.acos(min(1.0, max(-1.0, cos)))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)


def interpolation_latents(spec, seed_a, seed_b, frames):
    """[frames, D] latents along the great circle from seed_a's latent to seed_b's."""
    frames = _integer(frames, "frames")
    if not 2 <= frames <= MAX_FRAMES:
        raise UserError(f"frames must be between 2 and {MAX_FRAMES}, got {frames}")
    a, b = latents_for(spec, [_integer(seed_a, "seed A"), _integer(seed_b, "seed B")])
    return np.stack([slerp(a, b, t) for t in np.linspace(0.0, 1.0, frames)]).astype(np.float32)


def strip(images):
    """uint8 images [N, H, W, C] side by side in one row (2-pixel gaps)."""
    from zoo import images as images_lib

    return images_lib.make_grid(images, columns=len(images))


def gif_bytes(images, seconds_per_frame=0.12):
    """An animated GIF that plays the frames forward and back."""
    from PIL import Image

    frames = [Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image) for image in images]
    frames = [frame.resize((frame.size[0] * 4, frame.size[1] * 4), Image.NEAREST) for frame in frames]
    loop = frames + frames[-2:0:-1]
    buffer = io.BytesIO()
    loop[0].save(buffer, format="GIF", save_all=True, append_images=loop[1:], duration=int(seconds_per_frame * 1000),
                 loop=0)
    return buffer.getvalue()


def safe_name(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def grid_zip(images, names):
    """A zip of one PNG per image, each named by its inputs (e.g. `seed_7.png`)."""
    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for image, name in zip(images, names):
            png = io.BytesIO()
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(png, format="PNG")
            archive.writestr(f"{safe_name(name)}.png", png.getvalue())
    return buffer.getvalue()


def sweep_values(spec):
    """The values of an integer parameter compared side by side: SWEEPS inside its range, and its
    default."""
    values = sorted({value for value in SWEEPS if spec.low <= value <= spec.high} | {int(spec.default)})
    return values


def streaming_parameter(signature):
    """The parameter a client may grow to stream the output (declared `prefix`), or None."""
    return next((spec for spec in signature.inputs_with(contract.PARAMETER) if getattr(spec, "prefix", False)), None)


def stream_lengths(total):
    """New-token counts a stream asks for: 8, 16, 32, ... then `total`."""
    lengths, length = [], STREAM_FIRST
    while length < total:
        lengths.append(length)
        length *= 2
    return lengths + [total]


def likelihood_summary(signature, outputs, request):
    """One line per row scoring what was sent: bits per byte (text, with num_tokens) or bits per
    dimension (images: the input's values per row), from the declared log_likelihood output."""
    from zoo.metrics import quality

    log_likelihood = np.asarray(outputs[signature.output_with(contract.LOG_LIKELIHOOD)], np.float64)
    tokens_output = signature.output_with(contract.NUM_TOKENS)
    lines = []
    if tokens_output is not None:
        tokens = np.asarray(outputs[tokens_output], np.float64)
        for value, count in zip(log_likelihood, tokens):
            lines.append(f"{-value / count / math.log(2):.3f} bits/byte over {int(count)} bytes "
                         f"(log-likelihood {value:.1f} nats)" if count else "no bytes scored")
        return lines
    image = signature.input_with(contract.IMAGE)
    dims = int(np.prod(image.shape)) if image is not None else 1
    elbo_output = signature.output_with(contract.ELBO)
    for row, value in enumerate(log_likelihood):
        line = f"{quality.bits_per_dim(-value, dims):.3f} bits/dim (log-likelihood {value:.1f} nats over {dims} values)"
        if elbo_output is not None:
            line += f"; ELBO {quality.bits_per_dim(-float(outputs[elbo_output][row]), dims):.3f} bits/dim"
        lines.append(line)
    return lines


class Keeper:
    """Saves kept samples into an image-folder dataset (class subfolders where a label applies)
    and logs every keep or reject, with model, version, seed and inputs, to `<keep_dir>/kept.jsonl`.
    `zoo-train --dataset=folder:<keep_dir> --init_from=<the export>` then fine-tunes on them.
    Nothing is written outside `keep_dir`."""

    LOG = "kept.jsonl"

    def __init__(self, keep_dir):
        self.keep_dir = os.path.abspath(keep_dir) if keep_dir else None

    def _require(self):
        if not self.keep_dir:
            raise UserError("keeping samples needs a folder: start zoo-play with --keep_dir=<folder>")
        os.makedirs(self.keep_dir, exist_ok=True)

    def record(self, entry, image, inputs, kept=True, class_name=None, classes=None):
        """Writes the sample (when kept) and its log line; returns the PNG path (or None)."""
        from PIL import Image

        self._require()
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        described = "_".join(f"{key}{safe_name(value)}" for key, value in sorted(inputs.items())
                             if np.ndim(value) == 0)[:80]
        path = None
        if kept:
            folder = self.keep_dir
            if class_name is not None:
                folder = os.path.join(folder, safe_name(class_name))
                if classes:  # The class ids of the export, so a folder of some classes keeps their ids.
                    self._write_classes(classes)
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"{safe_name(entry.name)}_v{entry.version}_{described}_{stamp}.png")
            if os.path.commonpath([os.path.realpath(path), os.path.realpath(self.keep_dir)]) != os.path.realpath(self.keep_dir):
                raise UserError(f"refusing to write outside --keep_dir: {path}")
            array = np.asarray(image, np.uint8)
            Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(path)
        line = {"time": stamp, "action": "keep" if kept else "reject", "model": entry.name, "version": entry.version,
                "inputs": {key: np.asarray(value).tolist() for key, value in inputs.items()},
                "class": class_name, "file": os.path.relpath(path, self.keep_dir) if path else None}
        with open(os.path.join(self.keep_dir, self.LOG), "a") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
        return path

    def _write_classes(self, classes):
        from zoo.data import folder as folder_lib

        path = os.path.join(self.keep_dir, folder_lib.CLASSES_FILE)
        wanted = "".join(f"{safe_name(name)}\n" for name in classes)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(wanted)
