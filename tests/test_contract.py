"""The model contract: every model declares its interface (zoo.contract), the declaration matches
what it serves, every model meets the training contract (zoo.trainable), and shared code reads
declarations instead of spelling model or input names or probing models for attributes."""

import ast
import json
import os

import keras
import pytest
import tensorflow as tf

from tests import model_checks
from tests.helpers import REPO
from zoo import config as config_lib
from zoo import contract, export, registry, trainable
from zoo.errors import UserError
from zoo.export import saved_model, warmup

MODELS = [name for name in registry.names() if not name.startswith("test_only")]
# Where shared code lives: none of it may name a model or a signature input.
SHARED = ["zoo/train", "zoo/export", "zoo/metrics", "zoo/tune", "zoo/ship.py", "zoo/catalog.py", "experiments"]
# Shared code that trains, tunes or measures models: it reads their declared contract and never
# probes a model with getattr/hasattr. (The exporter writes any tf.Module that declares its
# signatures, a test's model included: it asks such an object for its variables, if any.)
READS_THE_CONTRACT = ["zoo/train", "zoo/tune", "zoo/metrics", "zoo/kinds", "zoo/ship.py", "experiments"]


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


@pytest.mark.parametrize("name", MODELS)
def test_every_model_meets_the_training_contract(models, name):
    """What the trainer reads directly (batches_per_step, jit_compile_unsupported,
    averaged_networks, ...) is declared by zoo.trainable.TrainableModel and holds for each model."""
    model = models[name]
    assert isinstance(model, trainable.TrainableModel), type(model).__mro__
    assert trainable.problems(model) == []


def test_an_average_is_declared_as_a_pair_of_checkpoint_items():
    """With EMA on, a GAN's average and its generator are a pair the check accepts (the smoke
    configs leave EMA off but for diffusion, so the pair check is exercised here too)."""
    config = config_lib.load("dcgan_fashion_mnist", smoke=True)
    config.model_config.ema_decay = 0.9
    model = registry.get("dcgan")(config.model_config, model_checks.data_spec("fashion_mnist"))
    model.build_for_training()
    assert model.averaged_networks() == {"ema_generator": "generator"}
    assert trainable.problems(model) == []


class _Incomplete(trainable.TrainableModel):
    """Half the training contract, and that half wrong."""

    jit_compile_unsupported = None  # Not a string.
    batches_per_step = 0

    def train_step(self, batch):  # No seed.
        return {}


class _Averaging(trainable.TrainableModel):
    """A complete model whose averaged_networks() is whatever the test says."""

    def __init__(self, averaged, **kwargs):
        super().__init__(**kwargs)
        from zoo.models.base import VariableList

        self.averaged = averaged
        self.network, self.average, self.narrow = (keras.layers.Dense(units) for units in (3, 3, 2))
        for layer in (self.network, self.average, self.narrow):
            layer.build((None, 4))
        self.network_optimizer = keras.optimizers.Adam()
        self.network_optimizer.build(self.network.trainable_variables)
        self.items = {"network": VariableList(self.network), "average": VariableList(self.average),
                      "narrow": VariableList(self.narrow), "optimizer": VariableList(self.network_optimizer)}

    def build_for_training(self):
        pass

    def train_step(self, batch, seed):
        return {}

    def checkpoint_items(self):
        return self.items

    def averaged_networks(self):
        return self.averaged

    def serving_signatures(self):
        return {}

    def interface(self):
        return None


def test_the_training_check_rejects_an_incomplete_model():
    found = "\n".join(trainable.problems(_Incomplete()))
    for missing in ("build_for_training", "checkpoint_items", "serving_signatures", "interface"):
        assert f"does not define {missing}()" in found, found
    assert "train_step must take (batch, seed)" in found
    assert "jit_compile_unsupported must be a string" in found
    assert "batches_per_step must be a positive int, got 0" in found
    with pytest.raises(ValueError, match="training contract"):
        trainable.check(_Incomplete())
    # A keras.Model that does not derive from the declaration is checked by what it has.
    plain = "\n".join(trainable.problems(keras.Model()))
    assert "does not define build_for_training()" in plain and "train_step must take (batch, seed)" in plain
    assert "batches_per_step must be a positive int, got None" in plain


@pytest.mark.parametrize("averaged, problem", [
    ({"average": "network"}, None),
    ({}, None),
    ({"ema": "network"}, "must name two checkpoint items"),
    ({"network": "network"}, "must name two checkpoint items"),
    ({"optimizer": "network"}, "names an optimizer"),
    ({"narrow": "network"}, "differ in number or shape"),
    ([("average", "network")], "must return a dict"),
])
def test_the_training_check_reads_averaged_networks(averaged, problem):
    found = trainable.problems(_Averaging(averaged))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


def test_a_checkpoint_item_without_variables_is_refused():
    model = _Averaging({})
    model.items["empty"] = type("Empty", (), {"values": []})()
    assert trainable.problems(model) == ["_Averaging.checkpoint_items()['empty'] holds no variables (is the model "
                                         "built?)"]


def _attribute_probes(source):
    """(line, text) of every getattr(...) / hasattr(...) on a model (a name or attribute called
    `model`, or ending in `_model`): shared code reads the declared contract directly."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                and node.args:
            target = node.args[0]
            name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
            if name == "model" or name.endswith("_model"):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_shared_training_code_reads_the_contract_instead_of_probing_models():
    found = [f"{os.path.relpath(path, REPO)}:{line}: {text}" for path in _shared_files(READS_THE_CONTRACT)
             for line, text in _attribute_probes(open(path).read())]
    assert not found, "shared code probes models instead of reading zoo.trainable's declaration:\n" + "\n".join(found)
    assert _attribute_probes("def f(model):\n    return getattr(model, 'batches_per_step', 1)\n")
    assert _attribute_probes("if hasattr(self.model, 'averaged_networks'):\n    pass\n")
    assert not _attribute_probes("getattr(strategy, 'cluster_resolver', None)\n")


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


def _shared_files(folders=SHARED):
    for folder in folders:
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
