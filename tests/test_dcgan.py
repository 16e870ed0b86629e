"""DCGAN: the shared model checks, and its networks' shapes on other image sizes."""

import pytest
import tensorflow as tf

from tests import model_checks
from zoo.errors import UserError
from zoo.models.dcgan import num_upsamplings


class TestDCGAN(model_checks.ImageGeneratorTests):
    model_name = "dcgan"


@pytest.mark.parametrize("shape", [(32, 32, 3), (64, 64, 3), (16, 16, 1)])
def test_networks_adapt_to_image_size(shape):
    model = model_checks.build("dcgan", image_shape=shape)
    images = model.serving_signatures()["serving_default"](tf.constant([0, 1], tf.int64))["images"]
    assert images.shape == (2, *shape)
    assert model.discriminator(tf.zeros([2, *shape])).shape == (2, 1)


def test_upsampling_count():
    assert [num_upsamplings(size) for size in (28, 32, 64, 8)] == [2, 3, 4, 1]
    with pytest.raises(UserError, match="at least 8 pixels"):
        num_upsamplings(7)


def test_unknown_discriminator_normalization_is_one_line_naming_the_choices():
    from zoo.models.dcgan import DCGANDiscriminator

    with pytest.raises(UserError, match="unknown discriminator normalization 'group'; available: batch, layer, "
                                        "channels, none"):
        DCGANDiscriminator((28, 28, 1), normalization="group")
