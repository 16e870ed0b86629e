"""GPT: the shared text-model checks, exact resume with dropout, two replicas, and the untied head."""

import numpy as np
import pytest
import tensorflow as tf

from tests import text_checks
from zoo import train


class TestGPT(text_checks.TextModelTests):
    model_name = "gpt"


def _weights(workdir):
    model, _, step = train.restore_model(str(workdir))
    return step, [v.numpy() for v in model.network.weights]


def test_resume_with_dropout_continues_exactly(tmp_path):
    """6 straight steps == 3 steps, a restart, 3 more (the smoke config's dropout draws stateless masks)."""
    corpus = text_checks.write_corpus(tmp_path)
    straight = text_checks.smoke_config("gpt", corpus, train_steps=6, checkpoint_every=100)
    assert straight.model_config.dropout > 0
    train.train_and_evaluate(straight, str(tmp_path / "straight"))
    train.train_and_evaluate(text_checks.smoke_config("gpt", corpus, train_steps=3), str(tmp_path / "resumed"))
    assert train.train_and_evaluate(straight, str(tmp_path / "resumed")).step == 6
    (step_a, weights_a), (step_b, weights_b) = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert step_a == step_b == 6
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)


@pytest.mark.integration  # mirrored per family; `make test` runs it for dcgan and pix2pix (test_distributed.py)
def test_mirrored_strategy_on_two_cpus(tmp_path):
    strategy = train.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    config = text_checks.smoke_config("gpt", text_checks.write_corpus(tmp_path), train_steps=2)
    result = train.train_and_evaluate(config, str(tmp_path / "run"), strategy=strategy)
    assert result.step == 2 and all(np.isfinite(value) for value in result.losses.values())


def test_untied_head_has_its_own_weights():
    tied, untied = text_checks.build("gpt"), text_checks.build("gpt", tie_embeddings=False)
    assert len(untied.network.trainable_variables) == len(tied.network.trainable_variables) + 2  # Kernel, bias.
    logits = untied.network(tf.zeros([2, 16], tf.int32))
    assert logits.shape == (2, 16, 256) and np.all(np.isfinite(logits.numpy()))
