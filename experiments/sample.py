"""zoo-sample: draws a PNG grid from an exported SavedModel alone (no checkpoint, no model code).

    zoo-sample --export=exports/dcgan_fashion_mnist --num=64 --seed=0 --out=grid.png
    zoo-sample --export=exports/vae_fashion_mnist --interpolate --out=interpolation.png
    zoo-sample --export=exports/infogan_fashion_mnist --vary=categorical --out=codes.png
    zoo-sample --server=localhost:8500 --model=dcgan_fashion_mnist --out=grid.png   # through TF Serving
    zoo-sample --server=localhost:8501 --protocol=rest --model=cgan_fashion_mnist --version_label=canary \
        --num_classes=10 --out=grid.png

--interpolate: row r walks from the latent of seed (seed + 2r) to that of seed (seed + 2r + 1) along
a great circle (slerp: Gaussian latents concentrate near a sphere, where linear midpoints are
atypically short), through the export's `from_latent`/`decode(z[, label])` signature; the ends of
a row are exactly serving_default's images of those seeds.
--vary (InfoGAN): each row keeps one seed's noise and codes and varies one code along the columns:
`categorical` through its values, `continuous:i` from -1 to 1.
"""

from absl import flags

from experiments.common import main_with_errors
from zoo.errors import UserError

flags.DEFINE_string("export", None, "Model directory (exports/<name>) or a version directory.")
flags.DEFINE_integer("version", None, "Version to load (default: the highest).")
flags.DEFINE_integer("num", 64, "Number of images: one per seed.")
flags.DEFINE_integer("seed", 0, "First seed; image i uses seed + i.")
flags.DEFINE_integer("columns", None, "Grid columns (default: a square grid).")
flags.DEFINE_string("out", "grid.png", "Output PNG path.")
flags.DEFINE_integer("label", None, "Conditional models: draw every image of this class (default: one row per class).")
flags.DEFINE_bool("interpolate", False, "Draw latent interpolations (rows of --steps images) instead of samples.")
flags.DEFINE_integer("rows", 8, "--interpolate/--vary: number of rows.")
flags.DEFINE_integer("steps", 10, "--interpolate/--vary continuous: images per row.")
flags.DEFINE_string("vary", None, "InfoGAN: the code varied along each row: categorical or continuous:<i>.")
flags.DEFINE_string("server", None, "HOST:PORT of a running TF Serving: draw the grid through it instead of --export.")
flags.DEFINE_string("model", None, "--server: the model name in the server's models.config.")
flags.DEFINE_enum("protocol", "grpc", ["grpc", "rest"], "--server: gRPC (TF Serving port 8500) or REST (8501).")
flags.DEFINE_string("version_label", None, "--server: a version label (e.g. stable, canary) instead of --version.")
flags.DEFINE_integer("num_classes", None, "Conditional models: classes for one row per class (default: the "
                     "export's record; needed with --server, which does not expose it).")
FLAGS = flags.FLAGS


