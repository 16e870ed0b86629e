"""zoo-export --from_export: an export's weights rebuilt from its config and exported again with
today's code, without the workdir; the new version answers what the old one did."""

import json
import os
import shutil

import numpy as np
import tensorflow as tf

from tests.helpers import assert_one_line_error, run_binary

SMOKE_CONFIG = """from experiments.configs import dcgan_fashion_mnist


def get_config(smoke=False):
    return dcgan_fashion_mnist.get_config(smoke=True)
"""


def _smoke_config(tmp_path, model="dcgan"):
    path = tmp_path / f"smoke_{model}.py"
    path.write_text(SMOKE_CONFIG.replace("dcgan", model))
    return str(path)


def _source(model_exports, tmp_path):
    """A copy of the smoke dcgan export whose record says what a trained export's does."""
    source = str(tmp_path / "source" / "dcgan" / "3")
    shutil.copytree(model_exports["dcgan"], source)
    record_path = os.path.join(source, "assets.extra", "zoo_export.json")
    with open(record_path) as f:
        record = json.load(f)
    record.update(model="dcgan", dataset="fashion_mnist", step=1234, evaluation={"fid": 99.0, "step": 1234})
    with open(record_path, "w") as f:
        json.dump(record, f)
    return source


def test_a_reexport_restores_the_weights_and_keeps_the_record(model_exports, tmp_path):
    source = _source(model_exports, tmp_path)
    out = tmp_path / "out"
    result = run_binary("export", f"--from_export={source}", f"--config={_smoke_config(tmp_path)}",
                        f"--export_dir={out}", "--name=dcgan_again")
    assert result.returncode == 0, result.stderr
    assert "serving_default: same outputs on 2 example rows" in result.stdout, result.stdout
    path = out / "dcgan_again" / "1"
    with open(os.path.join(source, "assets.extra", "zoo_export.json")) as f:
        before = json.load(f)
    with open(path / "assets.extra" / "zoo_export.json") as f:
        after = json.load(f)
    assert (after["step"], after["evaluation"], after["model"]) == (1234, before["evaluation"], "dcgan")
    assert after["reexported_from"]["version"] == before["version"] and (out / "models.config").exists()
    seeds = tf.constant([5, 6, 7], tf.int64)
    images = [tf.saved_model.load(p).signatures["serving_default"](seed=seeds)["images"].numpy() for p in (source, str(path))]
    np.testing.assert_array_equal(images[0], images[1])
    assert images[0].std() > 0  # Not a blank image both ways.


def test_reexport_refusals(model_exports, tmp_path):
    source = _source(model_exports, tmp_path)
    assert_one_line_error(run_binary("export", f"--from_export={tmp_path}", f"--export_dir={tmp_path / 'o'}"),
                          "not a zoo export version directory")
    assert_one_line_error(run_binary("export", f"--from_export={model_exports['dcgan']}", "--workdir=runs/x"),
                          "--from_export and --workdir")
    assert_one_line_error(run_binary("export", "--config=dcgan_fashion_mnist", "--workdir=runs/x"),
                          "--config is read with --from_export only")
    assert_one_line_error(run_binary("export", f"--from_export={source}",
                                     f"--config={_smoke_config(tmp_path, 'vae')}", f"--export_dir={tmp_path / 'o'}"),
                          "builds a 'vae' model", "holds a 'dcgan' model")
    # The full-size config does not fit the smoke-size export: refused naming the variable.
    assert_one_line_error(run_binary("export", f"--from_export={source}", "--config=dcgan_fashion_mnist",
                                     f"--export_dir={tmp_path / 'o'}"), "does not fit")
    assert_one_line_error(run_binary("export", "--set=model_config.latent_dim=4", "--workdir=runs/x"),
                          "--set is read with --from_export only")
    # --set reaches the rebuilt model (here one it does not fit), and a model dir means its newest version.
    assert_one_line_error(run_binary("export", f"--from_export={os.path.dirname(source)}",
                                     f"--config={_smoke_config(tmp_path)}", "--set=model_config.generator_width=16",
                                     f"--export_dir={tmp_path / 'o'}"), "does not fit", "generator")
    assert_one_line_error(run_binary("export", f"--from_export={model_exports['dcgan']}", f"--export_dir={tmp_path / 'o'}"),
                          "records no model and dataset: pass --config")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("*/[0-9]*"))
