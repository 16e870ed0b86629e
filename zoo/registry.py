"""Model registry: `@register("dcgan")` names a factory; `get("dcgan")` finds it.

A factory has the signature `factory(config, spec) -> keras.Model` (spec: a `zoo.data.DataSpec`) and returns
a compiled model (its optimizers attached), ready for the trainer. Model modules register
themselves when `zoo.models` is imported; `get` and `names` import it on first use, so importing
this module stays cheap.
"""

import difflib
import importlib

from zoo.errors import UserError

_FACTORIES = {}
_NOT_SHIPPED = {}


def register(name, not_shipped=""):
    """Decorator registering `factory` under `name`; a name can be registered once.

    Every registered model ships a trained export in exports/ (see README, "Shipped models"),
    unless `not_shipped` says why not (e.g. a baseline that exists only to be compared against).
    """

    def decorator(factory):
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"model name {name!r} is already registered by {_FACTORIES[name]!r}")
        _FACTORIES[name] = factory
        if not_shipped:
            _NOT_SHIPPED[name] = not_shipped
        return factory

    return decorator


def _load_models():
    importlib.import_module("zoo.models")


def names():
    """Sorted names of every registered model."""
    _load_models()
    return sorted(_FACTORIES)


def not_shipped():
    """{name: why} of the registered models that ship no trained export."""
    _load_models()
    return dict(_NOT_SHIPPED)


def get(name):
    """The factory registered as `name`; unknown names fail with the list of known ones."""
    _load_models()
    if name not in _FACTORIES:
        close = difflib.get_close_matches(name, _FACTORIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"unknown model {name!r}{hint}; registered models: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name]
