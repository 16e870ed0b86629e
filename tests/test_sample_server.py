"""zoo-sample --server: the grid drawn through a running server equals the grid drawn from the export."""

import numpy as np
import pytest
from PIL import Image

from tests import helpers, model_checks
from zoo import export
from zoo.serving import local_server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """dcgan (versions 1 and 2, labels stable=1 canary=2), cgan and char_lstm, behind local gRPC and REST servers."""
    root = tmp_path_factory.mktemp("exports")
    dcgan = model_checks.build("dcgan")
    export.export_model(dcgan, str(root), "dcgan")
    kernel = dcgan.sampling_generator.trainable_variables[0]
    kernel.assign(kernel * 3.0)
    export.export_model(dcgan, str(root), "dcgan")
    export.export_model(model_checks.build("cgan"), str(root), "cgan")
    export.export_model(model_checks.build_from_config("char_lstm"), str(root), "char_lstm")
    export.update_models_config(str(root), "dcgan", labels={"stable": 1, "canary": 2})
    models = local_server.LocalModels(str(root))
    grpc_server, grpc_port = local_server.start_grpc_server(models)
    rest_server, rest_port = local_server.start_rest_server(models)
    with grpc_server, rest_server:
        yield root, {"grpc": grpc_port, "rest": rest_port}


def _grid(path):
    return np.asarray(Image.open(path))


@pytest.mark.parametrize("protocol", ["grpc", pytest.param("rest", marks=pytest.mark.slow)])  # REST: also in test_serving.
def test_server_grid_equals_the_export_grid(served, protocol, tmp_path):
    root, ports = served
    local = helpers.run_binary("sample", f"--export={root / 'dcgan'}", "--version=1", "--num=6", "--seed=5",
                               f"--out={tmp_path / 'local.png'}")
    assert local.returncode == 0, local.stderr
    remote = helpers.run_binary("sample", f"--server=127.0.0.1:{ports[protocol]}", f"--protocol={protocol}",
                                "--model=dcgan", f"--export={root / 'dcgan'}", "--version_label=stable", "--num=6", "--seed=5",
                                f"--out={tmp_path / 'remote.png'}")
    assert remote.returncode == 0, remote.stderr
    assert "model 'dcgan' label 'stable'" in remote.stdout
    np.testing.assert_array_equal(_grid(tmp_path / "remote.png"), _grid(tmp_path / "local.png"))
    canary = helpers.run_binary("sample", f"--server=127.0.0.1:{ports[protocol]}", f"--protocol={protocol}",
                                "--model=dcgan", f"--export={root / 'dcgan'}", "--version_label=canary", "--num=6", "--seed=5",
                                f"--out={tmp_path / 'canary.png'}")
    assert canary.returncode == 0, canary.stderr
    assert not np.array_equal(_grid(tmp_path / "canary.png"), _grid(tmp_path / "local.png"))


def test_conditional_grid_through_the_server_has_a_row_per_class(served, tmp_path):
    root, ports = served
    local = helpers.run_binary("sample", f"--export={root / 'cgan'}", "--num=20", f"--out={tmp_path / 'local.png'}")
    remote = helpers.run_binary("sample", f"--server=127.0.0.1:{ports['grpc']}", "--model=cgan", "--num=20",
                                f"--export={root / 'cgan'}", f"--out={tmp_path / 'remote.png'}")
    assert local.returncode == 0 and remote.returncode == 0, local.stderr + remote.stderr
    assert "one row per class (10 classes)" in remote.stdout
    np.testing.assert_array_equal(_grid(tmp_path / "remote.png"), _grid(tmp_path / "local.png"))
    helpers.assert_one_line_error(
        helpers.run_binary("sample", f"--server=127.0.0.1:{ports['grpc']}", "--model=cgan", "--out=x.png"),
        "--server needs the model's declaration from its export: no 'exports/cgan'")


def test_server_errors_are_one_line_naming_server_model_and_version(served):
    _, ports = served
    helpers.assert_one_line_error(
        helpers.run_binary("sample", f"--server=127.0.0.1:{ports['grpc']}", "--model=nope", "--out=x.png"),
        f"grpc 127.0.0.1:{ports['grpc']} model 'nope' latest version", "not found")
    helpers.assert_one_line_error(
        helpers.run_binary("sample", f"--server=127.0.0.1:{ports['rest']}", "--protocol=rest", "--model=dcgan",
                           "--version=9", "--out=x.png"),
        f"rest 127.0.0.1:{ports['rest']} model 'dcgan' version 9")
    helpers.assert_one_line_error(helpers.run_binary("sample", "--server=127.0.0.1:1", "--out=x.png"), "--model")


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_text_through_the_server_equals_the_export_text(served, protocol, tmp_path):
    root, ports = served
    args = ["--prompt=Hi ", "--prompt=Q", "--num=2", "--seed=3", "--parameter=max_new_tokens=9"]
    local = helpers.run_binary("sample", f"--export={root / 'char_lstm'}", *args, f"--out={tmp_path / 'local.jsonl'}")
    remote = helpers.run_binary("sample", f"--server=127.0.0.1:{ports[protocol]}", f"--protocol={protocol}",
                                "--model=char_lstm", f"--export={root / 'char_lstm'}", *args,
                                f"--out={tmp_path / 'remote.jsonl'}")
    assert local.returncode == 0 and remote.returncode == 0, local.stderr + remote.stderr
    assert f"4 texts (2 per prompt, seeds 3..4, max_new_tokens=9) from {protocol} 127.0.0.1" in remote.stdout
    local_texts, remote_texts = (open(tmp_path / name).read() for name in ("local.jsonl", "remote.jsonl"))
    assert local_texts == remote_texts and local_texts.count("\n") == 4
