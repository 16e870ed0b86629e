"""Exports zoo did not write run only if their graphs hold the ops zoo's own exports use
(zoo.export.trust): a SavedModel that writes a file is refused by zoo-sample, zoo-eval, --init_from
and the stand-in server, and runs with --trust_export; the allowlist is what the shipped exports use."""

import os
import shutil

import pytest
import tensorflow as tf

from tests import helpers, model_checks
from zoo import export, registry, train
from zoo.errors import UserError
from zoo.export import allowed_ops, trust
from zoo.serving import local_models, local_server

EXPORTS = os.path.join(helpers.REPO, "exports")
SHIPPED = trust.shipped_versions(EXPORTS)
SHIPPED_DCGAN = export.resolve_version_dir(os.path.join(EXPORTS, "dcgan_fashion_mnist"))  # Its shipped version.
# What an export from elsewhere must never run: file access and calls into Python.
DANGEROUS = {"ReadFile", "WriteFile", "MatchingFiles", "PyFunc", "PyFuncStateless", "EagerPyFunc", "SaveV2", "Save",
             "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints", "DeleteFile"}
MODELS = [name for name in registry.names() if not name.startswith("test_only")]


def crafted(root, side_effect, name="crafted"):
    """<root>/<name>/1: a SavedModel that looks like the shipped DCGAN (its zoo_export.json) and
    whose serving_default(seed) returns black images after running `side_effect()`."""

    class Crafted(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed")])
        def serving_default(self, seed):
            with tf.control_dependencies([side_effect()]):
                return {"images": tf.zeros(tf.stack([tf.shape(seed)[0], 28, 28, 1]), tf.uint8)}

    module = Crafted()
    path = os.path.join(str(root), name, "1")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serving_default})
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    shutil.copy(os.path.join(SHIPPED_DCGAN, export.INFO_FILE), os.path.join(path, export.INFO_FILE))
    return path


def writing(target):
    return crafted(os.path.dirname(target), lambda: tf.io.write_file(target, "written by the export"))


def test_the_allowlist_is_what_the_shipped_exports_use():
    serving, save, restore = trust.derive(SHIPPED)
    assert SHIPPED
    differences = {"SHIPPED_SERVING_OPS": (serving, allowed_ops.SHIPPED_SERVING_OPS), "SAVE_OPS": (save, allowed_ops.SAVE_OPS),
                   "RESTORE_OPS": (restore, allowed_ops.RESTORE_OPS)}
    for name, (derived, committed) in differences.items():
        assert derived == committed, (f"{name}: shipped exports use {sorted(derived - committed)} beyond it and not "
                                      f"{sorted(committed - derived)}: update zoo/export/allowed_ops.py from "
                                      f"`python -m zoo.export.trust exports`")
    assert not allowed_ops.SERVING_OPS & DANGEROUS
    assert not allowed_ops.RESTORE_OPS & (DANGEROUS - {"RestoreV2"})


@pytest.mark.parametrize("version_dir", SHIPPED, ids=lambda path: os.path.relpath(path, EXPORTS))
def test_every_shipped_export_passes(version_dir):
    assert trust.first_problem(version_dir) is None
    trust.check(version_dir)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_serves_only_allowed_ops(name, model_exports):
    """A fresh export of any registered model (its signatures as the exporter wraps them, its saver
    and restore functions) is one other zoo processes run."""
    problem = trust.first_problem(model_exports[name])
    assert problem is None, (f"{name}: op {problem[0]} in {problem[1]} {problem[2]}, which no shipped export uses: add "
                             f"it to ADDED_SERVING_OPS in zoo/export/allowed_ops.py with the reason, or ship the model")


def test_zoo_sample_refuses_an_export_that_writes_a_file_and_runs_it_when_trusted(tmp_path):
    target, out = str(tmp_path / "written.txt"), tmp_path / "grid.png"
    path = writing(target)
    refused = helpers.run_binary("sample", f"--export={os.path.dirname(path)}", "--num=4", f"--out={out}")
    helpers.assert_one_line_error(refused, f"refusing to run {path}: op WriteFile in function __inference_serving_default",
                                  "--trust_export")
    assert not os.path.exists(target) and not out.exists()
    trusted = helpers.run_binary("sample", f"--export={os.path.dirname(path)}", "--num=4", f"--out={out}",
                                 "--trust_export")
    assert trusted.returncode == 0, trusted.stderr
    assert open(target).read() == "written by the export" and out.exists()


