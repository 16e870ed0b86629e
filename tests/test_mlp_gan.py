"""MLP GAN: the shared model checks."""

from tests import model_checks


def test_train_step():
    model_checks.check_train_step("mlp_gan")


def test_serving():
    model_checks.check_serving("mlp_gan")


def test_smoke_training_exports(tiny_fashion_mnist, tmp_path):
    model_checks.check_smoke_training("mlp_gan", tiny_fashion_mnist, tmp_path / "run", tmp_path / "exports")
