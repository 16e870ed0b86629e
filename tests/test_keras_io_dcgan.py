"""keras-io DCGAN baseline: the shared image-generator checks."""

from tests import model_checks


class TestKerasIODCGAN(model_checks.ImageGeneratorTests):
    model_name = "keras_io_dcgan"
