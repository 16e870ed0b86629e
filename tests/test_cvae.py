"""Conditional VAE: the shared image-generator checks (label-taking signatures); its likelihood and
bad-label checks live beside the VAE's in tests/test_vae.py."""

from tests.model_checks import ImageGeneratorTests


class TestConditionalVAE(ImageGeneratorTests):
    model_name = "cvae"
