"""The model contract (zoo.contract): every model declares its interface, the declaration matches
what it serves, and shared code reads declarations instead of spelling model or input names."""

import ast
import json
import os

import pytest
import tensorflow as tf

from tests import model_checks
from tests.helpers import REPO
from zoo import contract, export, registry
from zoo.errors import UserError
from zoo.export import saved_model, warmup

MODELS = [name for name in registry.names() if not name.startswith("test_only")]
# Where shared code lives: none of it may name a model or a signature input.
SHARED = ["zoo/train", "zoo/export", "zoo/metrics", "zoo/tune", "zoo/ship.py", "zoo/catalog.py", "experiments"]


@pytest.fixture(scope="module")
def models():
    return {name: model_checks.build_from_config(name) for name in MODELS}


@pytest.fixture(scope="module")
def served(models):
    """name -> that model's serving functions, traced once for the module (the tests only call them)."""
    cache = {}

    def signatures(name):
        if name not in cache:
            cache[name] = models[name].serving_signatures()
        return cache[name]
    return signatures


@pytest.mark.parametrize("name", MODELS)
def test_every_model_declares_what_it_serves(models, served, name):
    model = models[name]
    interface = model.interface()
    saved_model.check_declared(interface, served(name))  # Raises on any mismatch.
    assert contract.Interface.from_json(json.loads(contract.dumps(interface))) == interface
    assert interface.evaluations, f"{name} declares no evaluation"


@pytest.mark.parametrize("name", MODELS)
def test_every_declared_example_request_is_accepted(models, served, name):
    """The declared roles make valid requests: each signature answers a batch of two."""
    model = models[name]
    signatures = served(name)
    for signature in model.interface().signatures:
        outputs = signatures[signature.name](**{key: tf.constant(value)
                                                for key, value in signature.example_request(rows=2).items()})
        assert set(outputs) == set(signature.outputs), signature.name
        assert all(value.shape[0] == 2 for value in outputs.values()), signature.name


@pytest.mark.parametrize("name", MODELS)
def test_every_signature_answers_an_empty_batch(models, served, name):
    """A batch of 0 gets 0-row outputs of the dtypes and inner shapes a batch of 2 gets, whatever
    the CPU's kernels would do with an empty tensor (issue 32: oneDNN on AMX fails on them)."""
    model = models[name]
    signatures = served(name)
    for signature in model.interface().signatures:
        function = signatures[signature.name]
        two = function(**{key: tf.constant(value) for key, value in signature.example_request(rows=2).items()})
        empty = function(**{key: tf.constant(value) for key, value in signature.example_request(rows=0).items()})
        assert set(empty) == set(two), signature.name
        for key, value in empty.items():
            assert value.dtype == two[key].dtype, (signature.name, key)
            assert value.shape[0] == 0, (signature.name, key, value.shape)
            if two[key].shape.rank > 1 and all(size for size in two[key].shape[1:]):
                assert value.shape[1:] == two[key].shape[1:], (signature.name, key, value.shape)


@pytest.mark.parametrize("name", MODELS)
def test_a_declared_prefix_length_only_extends_the_output(models, served, name):
    """A `prefix` parameter (zoo-play streams by growing it): the output at a larger value starts
    with the output at a smaller one, all else equal."""
    model = models[name]
    signatures = served(name)
    for signature in model.interface().signatures:
        for spec in signature.inputs:
            if not spec.prefix:
                continue
            request = {key: tf.constant(value) for key, value in signature.example_request(rows=2).items()}
            short = signatures[signature.name](**dict(request, **{spec.name: tf.constant([3, 5], tf.int64)}))
            long = signatures[signature.name](**dict(request, **{spec.name: tf.constant([9, 12], tf.int64)}))
            for key, value in short.items():
                for a, b in zip(value.numpy(), long[key].numpy()):
                    assert bytes(b).startswith(bytes(a)) and len(b) > len(a), (signature.name, key, a, b)


def test_a_declaration_that_contradicts_the_serving_functions_is_refused(models):
    model = models["dcgan"]
    signatures = model.serving_signatures()
    interface = model.interface()
    wrong = contract.Interface(
        [contract.Signature("serving_default", [contract.Input("seed", "seed", "int64", (2,))], {"images": "images"}),
         interface.signature("from_latent")])
    with pytest.raises(ValueError, match="serving_default input seed: declared int64"):
        saved_model.check_declared(wrong, signatures)
    with pytest.raises(ValueError, match="declares signatures"):
        saved_model.check_declared(contract.Interface([interface.signature("serving_default")]), signatures)


