"""zoo-sample: draws a PNG grid (or text) from an exported SavedModel alone (no checkpoint, no model code).

    zoo-sample --export=exports/dcgan_fashion_mnist --num=64 --seed=0 --out=grid.png
    zoo-sample --export=exports/vae_fashion_mnist --interpolate --out=interpolation.png
    zoo-sample --export=exports/infogan_fashion_mnist --vary=categorical --out=codes.png
    zoo-sample --export=exports/pix2pix_fashion_mnist_edges --num=24 --out=edges.png   # input | output | target
    zoo-sample --export=exports/pix2pix_fashion_mnist_edges --input='photos/*.png' --out=translated.png
    zoo-sample --export=exports/gpt_fortunes --prompt='The ' --prompt='Q: Why' --num=3 --parameter=temperature=0.8
    zoo-sample --server=localhost:8500 --model=dcgan_fashion_mnist --out=grid.png   # through TF Serving
    zoo-sample --server=localhost:8501 --protocol=rest --model=cgan_fashion_mnist --version_label=canary \
        --out=grid.png

What a grid shows is what the export declares as its preview (assets.extra/zoo_export.json): samples
from seeds (conditional models: one row per class, or --label), or for an image-to-image model
rows of input | output | target from the --split of its dataset (input | output for --input files).
A text model (one whose signature continues a text input from a seed) prints --num texts per
--prompt instead (seeds --seed.., 4 per prompt unless --num is given), and with --out writes them as
JSON lines (each row's inputs and output by their declared names).
With --server the declaration is read from the model's local export (--export, default
exports/<model>), the directory TF Serving serves.

--interpolate: row r walks from the latent of seed (seed + 2r) to that of seed (seed + 2r + 1) along
a great circle (slerp: Gaussian latents concentrate near a sphere, where linear midpoints are
atypically short), through the signature that decodes a latent; the ends of a row are exactly the
sampled images of those seeds.
--vary=<code>: each row keeps one seed's noise and codes and varies one declared code input along
the columns: a categorical code through its values, `<uniform code>:i` from its low to its high.
An export this process did not write runs only if its graph holds just the ops zoo's own exports
use (no file access, no Python calls: zoo.export.trust); --trust_export runs it regardless.
"""

import sys

from absl import flags

from experiments.common import command_flags, run_command
from zoo.errors import UserError

FLAGS = command_flags()  # Its own flags (experiments.common): commands share a process.
flags.DEFINE_string("export", None, "Model directory (exports/<name>) or a version directory.", flag_values=FLAGS)
flags.DEFINE_integer("version", None, "Version to load (default: the highest).", flag_values=FLAGS)
flags.DEFINE_integer("num", 64, "Number of images (one per seed), or of input images to translate.", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "First seed; image i uses seed + i.", flag_values=FLAGS)
flags.DEFINE_integer("columns", None, "Grid columns (default: a square grid).", flag_values=FLAGS)
flags.DEFINE_string("out", "grid.png", "Output PNG path (text models: a JSON-lines file, written only when given).",
                    flag_values=FLAGS)
flags.DEFINE_multi_string("prompt", [], "Text models: a prompt to continue (repeatable); --num texts each.",
                          flag_values=FLAGS)
flags.DEFINE_integer("label", None, "Conditional models: draw every image of this class (default: one row per class).",
                     flag_values=FLAGS)
flags.DEFINE_bool("interpolate", False, "Draw latent interpolations (rows of --steps images) instead of samples.",
                  flag_values=FLAGS)
flags.DEFINE_integer("rows", 8, "--interpolate/--vary: number of rows.", flag_values=FLAGS)
flags.DEFINE_integer("steps", 10, "--interpolate/--vary with a uniform code: images per row.", flag_values=FLAGS)
flags.DEFINE_string("vary", None, "The declared code input varied along each row: <categorical code> or "
                    "<uniform code>:<i>.", flag_values=FLAGS)
flags.DEFINE_string("input", None, "Image-to-image models: translate these files (a path or a glob) instead of "
                    "the dataset's pairs.", flag_values=FLAGS)