@pytest.mark.parametrize("op,side_effect", [
    ("ReadFile", lambda: tf.io.read_file(__file__)),
    ("EagerPyFunc", lambda: tf.py_function(lambda: 0, [], tf.int32)),
    ("MatchingFiles", lambda: tf.io.matching_files("/*")),
    # A save op outside the SavedModel's own save function is refused like any other op.
    ("SaveV2", lambda: tf.raw_ops.SaveV2(prefix="/tmp/never", tensor_names=["x"], shape_and_slices=[""],
                                        tensors=[tf.constant(1.0)])),
])
def test_file_access_and_python_are_refused(tmp_path, op, side_effect):
    path = crafted(tmp_path, side_effect)
    assert trust.first_problem(path)[0] == op
    with pytest.raises(UserError, match=f"op {op} in function "):
        trust.check(path)
    trust.check(path, trust=True)


def test_zoo_eval_init_from_and_the_stand_in_server_refuse_it(tiny_fashion_mnist, tmp_path, capsys):
    from zoo.metrics.exports import evaluate_export

    target = str(tmp_path / "written.txt")
    path = writing(target)
    with pytest.raises(UserError, match="refusing to run .* op WriteFile"):
        evaluate_export(path, "fashion_mnist", num_samples=8, data_dir=tiny_fashion_mnist, reference_examples=8)
    config = helpers.smoke_config("dcgan", tiny_fashion_mnist, init_from=path)
    with pytest.raises(UserError, match="refusing to run .* op WriteFile"):
        train.train_and_evaluate(config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")  # Refused before the run wrote anything.
    root = os.path.dirname(os.path.dirname(path))
    with pytest.raises(UserError, match="refusing to run .* op WriteFile"):
        local_models.LocalModels(root)
    with pytest.raises(SystemExit):
        local_server.main([root, "--grpc_port=-1", "--rest_port=-1"])
    assert "op WriteFile" in capsys.readouterr().err
    assert not os.path.exists(target)
    # A version that appears while the server runs is checked when a request first needs it.
    later = tmp_path / "later"
    shutil.copytree(SHIPPED_DCGAN, later / "crafted" / "1")
    serving = local_models.LocalModels(str(later))
    assert serving.predict("crafted", {"seed": [0]})[0] == 1
    shutil.copytree(path, later / "crafted" / "2")
    with pytest.raises(local_models.StatusError, match="refusing to run .*/2: op WriteFile") as refused:
        serving.predict("crafted", {"seed": [0, 1]})
    assert refused.value.code == "FAILED_PRECONDITION" and not os.path.exists(target)
    served = local_models.LocalModels(root, trust_export=True)  # Trusted: served, and it writes.
    served.predict("crafted", {"seed": [0, 1]})
    assert os.path.exists(target)


def test_exports_written_in_this_process_are_not_checked_again(tmp_path):
    path = export.export_model(model_checks.build("dcgan"), str(tmp_path), "dcgan", serving_files=False)
    assert trust.first_problem(path) is None  # A fresh zoo export passes in any process...
    assert trust.first_problem(path, serving_ops=frozenset()) is not None  # (an empty list refuses everything)
    trust.check(path)  # ...and this process, which wrote it, does not read it again.


def _saver_edited(tmp_path, edit):
    """A copy of the shipped DCGAN's saved_model.pb after `edit(meta_graph, save, restore)`."""
    from zoo.export.compat import saved_model_proto

    proto = saved_model_proto(SHIPPED_DCGAN)
    meta_graph = proto.meta_graphs[0]
    functions = {function.signature.name: function for function in meta_graph.graph_def.library.function}
    saver = trust._saver_functions(meta_graph)
    edit(meta_graph, functions[saver["save"][0]], functions[saver["restore"][0]], functions)
    path = tmp_path / "edited" / "1"
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())
    return str(path)


