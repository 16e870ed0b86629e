"""The training side of the model contract: what the one trainer (zoo.train) reads from a model,
declared once with its defaults (`TrainableModel`, which every model of zoo derives from), and
`problems(model)`, the check tests/test_contract.py runs on every registered model.

The serving side (signatures, their inputs' roles, the evaluations that apply) is the model's
`interface()` (zoo.contract). The trainer reads the members below directly: a model states a
default by inheriting it, never by leaving an attribute out.

Below zoo.models: this module imports nothing of zoo.
"""

import inspect

import keras

# Members every trainable model defines itself (no default makes sense for them).
REQUIRED = ("build_for_training", "train_step", "checkpoint_items", "serving_signatures", "interface")


class TrainableModel(keras.Model):
    """A model the trainer trains, exports and warm-starts: a `keras.Model` owning its networks
    and optimizers, with its whole update in `train_step`.

    Subclasses define the methods of REQUIRED (here they raise NotImplementedError) and override
    the others only to change their documented defaults.
    """

    # A one-line reason why XLA cannot compile this model's `train_step`; "" (the default): it
    # can. The trainer refuses `jit_compile=True` with this reason.
    jit_compile_unsupported = ""

    # Batches the trainer feeds a step (a positive int; a property may derive it from the config),
    # as one tensor of batches_per_step * batch_size examples. The model deals the tensor out
    # (example i to batch i mod n), so each replica's contiguous share holds its share of each
    # batch (WGAN-GP's critic updates each read their own batch). Default 1.
    batches_per_step = 1

    def averaged_networks(self):
        """{average: network}: names of `checkpoint_items()` holding a weight average (an EMA) and
        the network it averages. A warm start (zoo.train.transfer) starts both from whichever of
        the two its source holds; freezing leaves averages out. Default: no average."""
        return {}

    def export_info(self):
        """JSON-ready facts an export keeps in assets.extra/zoo_export.json (latent size, classes,
        which weights were exported). Default: none."""
        return {}

    def build_for_training(self):
        """Creates every variable (networks and optimizer slots), so that a checkpoint restores
        eagerly and a distribution strategy mirrors them."""
        raise NotImplementedError(f"{type(self).__name__} must define build_for_training()")

    def train_step(self, batch, seed):
        """One update from a batch dict (`image` in [-1, 1], `label`, ... as the data gives) and a
        stateless seed (an int64 [2] tensor, a function of the step alone, the same on every
        replica); returns a dict of scalar losses. Traced by the trainer's `tf.function` inside
        `strategy.run`."""
        raise NotImplementedError(f"{type(self).__name__} must define train_step(batch, seed)")

    def checkpoint_items(self):
        """{name: object whose `values` lists variables} (zoo.models.base.VariableList): everything
        a checkpoint holds, networks and optimizers (an optimizer's item says `is_optimizer`)."""
        raise NotImplementedError(f"{type(self).__name__} must define checkpoint_items()")

    def serving_signatures(self):
        """{signature name: tf.function with an input signature}, what the exporter writes."""
        raise NotImplementedError(f"{type(self).__name__} must define serving_signatures()")

    def interface(self):
        """The zoo.contract.Interface declaring `serving_signatures()`."""
        raise NotImplementedError(f"{type(self).__name__} must define interface()")


def _defines(model, name):
    """Whether `model` has a callable `name` of its own (not TrainableModel's placeholder)."""
    member = inspect.getattr_static(type(model), name, None)
    return callable(member) and member is not TrainableModel.__dict__.get(name)


def problems(model):
    """What keeps `model` (built: after `build_for_training()`) from meeting the training contract,
    one line each; [] when it meets it. Checks that the required methods are defined (train_step
    taking a batch and a seed), jit_compile_unsupported is a string, batches_per_step a positive
    int, every checkpoint item lists variables, and averaged_networks pairs two network items of
    the checkpoint with the same variable shapes."""
    name = type(model).__name__
    found = [f"{name} does not define {member}()" for member in REQUIRED if not _defines(model, member)]
    if _defines(model, "train_step"):
        try:
            inspect.signature(model.train_step).bind("batch", "seed")
        except TypeError:
            found.append(f"{name}.train_step must take (batch, seed), not {inspect.signature(model.train_step)}")
    reason = getattr(model, "jit_compile_unsupported", None)
    if not isinstance(reason, str):
        found.append(f"{name}.jit_compile_unsupported must be a string ('' when XLA compiles the step), "
                     f"got {reason!r}")
    try:
        batches = model.batches_per_step
    except AttributeError:
        batches = None
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        found.append(f"{name}.batches_per_step must be a positive int, got {batches!r}")
    if found:  # The methods below may be the ones missing.
        return found

    items = model.checkpoint_items()
    if not isinstance(items, dict) or not items:
        return [f"{name}.checkpoint_items() must return a non-empty dict, got {items!r}"]
    for key, item in items.items():
        values = getattr(item, "values", None)
        if not isinstance(key, str) or not isinstance(values, (list, tuple)):
            found.append(f"{name}.checkpoint_items()[{key!r}] must be named by a string and list its variables "
                         f"in `values` (zoo.models.base.VariableList)")
        elif not values:
            found.append(f"{name}.checkpoint_items()[{key!r}] holds no variables (is the model built?)")
    averaged = model.averaged_networks()
    if not isinstance(averaged, dict):
        return found + [f"{name}.averaged_networks() must return a dict {{average: network}}, got {averaged!r}"]
    for average, network in averaged.items():
        pair = f"{name}.averaged_networks() pair {average!r}: {network!r}"
        if average not in items or network not in items or average == network:
            found.append(f"{pair} must name two checkpoint items; items are {sorted(map(str, items))}")
        elif any(getattr(items[key], "is_optimizer", False) for key in (average, network)):
            found.append(f"{pair} names an optimizer; averages and networks are networks")
        elif [tuple(v.shape) for v in items[average].values] != [tuple(v.shape) for v in items[network].values]:
            found.append(f"{pair}: the average's variables differ in number or shape from the network's")
    return found


def check(model):
    """Raises ValueError naming every problem of `model` with the training contract."""
    found = problems(model)
    if found:
        raise ValueError("the model does not meet zoo's training contract (zoo.trainable):\n  " + "\n  ".join(found))
