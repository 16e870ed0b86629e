"""MLP GAN: the shared image-generator checks."""

from tests import model_checks


class TestMLPGAN(model_checks.ImageGeneratorTests):
    model_name = "mlp_gan"