flags.DEFINE_string("split", "test", "Image-to-image models: the split whose first --num pairs are drawn.",
                    flag_values=FLAGS)
flags.DEFINE_string("data_dir", None, "Image-to-image models: where the dataset's files are (as for zoo-train).",
                    flag_values=FLAGS)
flags.DEFINE_multi_string("parameter", [], "name=value: set a parameter input the drawn signature declares (e.g. "
                          "a diffusion sampler's steps=10 or guidance=3) instead of its default; repeatable.",
                          flag_values=FLAGS)
flags.DEFINE_string("server", None, "HOST:PORT of a running TF Serving: draw the grid through it instead of --export.",
                    flag_values=FLAGS)
flags.DEFINE_string("model", None, "--server: the model name in the server's models.config.", flag_values=FLAGS)
flags.DEFINE_enum("protocol", "grpc", ["grpc", "rest"], "--server: gRPC (TF Serving port 8500) or REST (8501).",
                  flag_values=FLAGS)
flags.DEFINE_string("version_label", None, "--server: a version label (e.g. stable, canary) instead of --version.",
                    flag_values=FLAGS)
flags.DEFINE_bool("trust_export", False, "Run --export even if its graph holds ops zoo's own exports never use "
                  "(file access, Python calls; see zoo.export.trust): only for an export whose source you trust.",
                  flag_values=FLAGS)
flags.DEFINE_integer("num_classes", None, "Conditional models: classes for one row per class (default: what the "
                     "export declares).", flag_values=FLAGS)


def slerp(a, b, t):
    """Spherical interpolation between latent vectors a and b at fractions t ([T]) -> [T, D]."""
    import numpy as np

    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    t = np.asarray(t, np.float64)[:, None]
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolation_grid(version_dir, first_seed, rows, steps, label=None, trust_export=False):
    """Rows of slerp interpolations between the latents of consecutive seed pairs."""
    import numpy as np
    import tensorflow as tf

    from zoo import contract, images
    from zoo.export import trust
    from zoo.metrics import sampling
    from zoo.signatures import latents_from_seeds

    interface = contract.from_export(version_dir)
    signature = interface.signature_taking({contract.LATENT}, {contract.CLASS_LABEL})
    if signature is None:
        raise UserError(f"{version_dir} declares no signature decoding a latent; it has "
                        f"{[s.name for s in interface.signatures]}")
    latent, label_input = signature.input_with(contract.LATENT), signature.input_with(contract.CLASS_LABEL)
    if label is not None and label_input is None:
        raise UserError(f"--label needs a conditional model; {signature.name} takes only a latent")
    if label is not None and not 0 <= label < label_input.num_values:
        raise UserError(f"--label must be between 0 and {label_input.num_values - 1}, got {label}")
    ends = latents_from_seeds(np.arange(first_seed, first_seed + 2 * rows, dtype=np.int64), latent.shape[0]).numpy()
    t = np.linspace(0.0, 1.0, steps)
    request = {latent.name: np.concatenate([slerp(ends[2 * r], ends[2 * r + 1], t)
                                            for r in range(rows)]).astype(np.float32)}
    what = f"{rows} interpolations of {steps} steps, seeds {first_seed}..{first_seed + 2 * rows - 1}"
    if label_input is not None:
        labels = np.arange(rows) % label_input.num_values if label is None else np.full(rows, label)
        request[label_input.name] = np.repeat(labels, steps).astype(np.int64)
        what += ", label " + (str(label) if label is not None else "= row index")
    function = trust.load(version_dir, trust_export).signatures[signature.name]
    with sampling.refused_as_user_error(version_dir):
        pixels = sampling.call(function, request)[signature.output_with(contract.IMAGES)]
    return images.make_grid(pixels, columns=steps), what


