"""Registry behaviour and the three-files rule: every registered model has a config and a test."""

import os

import pytest

from tests.helpers import REPO
from zoo import config as config_lib
from zoo import registry
from zoo.errors import UserError


def test_known_models_are_registered():
    assert {"dcgan", "mlp_gan"} <= set(registry.names())
    assert callable(registry.get("dcgan"))


def test_unknown_model_lists_registered_ones_and_suggests():
    with pytest.raises(UserError) as error:
        registry.get("dcgann")
    message = str(error.value)
    assert "did you mean 'dcgan'" in message and "mlp_gan" in message and "\n" not in message


def test_a_name_cannot_be_registered_twice():
    registry.register("test_only_model")(len)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("test_only_model")(abs)


@pytest.mark.parametrize("name", registry.names())
def test_every_registered_model_has_a_config_and_a_test(name):
    if name.startswith("test_only"):
        pytest.skip("registered by this test module")
    # Image models have a Fashion-MNIST config; others (text models) a config for their own data.
    config_name = config_lib.default_config_name(name, "fashion_mnist")
    assert config_name in config_lib.available_configs(), f"missing experiments/configs/{name}_<dataset>.py"
    assert os.path.exists(os.path.join(REPO, "tests", f"test_{name}.py")), f"missing tests/test_{name}.py"
    config = config_lib.load(config_name)
    assert config.model == name
