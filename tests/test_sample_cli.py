"""zoo-sample's latent grids: slerp interpolations (VAE, GANs) and InfoGAN's one-code-per-row grid."""

import numpy as np
import tensorflow as tf
from PIL import Image

from tests import helpers, model_checks
from zoo import export


def cell(grid, row, column, size=28, padding=2):
    top, left = padding + row * (size + padding), padding + column * (size + padding)
    return grid[top:top + size, left:left + size]


def test_interpolation_rows_end_at_the_seeds_images(tmp_path):
    path = export.export_model(model_checks.build("vae"), str(tmp_path), "vae")
    out = tmp_path / "interpolation.png"
    result = helpers.run_binary("sample", f"--export={tmp_path / 'vae'}", "--interpolate", "--rows=3", "--steps=5",
                                "--seed=10", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert "3 interpolations of 5 steps, seeds 10..15" in result.stdout
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 + 3 * 30, 2 + 5 * 30)
    ends = tf.saved_model.load(path).signatures["serving_default"](seed=tf.constant([12, 13], tf.int64))["images"]
    for column, expected in ((0, ends[0]), (4, ends[1])):
        difference = np.abs(cell(grid, 1, column).astype(int) - expected.numpy()[..., 0].astype(int))
        assert difference.max() <= 1
    assert not np.array_equal(cell(grid, 1, 0), cell(grid, 1, 2))


def test_infogan_grid_varies_one_code_per_row_and_bad_requests_are_one_line(tmp_path):
    export.export_model(model_checks.build("infogan"), str(tmp_path), "infogan")
    out = tmp_path / "codes.png"
    result = helpers.run_binary("sample", f"--export={tmp_path / 'infogan'}", "--vary=categorical", "--rows=2",
                                f"--out={out}")
    assert result.returncode == 0, result.stderr
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 + 2 * 30, 2 + 10 * 30)  # One column per categorical value.
    assert len({cell(grid, 0, column).tobytes() for column in range(10)}) > 1
    helpers.assert_one_line_error(
        helpers.run_binary("sample", f"--export={tmp_path / 'infogan'}", "--vary=continuous:7", f"--out={out}"),
        "--vary='continuous:7': use one of categorical, continuous:<0..1>")
    helpers.assert_one_line_error(
        helpers.run_binary("sample", f"--export={tmp_path / 'infogan'}", "--interpolate", f"--out={out}"),
        "declares no signature decoding a latent")


def test_translation_grid_shows_input_output_target_and_translates_files(tiny_fashion_mnist, tmp_path):
    from tests.test_eval_cli import _translation_export
    from zoo import data

    path = _translation_export(tmp_path)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    out = tmp_path / "pairs.png"
    result = helpers.run_binary("sample", f"--export={tmp_path / 'translator'}", "--num=4",
                                f"--data_dir={tiny_fashion_mnist}", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert "the first 4 pairs of fashion_mnist_edges test (input | output | target)" in result.stdout
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 + 2 * 30, 2 + 6 * 30)  # Two (input | output | target) triples per row.
    pairs = next(iter(data.load("fashion_mnist_edges", "test", data_dir=tiny_fashion_mnist).dataset.batch(4)))
    outputs = serve(images=pairs["input"])["images"].numpy()
    for index, (row, first) in enumerate(((0, 0), (0, 3), (1, 0), (1, 3))):
        np.testing.assert_array_equal(cell(grid, row, first), pairs["input"][index, ..., 0])
        np.testing.assert_array_equal(cell(grid, row, first + 1), outputs[index, ..., 0])
        np.testing.assert_array_equal(cell(grid, row, first + 2), pairs["target"][index, ..., 0])
    # Files: read, converted to the declared input shape (gray 28x28), translated; input | output rows.
    files = tmp_path / "photos"
    files.mkdir()
    pictures = np.random.default_rng(0).integers(0, 256, [2, 56, 56, 3], dtype=np.uint8)
    for index, picture in enumerate(pictures):
        Image.fromarray(picture).save(files / f"{index}.png")
    result = helpers.run_binary("sample", f"--export={tmp_path / 'translator'}", f"--input={files}/*.png",
                                f"--out={out}")
    assert result.returncode == 0, result.stderr
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 + 2 * 30, 2 + 2 * 30)
    expected = np.asarray(Image.fromarray(pictures[1]).convert("L").resize((28, 28), Image.BILINEAR))
    np.testing.assert_array_equal(cell(grid, 1, 0), expected)
    np.testing.assert_array_equal(cell(grid, 1, 1), serve(images=expected[None, ..., None])["images"][0, ..., 0])
    helpers.assert_one_line_error(
        helpers.run_binary("sample", f"--export={tmp_path / 'translator'}", f"--input={files}/*.jpg", f"--out={out}"),
        "matches no file")


def test_a_text_export_prints_continuations_of_each_prompt(model_exports, tmp_path):
    import json

    version_dir = model_exports["gpt"]
    out = tmp_path / "texts.jsonl"
    result = helpers.run_binary("sample", f"--export={version_dir}", "--prompt=The ", "--prompt=Q: why", "--num=2",
                                "--seed=5", "--parameter=max_new_tokens=12", "--parameter=temperature=0.7",
                                f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith(f"wrote {out}: 4 texts (2 per prompt, seeds 5..6")
    records = [json.loads(line) for line in open(out)]
    assert [(record["prompt"], record["seed"]) for record in records] == [
        ("The ", 5), ("The ", 6), ("Q: why", 5), ("Q: why", 6)]
    # Each row as one direct call of the signature with that row's inputs alone gives the same text.
    serving = tf.saved_model.load(version_dir).signatures["serving_default"]
    for record in records:
        text = serving(prompt=tf.constant([record["prompt"]]), max_new_tokens=tf.constant([12], tf.int64),
                       temperature=tf.constant([0.7]), top_k=tf.constant([0], tf.int64),
                       seed=tf.constant([record["seed"]], tf.int64))["text"].numpy()[0]
        assert record["text"] == text.decode("utf-8", "replace") and record["text"].startswith(record["prompt"])
        assert f"--- prompt {record['prompt']!r}, seed {record['seed']}\n{record['text']}\n" in result.stdout
    assert len({record["text"] for record in records}) > 1
    assert all(record["max_new_tokens"] == 12 and record["temperature"] == 0.7 for record in records)
    # Without --num: 4 per prompt; nothing written without --out.
    result = helpers.run_binary("sample", f"--export={version_dir}", "--prompt=A", "--parameter=max_new_tokens=3")
    assert result.returncode == 0 and "4 texts (4 per prompt, seeds 0..3" in result.stdout, result.stderr
    helpers.assert_one_line_error(helpers.run_binary("sample", f"--export={version_dir}"), "continues text",
                                  "--prompt=")
    helpers.assert_one_line_error(
        helpers.run_binary("sample", f"--export={version_dir}", "--prompt=A", "--parameter=top_k=999"),
        "top_k must be an integer between 0 and 256")