def code_grid(version_dir, first_seed, rows, steps, vary, trust_export=False):
    """One row per seed, one declared code varied along the row, everything else held."""
    import numpy as np
    import tensorflow as tf

    from zoo import contract, images
    from zoo.export import trust
    from zoo.metrics import sampling
    from zoo.signatures import latents_from_seeds

    interface = contract.from_export(version_dir)
    codes = (contract.CATEGORICAL_CODE, contract.UNIFORM_CODE)
    signature = interface.signature_taking({contract.LATENT}, codes)
    if signature is None or not signature.roles() & set(codes):
        raise UserError(f"--vary needs a model with code inputs (InfoGAN); {version_dir} declares none")
    code_inputs = [spec for spec in signature.inputs if spec.role in codes]
    allowed = [spec.name if spec.role == contract.CATEGORICAL_CODE else f"{spec.name}:<0..{spec.shape[0] - 1}>"
               for spec in code_inputs]
    name, _, index = vary.partition(":")
    varied = next((spec for spec in code_inputs if spec.name == name), None)
    if varied is None or (varied.role == contract.CATEGORICAL_CODE) != (index == "") or (
            index and not (index.isdigit() and int(index) < varied.shape[0])):
        raise UserError(f"--vary={vary!r}: use one of {', '.join(allowed)}")
    if varied.role == contract.CATEGORICAL_CODE:
        steps = varied.num_values
    latent = signature.input_with(contract.LATENT)
    seeds = np.arange(first_seed, first_seed + rows, dtype=np.int64)
    rng = np.random.default_rng(first_seed)
    request = {latent.name: np.repeat(latents_from_seeds(seeds, latent.shape[0]).numpy(), steps, axis=0)}
    for spec in code_inputs:  # Held: a random category per row; uniform codes at their midpoint.
        if spec.role == contract.CATEGORICAL_CODE:
            values = np.tile(np.arange(steps), rows) if spec is varied else np.repeat(
                rng.integers(0, spec.num_values, rows), steps)
            request[spec.name] = values.astype(np.int64)
        else:
            values = np.full([rows * steps, *spec.shape], (spec.low + spec.high) / 2, np.float32)
            if spec is varied:
                values[:, int(index)] = np.tile(np.linspace(spec.low, spec.high, steps), rows)
            request[spec.name] = values
    function = trust.load(version_dir, trust_export).signatures[signature.name]
    with sampling.refused_as_user_error(version_dir):
        pixels = sampling.call(function, request)[signature.output_with(contract.IMAGES)]
    return images.make_grid(pixels, columns=steps), f"{rows} rows varying {vary} over {steps} columns"


TEXTS_PER_PROMPT = 4  # --num's default for a text model (its default of 64 is a grid's).


def _write_texts(interface, call, where):
    """Text models: prints --num continuations of each --prompt (and writes them to --out when given);
    returns True, or False for a model that writes no text (it draws a grid)."""
    import json

    from zoo import contract
    from zoo.metrics import sampling

    signature = sampling.text_signature(interface)
    if signature is None or interface.preview is not None:
        return False
    if not FLAGS.prompt:
        raise UserError(f"{where} continues text: pass --prompt=<text> (repeatable), e.g. --prompt='The '")
    if any(not prompt for prompt in FLAGS.prompt):
        raise UserError("--prompt must not be empty: the model continues at least one byte of text")
    num = FLAGS.num if FLAGS["num"].present else TEXTS_PER_PROMPT
    parameters = sampling.parse_parameters(FLAGS.parameter)
    with sampling.refused_as_user_error(where):
        texts = sampling.generate_texts(call(signature.name), signature, FLAGS.prompt, FLAGS.seed, num, parameters)
    for prompt, seed, text in texts:
        print(f"--- prompt {prompt!r}, seed {seed}", flush=True)
        print(text, flush=True)
    given = "".join(f", {name}={value:g}" for name, value in parameters.items())
    summary = f"{len(texts)} texts ({num} per prompt, seeds {FLAGS.seed}..{FLAGS.seed + num - 1}{given}) from {where}"
    if FLAGS["out"].present:
        with open(FLAGS.out, "w") as f:
            names = [signature.input_with(role).name for role in (contract.TEXT, contract.SEED)]
            for prompt, seed, text in texts:  # Keyed by the names the signature declares.
                f.write(json.dumps({names[0]: prompt, names[1]: seed, **parameters,
                                    signature.output_with(contract.TEXT): text}) + "\n")
        summary = f"wrote {FLAGS.out}: {summary}"
    print(summary, flush=True)
    return True