def test_saver_functions_are_excluded_by_name_and_nowhere_else(tmp_path):
    def call_save_from_serving(meta_graph, save, restore, functions):
        other = next(f for f in functions.values() if f not in (save, restore))
        node = other.node_def.add(name="sneaky", op="StatefulPartitionedCall")
        node.attr["f"].func.name = save.signature.name

    def restore_from_elsewhere(meta_graph, save, restore, functions):
        node = next(node for node in restore.node_def if node.op == "RestoreV2")
        node.input[0] = "RestoreV2/tensor_names:output:0"

    def write_in_restore(meta_graph, save, restore, functions):
        restore.node_def.add(name="extra", op="WriteFile")

    assert trust.first_problem(_saver_edited(tmp_path / "a", lambda *args: None)) is None
    op, function, why = trust.first_problem(_saver_edited(tmp_path / "b", call_save_from_serving))
    assert op == "StatefulPartitionedCall" and "traced_save" not in function
    assert "calls the SavedModel's save function" in why
    op, function, why = trust.first_problem(_saver_edited(tmp_path / "c", restore_from_elsewhere))
    assert op == "RestoreV2" and "another path" in why
    op, function, why = trust.first_problem(_saver_edited(tmp_path / "d", write_in_restore))
    assert op == "WriteFile" and "restore function" in why


def test_the_playground_refuses_it_unless_trusted(tmp_path):
    import numpy as np

    from zoo.play import backends

    target = str(tmp_path / "written.txt")
    path = writing(target)
    (entry,) = backends.discover([os.path.dirname(path)])  # Listed with its reason...
    assert entry.path == path and "refusing to run" in entry.error and "op WriteFile" in entry.error
    with pytest.raises(UserError, match="refusing to run .* op WriteFile"):  # ...and never run.
        backends.LocalBackend().call(entry, "serving_default", {"seed": np.array([0, 1])})
    assert not os.path.exists(target)
    (trusted,) = backends.discover([os.path.dirname(path)], trust=True)
    assert not trusted.error
    images = backends.LocalBackend(trust_exports=True).call(trusted, "serving_default", {"seed": np.array([0, 1])})
    assert images["images"].shape == (2, 28, 28, 1) and os.path.exists(target)


def test_the_stand_in_server_refuses_xla_compiled_functions_as_tf_serving_does_by_default(tmp_path, capsys):
    doubled = tf.function(lambda value: value * 2, jit_compile=True)
    path = crafted(tmp_path / "root", lambda: doubled(tf.constant(1, tf.int64)), name="compiled")
    root = os.path.dirname(os.path.dirname(path))
    # Trusted (its PartitionedCall is outside the allowlist), so the XLA check is what refuses it.
    with pytest.raises(UserError, match=r"refusing to serve .*compiled by XLA .*--xla_cpu_compilation_enabled"):
        local_models.LocalModels(root, trust_export=True)
    with pytest.raises(SystemExit):
        local_server.main([root, "--grpc_port=-1", "--rest_port=-1", "--trust_export"])
    assert "--xla_cpu_compilation_enabled" in capsys.readouterr().err
    served = local_models.LocalModels(root, trust_export=True, xla_cpu_compilation_enabled=True)  # The server's flag: served.
    assert served.predict("compiled", {"seed": [0, 1]})[1]["images"].shape == (2, 28, 28, 1)
    # A version that appears while the server runs is checked when a request first needs it.
    later = tmp_path / "later"
    shutil.copytree(SHIPPED_DCGAN, later / "compiled" / "1")
    serving = local_models.LocalModels(str(later), trust_export=True)
    assert serving.predict("compiled", {"seed": [0]})[0] == 1
    shutil.copytree(path, later / "compiled" / "2")
    with pytest.raises(local_models.StatusError, match="compiled by XLA") as refused:
        serving.predict("compiled", {"seed": [0, 1]})
    assert refused.value.code == "FAILED_PRECONDITION"