def test_inconsistent_declarations_are_refused():
    seed = contract.Input("seed", "seed", "int64")
    image = contract.Input("images", "image", "uint8", (8, 8, 1), feature="image")
    with pytest.raises(ValueError, match="needs a serving_default"):
        contract.Interface([contract.Signature("sample", [seed], {"images": "images"})])
    with pytest.raises(ValueError, match="evaluation samples needs a signature taking seed"):
        contract.Interface([contract.Signature("serving_default", [image], {"images": "images"})],
                           [contract.Evaluation("samples", "serving_default")])
    with pytest.raises(ValueError, match="role class_label takes int64"):
        contract.Input("label", "class_label", "float32", num_values=3)
    with pytest.raises(ValueError, match="preview"):
        contract.Interface([contract.Signature("serving_default", [seed], {"images": "images"})], preview="samples")


def test_an_export_without_a_declaration_is_one_line():
    with pytest.raises(UserError, match="does not declare its interface.*re-export it with zoo-export"):
        contract.from_export_info({"name": "old"}, "exports/old/1")


class _Guided(tf.Module):
    """A model with an input kind zoo has never seen (a guidance scale), declared and nothing else."""

    def interface(self):
        return contract.Interface([contract.Signature("serving_default", [
            contract.Input("noise_seed", "seed", "int64"),
            contract.Input("guidance", "parameter", "float32", default=3.0, low=0.0, high=20.0),
        ], {"picture": "images"})], [contract.Evaluation("samples", "serving_default", reference="image")],
            preview="samples")

    def serving_signatures(self):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="noise_seed"),
                                      tf.TensorSpec([None], tf.float32, name="guidance")])
        def serving_default(noise_seed, guidance):
            value = tf.cast(noise_seed % 7, tf.float32) * guidance
            return {"picture": tf.cast(tf.fill([tf.shape(noise_seed)[0], 4, 4, 1], 1.0) * value[:, None, None, None],
                                       tf.uint8)}

        return {"serving_default": serving_default}

    def export_info(self):
        return {}


def test_a_new_input_kind_is_a_declaration_not_a_branch(tmp_path):
    """Export (warm-up from the declared default) and sampling work for input and output names that
    no shared code has ever seen."""
    from zoo.metrics import sampling

    path = export.export_model(_Guided(), str(tmp_path), "guided", serving_files=False)
    (log,) = warmup.read(path)
    request = log.predict_log.request
    assert sorted(request.inputs) == ["guidance", "noise_seed"]
    assert tf.make_ndarray(request.inputs["guidance"]).tolist() == [3.0]  # The declared default.
    interface = contract.from_export(path)
    loaded = tf.saved_model.load(path)
    signature = interface.signature("serving_default")
    # The sampler fills the seed role and leaves the parameter at its declared default.
    images = sampling.generate_images(loaded.signatures["serving_default"], signature, 2, first_seed=1)
    assert images[:, 0, 0, 0].tolist() == [3, 6]


def _string_constants(path):
    """(line, value) of every string constant in a module, except flag names (the first argument
    of flags.DEFINE_*), which are the command line's words, not a model's."""
    tree = ast.parse(open(path).read())
    exempt = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # Pieces of an f-string message, not a name on their own.
            exempt |= {id(value) for value in node.values}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("DEFINE_") \
                and node.args and isinstance(node.args[0], ast.Constant):
            exempt.add(id(node.args[0]))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in exempt]


def _shared_files():
    for folder in SHARED:
        if folder.endswith(".py"):
            yield os.path.join(REPO, folder)
            continue
        for parent, subdirs, files in os.walk(os.path.join(REPO, folder)):
            subdirs[:] = [name for name in subdirs if name not in ("configs", "__pycache__")]
            yield from (os.path.join(parent, name) for name in files if name.endswith(".py"))


def test_shared_code_spells_no_model_name_and_no_input_name(models):
    """ARCHITECTURE.md: shared code reads declarations; it never names a model or a signature input
    (experiments/configs are declarations: each config names its model). The trainer's config keys
    are the user's settings, another vocabulary: `seed` there is the run's seed, whatever a model's
    inputs are called, so config keys are not flagged. Likewise `steps` in shared code counts
    training steps (zoo-tune's --steps, the card's and search records' step counts); a sampler's
    `steps` input (DDIM's) is only ever reached through its declaration, which
    test_a_new_input_kind_is_a_declaration_not_a_branch covers for names no shared code has seen."""
    from experiments.configs import _base

    forbidden = set(MODELS)
    for model in models.values():
        for signature in model.interface().signatures:
            forbidden |= {spec.name for spec in signature.inputs}
    assert {"seed", "label", "z", "images", "prompt", "text", "categorical"} <= forbidden  # The scan is real.
    assert "steps" in forbidden  # The diffusion sampler's input: the exemption below is a real one.
    forbidden -= set(_base.trainer_config("any").keys()) | {"steps"}
    scanned = list(_shared_files())
    assert {os.path.join(REPO, "zoo", "ship.py"), os.path.join(REPO, "experiments", "ship.py")} <= set(scanned)
    found = [f"{os.path.relpath(path, REPO)}:{line}: {value!r}" for path in scanned
             for line, value in _string_constants(path) if value in forbidden]
    assert not found, "shared code names models or inputs:\n" + "\n".join(found)
