"""Config overrides: dotted keys, typed values, one-line errors for unknown keys and wrong types."""

import pytest

from zoo import config as config_lib
from zoo.errors import UserError


def test_overrides_set_nested_and_optional_fields():
    config = config_lib.load("dcgan_fashion_mnist")
    config_lib.apply_overrides(config, ["model_config.latent_dim=64", "data_dir=/tmp/data", "eval_every=5"])
    assert (config.model_config.latent_dim, config.data_dir, config.eval_every) == (64, "/tmp/data", 5)


@pytest.mark.parametrize("override, message", [
    ("model_config.nope=1", "unknown config key 'model_config.nope'"),
    ("batch_size.x=1", "unknown config key 'batch_size.x'"),
    ("batch_size=abc", "config key 'batch_size' cannot take 'abc'"),
    ("noequals", "must look like key=value"),
])
def test_bad_overrides_are_one_line_user_errors(override, message):
    with pytest.raises(UserError, match=message) as error:
        config_lib.apply_overrides(config_lib.load("dcgan_fashion_mnist"), [override])
    assert "\n" not in str(error.value)
