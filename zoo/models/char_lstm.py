"""An LSTM language model over bytes (Graves 2013; Karpathy's char-rnn): the text baseline.

Byte embedding, a stack of LSTM layers, a dense head to 256 logits. Each training window starts
from a zero state (no state is carried between batches), so the model, like the GPT, learns to
predict from at most sequence_length previous bytes, and generation and scoring read the same
bounded window (see `zoo.models.language`); that keeps the two models comparable byte for byte.
Dropout between layers uses the step's stateless seed, so a resumed run is exact.

Decoding carries the LSTM state from byte to byte: one cell step per layer per byte. While a row's
text fits in the context that state is exactly the window's. Beyond it, each prediction reads only
the last sequence_length bytes from a zero state, which no single carried state gives; instead the
decoder carries one state per future window ("lanes"): lane j restarts from zero at every byte
index congruent to j modulo sequence_length, so after byte t the lane that restarted at
t + 1 - sequence_length has read exactly the window that predicts byte t + 1. Every lane advances
by one batched cell step per byte (lanes whose window no prediction will read are skipped), where
re-reading the window would take sequence_length dependent steps per byte.
"""

import keras
import tensorflow as tf

from zoo.errors import UserError
from zoo.models import base, language
from zoo.registry import register


def _modulo(value, divisor):
    """value mod divisor in [0, divisor), with the ops the shipped exports use (FloorDiv, not FloorMod)."""
    return value - (value // divisor) * divisor


class CharLSTMNetwork(keras.Model):
    """int32 bytes [B, T] -> next-byte logits [B, T, 256]."""

    def __init__(self, embedding_dim, units, dropout=0.0, vocabulary_size=language.VOCABULARY_SIZE,
                 sequence_length=None, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
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

    # Decoding (the protocol of zoo.models.language.ByteLanguageModel); see the module docstring.

    def start_decoding(self, context, lengths, limits):
        """Reads the contexts byte by byte: logits of the byte after each, and the decoding state."""
        batch, lanes = tf.shape(context)[0], self.sequence_length
        zeros = [tf.zeros([batch * lanes, lstm.cell.units]) for lstm in self.lstms]
        state = {"h": zeros, "c": list(zeros), "count": tf.zeros_like(lengths), "limit": limits}

        def read(index, state):
            reading = index < lengths
            return index + 1, self._advance(context[:, index], reading, state)

        _, state = tf.while_loop(lambda index, _: index < tf.shape(context)[1], read, (tf.constant(0), state))
        return self._next_logits(state), state

    def decode_step(self, tokens, state):
        """Appends `tokens` [B] (row r's byte at index count[r]); logits of the byte after it."""
        state = self._advance(tokens, state["count"] + 1 < state["limit"], state)
        return self._next_logits(state), state

    def _advance(self, tokens, reading, state):
        """Every needed lane of the rows `reading` reads its byte `tokens` (at index count)."""
        count, limit, lanes = state["count"], state["limit"], self.sequence_length
        lane = tf.range(lanes)[tf.newaxis]
        index = count[:, tf.newaxis]
        start = index - _modulo(index - lane, lanes)  # Where each lane's window began (<= index).
        # A lane is needed while it reads the row's first window or a window that predicts a byte
        # of the row (the window that began at s predicts byte s + lanes; the last is limit - 1).
        needed = tf.logical_or(start == 0, start + lanes <= limit[:, tf.newaxis] - 1)
        active = tf.logical_and(tf.logical_and(reading[:, tf.newaxis], lane <= index), needed)
        where = tf.where(active)
        flat = tf.cast(where[:, 0], tf.int32) * lanes + tf.cast(where[:, 1], tf.int32)
        fresh = tf.gather(tf.reshape(start == index, [-1]), flat)[:, tf.newaxis]  # Lanes that begin at this byte.

        def step():
            x = tf.gather(self.embedding(tokens), where[:, 0])
            hs, cs = [], []
            for lstm, h, c in zip(self.lstms, state["h"], state["c"]):
                h_in = tf.where(fresh, tf.zeros_like(x[:, :1]), tf.gather(h, flat))
                c_in = tf.where(fresh, tf.zeros_like(x[:, :1]), tf.gather(c, flat))
                x, (h_out, c_out) = lstm.cell(x, [h_in, c_in])
                hs.append(tf.tensor_scatter_nd_update(h, flat[:, tf.newaxis], h_out))
                cs.append(tf.tensor_scatter_nd_update(c, flat[:, tf.newaxis], c_out))
            return hs, cs

        # No lane to advance (every row done) never reaches a kernel (oneDNN's fail on 0 rows).
        hs, cs = tf.cond(tf.reduce_any(active), step, lambda: (list(state["h"]), list(state["c"])))
        return {"h": hs, "c": cs, "count": tf.where(reading, count + 1, count), "limit": limit}

    def _next_logits(self, state):
        """Logits of the byte at index count: from the lane that read the window ending before it."""
        count, lanes = state["count"], self.sequence_length
        lane = _modulo(tf.maximum(count - lanes, 0), lanes)
        return self.head(tf.gather(state["h"][-1], tf.range(tf.shape(count)[0]) * lanes + lane))


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
    network = CharLSTMNetwork(config.embedding_dim, units, config.dropout, sequence_length=sequence_length,
                               name="network")
    network(tf.zeros([1, sequence_length], tf.int32))  # Built, so the optimizer can tell matrices from vectors.
    model = language.ByteLanguageModel(network, sequence_length, name="char_lstm")
    model.compile(language.make_optimizer(config, network), clip_norm=config.clip_norm)
    return model