def _main_server():
    import os

    import numpy as np

    from zoo import contract, export, images, serving
    from zoo.metrics import sampling

    if not FLAGS.model:
        raise UserError("--server needs --model: the model's name in the server's models.config")
    if FLAGS.interpolate or FLAGS.vary:
        raise UserError("--interpolate and --vary need the export's latent signatures: pass --export without --server")
    if FLAGS.version is not None and FLAGS.version_label:
        raise UserError("--version and --version_label both pick a version: pass one of them")
    with serving.connect(FLAGS.server, FLAGS.model, FLAGS.protocol, version=FLAGS.version,
                         label=FLAGS.version_label) as client:
        client.metadata()  # The server's own errors (unknown model or version) come first.
        local = FLAGS.export or os.path.join("exports", FLAGS.model)
        if not os.path.isdir(local):
            raise UserError(f"--server needs the model's declaration from its export: no {local!r}; pass "
                            f"--export=<the directory TF Serving serves {FLAGS.model!r} from>")
        version_dir = export.resolve_version_dir(local)
        interface = contract.from_export(version_dir)

        def call(name):
            return lambda **inputs: client.predict({key: np.asarray(value) for key, value in inputs.items()},
                                                   signature=name)

        if _write_texts(interface, call, client.where()):
            return

        grid, what = sampling.preview_grid(interface, call, client.where(), export.read_info(version_dir), FLAGS.seed,
                                  FLAGS.num, FLAGS.columns, FLAGS.label, FLAGS.num_classes, FLAGS.input, FLAGS.split, FLAGS.data_dir,
                                  sampling.parse_parameters(FLAGS.parameter))
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
    from zoo import contract, export, images

    version_dir = export.resolve_version_dir(FLAGS.export, FLAGS.version)
    if FLAGS.interpolate or FLAGS.vary:
        if FLAGS.interpolate and FLAGS.vary:
            raise UserError("--interpolate and --vary draw different grids: pass one of them")
        if not 1 <= FLAGS.rows * FLAGS.steps <= 1024 or FLAGS.rows < 1 or FLAGS.steps < 2:
            raise UserError(f"--rows must be >= 1 and --steps >= 2 with rows*steps <= 1024, got {FLAGS.rows} "
                            f"and {FLAGS.steps}")
    if FLAGS.interpolate:
        grid, what = interpolation_grid(version_dir, FLAGS.seed, FLAGS.rows, FLAGS.steps, FLAGS.label,
                                        FLAGS.trust_export)
    elif FLAGS.vary:
        grid, what = code_grid(version_dir, FLAGS.seed, FLAGS.rows, FLAGS.steps, FLAGS.vary, FLAGS.trust_export)
    else:
        from zoo.export import trust
        from zoo.metrics import sampling

        interface = contract.from_export(version_dir)
        loaded = trust.load(version_dir, FLAGS.trust_export)
        if _write_texts(interface, lambda name: loaded.signatures[name], version_dir):
            return
        grid, what = sampling.preview_grid(interface, lambda name: loaded.signatures[name], version_dir,
                                  export.read_info(version_dir), FLAGS.seed, FLAGS.num, FLAGS.columns, FLAGS.label,
                                  FLAGS.num_classes, FLAGS.input, FLAGS.split, FLAGS.data_dir,
                                  sampling.parse_parameters(FLAGS.parameter))
    images.save_png(grid, FLAGS.out)
    print(f"wrote {FLAGS.out}: {what}, from {version_dir}", flush=True)


def run(argv=None):
    """The command: parses argv (default sys.argv) and returns its exit status."""
    return run_command(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    sys.exit(run())
