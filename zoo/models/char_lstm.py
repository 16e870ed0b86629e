"""An LSTM language model over bytes (Graves 2013; Karpathy's char-rnn): the text baseline.

Byte embedding, a stack of LSTM layers, a dense head to 256 logits. Each training window starts
from a zero state (no state is carried between batches), so the model, like the GPT, learns to
predict from at most sequence_length previous bytes, and generation and scoring read the same
bounded window (see `zoo.models.language`); that keeps the two models comparable byte for byte.
Dropout between layers uses the step's stateless seed, so a resumed run is exact.
"""

import keras
import tensorflow as tf

from zoo.errors import UserError
from zoo.models import base, language
from zoo.registry import register


class CharLSTMNetwork(keras.Model):
    """int32 bytes [B, T] -> next-byte logits [B, T, 256]."""

    def __init__(self, embedding_dim, units, dropout=0.0, vocabulary_size=language.VOCABULARY_SIZE, **kwargs):
        super().__init__(**kwargs)
        self.dropout_rate = float(dropout)
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        self.lstms = [keras.layers.LSTM(width, return_sequences=True, name=f"lstm_{index}")
                      for index, width in enumerate(units)]
        self.head = keras.layers.Dense(vocabulary_size, name="head")

    def call(self, tokens, training=False, seed=None):
        x = self.embedding(tokens)
        for index, lstm in enumerate(self.lstms):
            layer_seed = None if seed is None else base.fold_seed(seed, index)
            x = base.dropout(lstm(x), self.dropout_rate, layer_seed, training)
        return self.head(x)


@register("char_lstm")
def char_lstm(config, spec):
    """A byte-level LSTM; the training window comes from the data (sequence_length + 1)."""
    sequence_length = language.sequence_length_of(spec, "char_lstm")
    units = tuple(config.units)
    if not units or any(width < 1 for width in units) or config.embedding_dim < 1:
        raise UserError(f"model_config.units must be positive layer widths and embedding_dim positive, "
                        f"got units={units} and embedding_dim={config.embedding_dim}")
    if not 0.0 <= config.dropout < 1.0:
        raise UserError(f"model_config.dropout must be in [0, 1), got {config.dropout}")
    network = CharLSTMNetwork(config.embedding_dim, units, config.dropout, name="network")
    network(tf.zeros([1, sequence_length], tf.int32))  # Built, so the optimizer can tell matrices from vectors.
    model = language.ByteLanguageModel(network, sequence_length, name="char_lstm")
    model.compile(language.make_optimizer(config, network), clip_norm=config.clip_norm)
    return model