def _grid_rows(conditional, num_classes, num, columns, label, where):
    """(labels or None, num, columns, description) of a sample grid; one row per class when a
    conditional model gets no --label."""
    import numpy as np

    if not conditional and label is not None:
        raise UserError(f"--label needs a conditional model; {where} takes only seeds")
    if conditional and label is None:
        if not num_classes:
            raise UserError(f"{where} does not say how many classes it has: pass --label (or --num_classes for one "
                            f"row per class)")
        columns = max(1, num // num_classes)
        labels = np.repeat(np.arange(num_classes), columns)
        return labels, len(labels), columns, f"one row per class ({num_classes} classes)"
    if conditional:
        if num_classes and not 0 <= label < num_classes:
            raise UserError(f"--label must be between 0 and {num_classes - 1}, got {label}")
        return np.full(num, label), num, columns, f"label {label}"
    return None, num, columns, "unconditional"


def sample_grid(version_dir, first_seed, num, columns=None, label=None, num_classes=None):
    """Calls the SavedModel's serving_default alone; returns (uint8 grid, description).

    Conditional models (seed, label) draw `label` for every image, or one row per class.
    """
    import numpy as np
    import tensorflow as tf

    from zoo import export, images
    from zoo.metrics import sampling

    loaded = tf.saved_model.load(version_dir)
    if "serving_default" not in loaded.signatures:
        raise UserError(f"{version_dir} has no serving_default signature; it has {sorted(loaded.signatures)}")
    serving = loaded.signatures["serving_default"]
    inputs = sampling.check_image_signature(serving, version_dir)
    num_classes = num_classes or export.read_info(version_dir).get("num_classes")
    labels, num, columns, what = _grid_rows("label" in inputs, num_classes, num, columns, label, version_dir)
    _check_batch(num)
    seeds = np.arange(first_seed, first_seed + num, dtype=np.int64)
    try:
        pixels = sampling.call_generator(serving, seeds, labels)
    except tf.errors.InvalidArgumentError as error:
        raise UserError(f"{version_dir} refused the request: {sampling.assertion_message(error)}") from None
    return images.make_grid(pixels, columns=columns), f"{num} images, {what}, seeds {seeds[0]}..{seeds[-1]}"


def _check_batch(num):
    from zoo.models.base import MAX_SERVING_BATCH

    if num > MAX_SERVING_BATCH:
        raise UserError(f"--num must be at most {MAX_SERVING_BATCH}, got {num}")


def served_grid(client, first_seed, num, columns=None, label=None, num_classes=None):
    """The same grid drawn through a running TF Serving (a zoo.serving client); the server holds
    the model, so nothing is loaded here."""
    import numpy as np

    from zoo import images

    signature = client.metadata().get("serving_default")
    if signature is None:
        raise client.error(f"no serving_default signature; it has {sorted(client.metadata())}")
    inputs, outputs = sorted(signature.get("inputs", {})), sorted(signature.get("outputs", {}))
    if inputs not in (["seed"], ["label", "seed"]) or "images" not in outputs:
        raise client.error(f"not an image generator: serving_default takes {inputs} and returns {outputs}, "
                           f"but zoo-sample needs seed (and label) -> images")
    labels, num, columns, what = _grid_rows("label" in inputs, num_classes, num, columns, label, client.where())
    _check_batch(num)
    request = {"seed": np.arange(first_seed, first_seed + num, dtype=np.int64)}
    if labels is not None:
        request["label"] = labels.astype(np.int64)
    pixels = client.predict(request)["images"]
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or len(pixels) != num:
        raise client.error(f"malformed response: expected {num} uint8 images [N, H, W, C], got {pixels.dtype} "
                           f"{pixels.shape}")
    return images.make_grid(pixels, columns=columns), f"{num} images, {what}, seeds {first_seed}..{first_seed + num - 1}"


def slerp(a, b, t):
    """Spherical interpolation between latent vectors a and b at fractions t ([T]) -> [T, D]."""
    import numpy as np

    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    t = np.asarray(t, np.float64)[:, None]
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def _latent_signature(loaded, version_dir, wanted):
    for name in ("from_latent", "decode"):
        signature = loaded.signatures.get(name)
        if signature is not None and sorted(signature.structured_input_signature[1]) in wanted:
            return signature
    raise UserError(f"{version_dir} has no latent signature taking {' or '.join(map(str, wanted))}; "
                    f"it has {sorted(loaded.signatures)}")


def _call(signature, version_dir, **inputs):
    import tensorflow as tf

    from zoo.metrics import sampling

    try:
        return signature(**inputs)["images"].numpy()
    except tf.errors.InvalidArgumentError as error:
        raise UserError(f"{version_dir} refused the request: {sampling.assertion_message(error)}") from None


def interpolation_grid(version_dir, first_seed, rows, steps, label=None):
    """Rows of slerp interpolations between the latents of consecutive seed pairs."""
    import numpy as np
    import tensorflow as tf

    from zoo import export, images
    from zoo.models.base import latents_from_seeds

    loaded = tf.saved_model.load(version_dir)
    signature = _latent_signature(loaded, version_dir, (["z"], ["label", "z"]))
    latent_dim = signature.structured_input_signature[1]["z"].shape[-1]
    conditional = "label" in signature.structured_input_signature[1]
    num_classes = export.read_info(version_dir).get("num_classes")
    if label is not None and not conditional:
        raise UserError(f"--label needs a conditional model; {version_dir} takes only z")
    if label is not None and num_classes and not 0 <= label < num_classes:
        raise UserError(f"--label must be between 0 and {num_classes - 1}, got {label}")
    ends = latents_from_seeds(np.arange(first_seed, first_seed + 2 * rows, dtype=np.int64), latent_dim).numpy()
    t = np.linspace(0.0, 1.0, steps)
    z = np.concatenate([slerp(ends[2 * r], ends[2 * r + 1], t) for r in range(rows)]).astype(np.float32)
    inputs = {"z": tf.constant(z)}
    what = f"{rows} interpolations of {steps} steps, seeds {first_seed}..{first_seed + 2 * rows - 1}"
    if conditional:
        labels = np.repeat(np.arange(rows) % (num_classes or 1) if label is None else np.full(rows, label), steps)
        inputs["label"] = tf.constant(labels, tf.int64)
        what += ", label " + (str(label) if label is not None else "= row index")
    return images.make_grid(_call(signature, version_dir, **inputs), columns=steps), what


def code_grid(version_dir, first_seed, rows, steps, vary):
    """InfoGAN: one row per seed, one code varied along the row, everything else held."""
    import numpy as np
    import tensorflow as tf

    from zoo import export, images
    from zoo.models.base import latents_from_seeds

    loaded = tf.saved_model.load(version_dir)
    signature = _latent_signature(loaded, version_dir, (["categorical", "continuous", "z"],))
    info = export.read_info(version_dir)
    if "categorical_codes" not in info:
        raise UserError(f"{version_dir} does not record its InfoGAN codes (categorical_codes) beside the model")
    categories, continuous_codes = info["categorical_codes"], info.get("continuous_codes", 0)
    noise_dim = signature.structured_input_signature[1]["z"].shape[-1]
    seeds = np.arange(first_seed, first_seed + rows, dtype=np.int64)
    rng = np.random.default_rng(first_seed)
    held_categorical = rng.integers(0, categories, rows)
    held_continuous = np.zeros([rows, continuous_codes], np.float32)
    if vary == "categorical":
        steps = categories
        categorical = np.tile(np.arange(categories), rows)
        continuous = np.repeat(held_continuous, steps, axis=0)
    elif vary.startswith("continuous:") and vary[len("continuous:"):].isdigit() \
            and int(vary[len("continuous:"):]) < continuous_codes:
        index = int(vary[len("continuous:"):])
        categorical = np.repeat(held_categorical, steps)
        continuous = np.repeat(held_continuous, steps, axis=0)
        continuous[:, index] = np.tile(np.linspace(-1.0, 1.0, steps), rows)
    else:
        raise UserError(f"--vary={vary!r}: use categorical or continuous:<i> with i in 0..{continuous_codes - 1}")
    z = np.repeat(latents_from_seeds(seeds, noise_dim).numpy(), steps, axis=0)
    pixels = _call(signature, version_dir, z=tf.constant(z), categorical=tf.constant(categorical, tf.int64),
                   continuous=tf.constant(continuous, tf.float32))
    return images.make_grid(pixels, columns=steps), f"{rows} rows varying {vary} over {steps} columns"


def _main_server():
    from zoo import images, serving

    if FLAGS.export:
        raise UserError("--server and --export name two sources of the model: pass one of them")
    if not FLAGS.model:
        raise UserError("--server needs --model: the model's name in the server's models.config")
    if FLAGS.interpolate or FLAGS.vary:
        raise UserError("--interpolate and --vary need the export's latent signatures and records: pass --export")
    if FLAGS.version is not None and FLAGS.version_label:
        raise UserError("--version and --version_label both pick a version: pass one of them")
    with serving.connect(FLAGS.server, FLAGS.model, FLAGS.protocol, version=FLAGS.version,
                         label=FLAGS.version_label) as client:
        grid, what = served_grid(client, FLAGS.seed, FLAGS.num, FLAGS.columns, FLAGS.label, FLAGS.num_classes)
        where = client.where()
    images.save_png(grid, FLAGS.out)
    print(f"wrote {FLAGS.out}: {what}, from {where}", flush=True)


def main(argv):
    del argv
    if FLAGS.num <= 0:
        raise UserError(f"--num must be a positive integer, got {FLAGS.num}")
    if FLAGS.num_classes is not None and FLAGS.num_classes <= 0:
        raise UserError(f"--num_classes must be a positive integer, got {FLAGS.num_classes}")
    if FLAGS.server:
        return _main_server()
    if not FLAGS.export:
        raise UserError("--export is required, e.g. --export=exports/dcgan_fashion_mnist (or --server and --model)")
    if FLAGS.version_label:
        raise UserError("--version_label selects a version on a server: use it with --server")
    from zoo import export, images

    version_dir = export.resolve_version_dir(FLAGS.export, FLAGS.version)
    if FLAGS.interpolate or FLAGS.vary:
        if FLAGS.interpolate and FLAGS.vary:
            raise UserError("--interpolate and --vary draw different grids: pass one of them")
        if not 1 <= FLAGS.rows * FLAGS.steps <= 1024 or FLAGS.rows < 1 or FLAGS.steps < 2:
            raise UserError(f"--rows must be >= 1 and --steps >= 2 with rows*steps <= 1024, got {FLAGS.rows} "
                            f"and {FLAGS.steps}")
    if FLAGS.interpolate:
        grid, what = interpolation_grid(version_dir, FLAGS.seed, FLAGS.rows, FLAGS.steps, FLAGS.label)
    elif FLAGS.vary:
        grid, what = code_grid(version_dir, FLAGS.seed, FLAGS.rows, FLAGS.steps, FLAGS.vary)
    else:
        grid, what = sample_grid(version_dir, FLAGS.seed, FLAGS.num, FLAGS.columns, FLAGS.label, FLAGS.num_classes)
    images.save_png(grid, FLAGS.out)
    print(f"wrote {FLAGS.out}: {what}, from {version_dir}", flush=True)


def run():
    main_with_errors(main)


if __name__ == "__main__":
    run()
