"""A small GPT (Radford et al. 2018/2019) over bytes: a decoder-only Transformer language model.

Token and learned position embeddings, `depth` pre-LayerNorm blocks of causal multi-head
self-attention and a GELU MLP (4x wide), a final LayerNorm and an output head tied to the token
embedding (or a separate one). Weights start as in GPT-2: normal(0, 0.02), with the projections
back into the residual stream scaled by 1/sqrt(2 * depth) so the stream's variance does not grow
with depth. Dropout (embeddings, attention weights, residual branches) draws its masks from the
step's stateless seed, so a resumed run is exact.

The context is bounded by the training windows: generation crops to the last sequence_length
bytes at every step (see `zoo.models.language`). There is no key/value cache: each generated
byte runs the network over its whole window, which is simple and fast enough for a few hundred
bytes on a CPU.
"""

import math

import keras
import tensorflow as tf

from zoo.errors import UserError
from zoo.models import base, language
from zoo.registry import register


def _normal(stddev=0.02):
    return keras.initializers.RandomNormal(stddev=stddev)


def _fold(seed, index):
    return None if seed is None else base.fold_seed(seed, index)


class CausalSelfAttention(keras.layers.Layer):
    """Multi-head self-attention where position t attends to positions 0..t only."""

    def __init__(self, width, heads, dropout, depth, **kwargs):
        super().__init__(**kwargs)
        if width % heads:
            raise UserError(f"width {width} must be a multiple of heads {heads}")
        self.width, self.heads, self.dropout_rate = width, heads, float(dropout)
        self.qkv = keras.layers.Dense(3 * width, kernel_initializer=_normal(), name="qkv")
        self.projection = keras.layers.Dense(width, kernel_initializer=_normal(0.02 / math.sqrt(2 * depth)),
                                             name="projection")

    def call(self, x, training=False, seed=None):
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        head_width = self.width // self.heads
        qkv = tf.reshape(self.qkv(x), [batch, length, 3, self.heads, head_width])
        query, key, value = tf.unstack(qkv, axis=2)
        scores = tf.einsum("bthd,bshd->bhts", query, key) / math.sqrt(head_width)
        causal = tf.cast(tf.linalg.band_part(tf.ones([length, length]), -1, 0), tf.bool)
        scores = tf.where(causal, scores, tf.constant(-1e9, scores.dtype))
        weights = base.dropout(tf.nn.softmax(scores, axis=-1), self.dropout_rate, _fold(seed, 0), training)
        attended = tf.reshape(tf.einsum("bhts,bshd->bthd", weights, value), [batch, length, self.width])
        return base.dropout(self.projection(attended), self.dropout_rate, _fold(seed, 1), training)


class Block(keras.layers.Layer):
    """x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)) (pre-LN, as GPT-2)."""

    def __init__(self, width, heads, dropout, depth, **kwargs):
        super().__init__(**kwargs)
        self.dropout_rate = float(dropout)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="attention_norm")
        self.attention = CausalSelfAttention(width, heads, dropout, depth, name="attention")
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="mlp_norm")
        self.expand = keras.layers.Dense(4 * width, kernel_initializer=_normal(), name="expand")
        self.contract = keras.layers.Dense(width, kernel_initializer=_normal(0.02 / math.sqrt(2 * depth)),
                                           name="contract")

    def call(self, x, training=False, seed=None):
        x = x + self.attention(self.attention_norm(x), training=training, seed=_fold(seed, 0))
        hidden = tf.nn.gelu(self.expand(self.mlp_norm(x)), approximate=True)
        return x + base.dropout(self.contract(hidden), self.dropout_rate, _fold(seed, 1), training)


class GPTNetwork(keras.Model):
    """int32 bytes [B, T] (T <= sequence_length) -> next-byte logits [B, T, 256]."""

    def __init__(self, sequence_length, width, depth, heads, dropout=0.0, tie_embeddings=True,
                 vocabulary_size=language.VOCABULARY_SIZE, **kwargs):
        super().__init__(**kwargs)
        self.dropout_rate = float(dropout)
        self.token_embedding = keras.layers.Embedding(vocabulary_size, width, embeddings_initializer=_normal(),
                                                      name="token_embedding")
        self.position_embedding = keras.layers.Embedding(sequence_length, width, embeddings_initializer=_normal(),
                                                         name="position_embedding")
        self.blocks = [Block(width, heads, dropout, depth, name=f"block_{index}") for index in range(depth)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.tie_embeddings = bool(tie_embeddings)
        self.head = None if self.tie_embeddings else keras.layers.Dense(
            vocabulary_size, kernel_initializer=_normal(), name="head")

    def call(self, tokens, training=False, seed=None):
        # The first T rows of the position table, sliced rather than looked up: the same values, but
        # a dense gradient. A lookup's sparse gradient holds one row per position already summed
        # over the (local) batch, and Keras's Adam squares sparse rows before summing repeated ones,
        # so replicas, whose rows repeat each other's positions, would update differently from one
        # device; per-token lookups (the token table) are unaffected, their rows being per example.
        if not self.position_embedding.built:
            self.position_embedding.build()
        length = tf.shape(tokens)[1]
        x = self.token_embedding(tokens) + self.position_embedding.embeddings[:length][tf.newaxis]
        x = base.dropout(x, self.dropout_rate, _fold(seed, 0), training)
        for index, block in enumerate(self.blocks):
            x = block(x, training=training, seed=_fold(seed, index + 1))
        x = self.final_norm(x)
        if self.tie_embeddings:
            return tf.einsum("btw,vw->btv", x, self.token_embedding.embeddings)
        return self.head(x)


@register("gpt")
def gpt(config, spec):
    """A byte-level GPT; the context length comes from the data's windows (sequence_length + 1)."""
    sequence_length = language.sequence_length_of(spec, "gpt")
    for key in ("width", "depth", "heads"):
        if config[key] < 1:
            raise UserError(f"model_config.{key} must be a positive integer, got {config[key]}")
    if not 0.0 <= config.dropout < 1.0:
        raise UserError(f"model_config.dropout must be in [0, 1), got {config.dropout}")
    network = GPTNetwork(sequence_length, config.width, config.depth, config.heads, config.dropout,
                         config.tie_embeddings, name="network")
    network(tf.zeros([1, sequence_length], tf.int32))  # Built, so the optimizer can tell matrices from vectors.
    model = language.ByteLanguageModel(network, sequence_length, name="gpt")
    model.compile(language.make_optimizer(config, network), clip_norm=config.clip_norm)
    return model
