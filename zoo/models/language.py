"""Byte-level language models: the training step, checkpoint and serving signatures they share.

`ByteLanguageModel` owns one network that maps int32 tokens [B, T] (bytes, T <= sequence_length)
to next-byte logits [B, T, 256] and may only look backwards (position t sees tokens 0..t). The GPT
(`zoo.models.gpt`) and the LSTM baseline (`zoo.models.char_lstm`) differ only in that network.

Training data are windows of sequence_length + 1 bytes (`zoo.data.text`): the network reads the
first sequence_length and is scored on predicting each next byte; the loss is in nats per byte
and `bits_per_byte` is the same number in bits.

The exported signatures need nothing of zoo and no Python at serving time (TensorFlow ops only):
- `serving_default` = `generate(prompt, max_new_tokens, temperature, top_k, seed) -> text`:
  batched like every zoo signature (TF Serving's request batching concatenates requests along
  the 0th dimension, so every input and output is a vector): the five inputs are vectors of one
  length N (at most MAX_SERVING_BATCH) and `text` holds N strings; N = 0 gives no strings. Row i
  samples max_new_tokens[i] bytes after prompt[i] and returns prompt[i] + sample, computed alone:
  a row's text does not depend on the other rows or on N. Every step reads only the last
  sequence_length bytes (the context the network was trained on) and draws from the softmax of
  logits / temperature, restricted to the top_k most likely bytes (0: all), with the stateless
  seed (seed, 0) folded with the step: the same inputs give the same text in every process and
  every batch. The bytes are returned as they are, so a sample may end inside a UTF-8 character.
  Inputs of unequal lengths, an empty prompt or a value out of range in any row fail the whole
  request with InvalidArgument naming the input, before anything reads them.
  Rows decode together (up to _DECODE_ROWS at once, so memory stays bounded), each through the
  network's decoder: `network.start_decoding(context, lengths, limits) -> (logits, state)` reads
  every row's context (int32 [B, T], row r's first lengths[r] bytes, the rest padding; limits[r]
  the length its text will reach) and gives the logits [B, 256] of the byte after it;
  `network.decode_step(tokens, state) -> (logits, state)` appends one byte per row and gives the
  logits of the next. A decoder carries what it can (the GPT its keys and values, the LSTM its
  state) but must give what `network(window)[:, -1]` gives for the same window of at most
  sequence_length bytes. Sampling draws each row's bytes with its own seed as
  `tf.random.stateless_categorical` would, all rows at once (`zoo.models.stateless_categorical`).
  The float32 logits of a row then agree with those of the definition (and of the row alone) to
  rounding, not bit for bit: a byte can only differ where its draw falls within that rounding of
  the boundary between two bytes (benchmarks/text_generation.py counts such texts).
  `reference_decoding=True` (a model attribute, read when the signatures are traced) traces the
  plain definition instead, one row at a time, each step running the network over its window:
  the tests compare the two byte for byte.
- `log_likelihood(text) -> log_likelihood, num_tokens`: per string, the natural-log likelihood
  of every byte after the first (the first has no context to be predicted from) and how many
  bytes that is; bits per byte = -sum(log_likelihood) / sum(num_tokens) / ln 2. Long texts are
  scored with a sliding window of sequence_length bytes moved by half of it, so every byte is
  predicted exactly once, with at least sequence_length / 2 bytes of context (fewer only within
  the first window), as in training.
"""

import dataclasses
import math

import keras
import tensorflow as tf

from zoo.errors import UserError
from zoo.models import base, stateless_categorical
from zoo.contract import Evaluation, Input, Interface, Signature
from zoo.trainable import TrainableModel

VOCABULARY_SIZE = 256
MAX_NEW_TOKENS = 1024  # generate's bound on max_new_tokens: one request cannot hold a server for long.
_LN2 = math.log(2.0)
_WINDOWS_PER_BATCH = 64  # log_likelihood scores this many windows at once (bounded memory).
_DECODE_ROWS = 64  # generate decodes this many rows at once (bounded memory: each carries a cache).


def sequence_length_of(spec, model_name):
    """The context length of text data (`zoo.data.DataSpec` of kind text) for `model_name`."""
    from zoo.data import base as data_base

    spec.require(data_base.TEXT, model_name)
    if spec.vocabulary_size != VOCABULARY_SIZE or spec.sequence_length < 1:
        raise UserError(f"{model_name} reads bytes (a vocabulary of {VOCABULARY_SIZE}); the data has "
                        f"{spec.vocabulary_size} token values and windows of {spec.sequence_length}")
    return spec.sequence_length


class WarmupConstant(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `learning_rate` over `warmup_steps`, then constant.

    Constant afterwards because a wall-clock budget (max_train_seconds) leaves the number of
    steps unknown, so a decay could not be timed to end with the run.
    """

    def __init__(self, learning_rate, warmup_steps):
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        if not self.warmup_steps:
            return tf.constant(self.learning_rate, tf.float32)
        ramp = (tf.cast(step, tf.float32) + 1.0) / float(self.warmup_steps)
        return self.learning_rate * tf.minimum(1.0, ramp)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps}


def make_optimizer(config, network):
    """AdamW(config.learning_rate, warm-up) decaying only matrices (not biases, norms or gains).

    Call after the network is built: the exclusion is fixed before the optimizer is built.
    """
    if config.learning_rate <= 0 or config.warmup_steps < 0:
        raise UserError(f"learning_rate must be > 0 and warmup_steps >= 0, got {config.learning_rate} and {config.warmup_steps}")
    optimizer = keras.optimizers.AdamW(WarmupConstant(config.learning_rate, config.warmup_steps),
                                       weight_decay=config.weight_decay, beta_1=0.9, beta_2=0.99)
    optimizer.exclude_from_weight_decay(var_list=[v for v in network.trainable_variables if len(v.shape) < 2])
    return optimizer


class ByteLanguageModel(TrainableModel):
    """A next-byte predictor trained by the zoo trainer and exported for TF Serving."""

    def __init__(self, network, sequence_length, reference_decoding=False, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.sequence_length = int(sequence_length)
        self.reference_decoding = bool(reference_decoding)

    def compile(self, optimizer, clip_norm=1.0):
        """Attaches the optimizer and the gradient clip (global norm of the global batch's
        gradient, whatever the number of replicas; 0: off)."""
        super().compile()
        if clip_norm < 0:
            raise UserError(f"clip_norm must be >= 0 (0: no clipping), got {clip_norm}")
        self.network_optimizer = optimizer
        self.clip_norm = float(clip_norm)

    def build_for_training(self):
        self.network(tf.zeros([1, self.sequence_length], tf.int32))
        self.network_optimizer.build(self.network.trainable_variables)

    def checkpoint_items(self):
        return {"network": base.VariableList(self.network), "optimizer": base.VariableList(self.network_optimizer)}

    def call(self, tokens, training=False):
        return self.network(tokens, training=training)

    def train_step(self, batch, seed):
        tokens = tf.cast(batch["tokens"], tf.int32)
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        scale = 1.0 / replicas
        variables = self.network.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.network(inputs, training=True, seed=seed)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
            # The optimizer sums replicas' gradients, so each contributes its share of the average.
            scaled_loss = loss * scale
        gradients = tape.gradient(scaled_loss, variables)
        if self.clip_norm and replicas == 1:
            gradients, _ = tf.clip_by_global_norm(gradients, self.clip_norm)
        elif self.clip_norm:
            # The norm of the global batch's gradient (the sum of the replicas' shares), as on one
            # device; sparse gradients stay sparse, as from tf.clip_by_global_norm.
            factor = base.clip_factor(base.global_batch_norm(gradients), self.clip_norm)
            gradients = [base.scaled_gradient(gradient, factor) for gradient in gradients]
        self.network_optimizer.apply_gradients(zip(gradients, variables))
        return {"loss": loss, "bits_per_byte": loss / _LN2}

    def next_logits(self, context):
        """Logits [256] of the byte after `context` (int32 [T], 1 <= T <= sequence_length)."""
        return self.network(context[tf.newaxis], training=False)[0, -1]

    def serving_signatures(self):
        """`serving_default` and `generate` (the same function), and `log_likelihood`."""
        generate = tf.function(self._generate, input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([None], tf.int64, name="max_new_tokens"),
            tf.TensorSpec([None], tf.float32, name="temperature"),
            tf.TensorSpec([None], tf.int64, name="top_k"),
            tf.TensorSpec([None], tf.int64, name="seed"),
        ])
        log_likelihood = tf.function(self._log_likelihood, input_signature=[
            tf.TensorSpec([None], tf.string, name="text"),
        ])
        return base.answering_empty_batches({"serving_default": generate, "generate": generate, "log_likelihood": log_likelihood})

    def interface(self):
        """`generate` (also `serving_default`) continues prompts (measured by the diversity and BLEU of
        its continuations of held-out prompts); `log_likelihood` scores text (bits per byte of the
        held-out text)."""
        generate = Signature("generate", [
            Input("prompt", "text", "string"),
            Input("max_new_tokens", "parameter", "int64", default=64, low=1, high=MAX_NEW_TOKENS, example=1,
                  prefix=True),
            Input("temperature", "parameter", "float32", default=1.0, low=1e-6, high=1e6),
            Input("top_k", "parameter", "int64", default=0, low=0, high=VOCABULARY_SIZE),
            Input("seed", "seed", "int64"),
        ], {"text": "text"})
        scores = Signature("log_likelihood", [Input("text", "text", "string", example=b"a b")],
                           {"log_likelihood": "log_likelihood", "num_tokens": "num_tokens"})
        return Interface([dataclasses.replace(generate, name="serving_default"), generate, scores],
                         evaluations=[Evaluation("text_likelihood", "log_likelihood"),
                                      Evaluation("text_generation", "generate")])

    def export_info(self):
        return {"vocabulary_size": VOCABULARY_SIZE, "sequence_length": self.sequence_length,
                "tokens": "bytes", "max_new_tokens": MAX_NEW_TOKENS,
                "log_likelihood_window": self.sequence_length, "log_likelihood_stride": self._stride()}

    def _stride(self):
        return max(1, self.sequence_length // 2)

    def _generate(self, prompt, max_new_tokens, temperature, top_k, seed):
        """One text per row of the five equal-length input vectors (see the module docstring)."""
        inputs = (prompt, max_new_tokens, temperature, top_k, seed)
        sizes = tf.stack([tf.shape(tensor, out_type=tf.int64)[0] for tensor in inputs])
        unequal = ("prompt, max_new_tokens, temperature, top_k, seed: must have equal batch size "
                   "(one value of each per row), got sizes")
        checks = [
            tf.debugging.Assert(tf.reduce_all(tf.equal(sizes, sizes[0])), [unequal, sizes], summarize=len(inputs)),
            base.check_serving_batch(prompt, "prompt"),
            tf.debugging.assert_greater(tf.strings.length(prompt), 0,
                                        message="prompt: must be a non-empty string (at least 1 byte) in every row"),
            tf.debugging.assert_greater_equal(max_new_tokens, tf.constant(1, tf.int64),
                                              message=f"max_new_tokens: must be between 1 and {MAX_NEW_TOKENS}"),
            tf.debugging.assert_less_equal(max_new_tokens, tf.constant(MAX_NEW_TOKENS, tf.int64),
                                           message=f"max_new_tokens: must be between 1 and {MAX_NEW_TOKENS}"),
            tf.debugging.Assert(tf.reduce_all(tf.logical_and(temperature > 0.0, tf.math.is_finite(temperature))),
                                ["temperature: must be a positive finite number, got", temperature]),
            tf.debugging.assert_greater_equal(top_k, tf.constant(0, tf.int64),
                                              message=f"top_k: must be between 0 (no filtering) and {VOCABULARY_SIZE}"),
            tf.debugging.assert_less_equal(top_k, tf.constant(VOCABULARY_SIZE, tf.int64),
                                           message=f"top_k: must be between 0 (no filtering) and {VOCABULARY_SIZE}"),
        ]
        inputs = base.checked(checks, *inputs)
        if self.reference_decoding:
            text = tf.map_fn(self._generate_row, inputs, fn_output_signature=tf.TensorSpec([], tf.string))
            return {"text": text}
        rows = tf.shape(prompt)[0]
        chunks = (rows + _DECODE_ROWS - 1) // _DECODE_ROWS

        def decode(chunk, texts):
            first = chunk * _DECODE_ROWS
            last = tf.minimum(first + _DECODE_ROWS, rows)
            text = self._decode_rows(*(tensor[first:last] for tensor in inputs))
            return chunk + 1, texts.write(chunk, tf.pad(text, [[0, _DECODE_ROWS - (last - first)]]))

        texts = tf.TensorArray(tf.string, size=chunks, element_shape=[_DECODE_ROWS])
        _, texts = tf.while_loop(lambda chunk, _: chunk < chunks, decode, (tf.constant(0), texts))
        return {"text": tf.reshape(texts.stack(), [-1])[:rows]}

    def _decode_rows(self, prompt, max_new_tokens, temperature, top_k, seed):
        """The texts of a few rows, decoded together through the network's decoder."""
        length = self.sequence_length

        def context_of(text):  # Only the last sequence_length bytes are ever read.
            tokens = tf.cast(tf.io.decode_raw(text, tf.uint8), tf.int32)[-length:]
            return tf.pad(tokens, [[0, length - tf.shape(tokens)[0]]])

        known = tf.minimum(tf.strings.length(prompt), length)
        context = tf.map_fn(context_of, prompt, fn_output_signature=tf.TensorSpec([length], tf.int32))
        context = context[:, :tf.reduce_max(known)]
        steps = tf.cast(max_new_tokens, tf.int32)
        total = tf.reduce_max(steps)
        uniforms = stateless_categorical.step_uniforms(seed, total)
        k = tf.cast(tf.where(top_k > 0, top_k, VOCABULARY_SIZE), tf.int32)
        logits, state = self.network.start_decoding(context, known, known + steps)

        def body(step, logits, state, samples):
            logits = logits / temperature[:, tf.newaxis]
            # top_k 0 means k = 256: the k-th largest is the smallest, so nothing is filtered.
            ranked = tf.math.top_k(logits, k=VOCABULARY_SIZE, sorted=True).values
            threshold = tf.gather(ranked, k - 1, batch_dims=1)[:, tf.newaxis]
            logits = tf.where(logits < threshold, tf.constant(-math.inf, tf.float32), logits)
            tokens = stateless_categorical.sample(logits, uniforms[:, step])
            logits, state = tf.cond(step + 1 < total, lambda: self.network.decode_step(tokens, state),
                                    lambda: (logits, state))
            return step + 1, logits, state, samples.write(step, tokens)

        samples = tf.TensorArray(tf.int32, size=total)
        _, _, _, samples = tf.while_loop(lambda step, *_: step < total, body, (tf.constant(0), logits, state, samples))
        # [steps, rows], joined along the steps: no transpose of the int32 samples, which oneDNN's
        # rewrite reports (one "supports DT_INT32 only on platforms with AVX-512" line per process).
        samples = samples.stack()
        chosen = tf.range(total)[:, tf.newaxis] < steps[tf.newaxis]
        sample = tf.strings.reduce_join(tf.where(chosen, tf.gather(_byte_strings(), samples), ""), axis=0)
        return tf.strings.join([prompt, sample])

    def _generate_row(self, row):
        """prompt + max_new_tokens sampled bytes for one row (prompt, max_new_tokens, temperature, top_k,
        seed), by the definition: the reference the decoders are tested against."""
        prompt, max_new_tokens, temperature, top_k, seed = row
        prompt_tokens = tf.cast(tf.io.decode_raw(prompt, tf.uint8), tf.int32)
        # Only the last sequence_length prompt bytes are ever read; the buffer holds them and the sample.
        context = prompt_tokens[-self.sequence_length:]
        known = tf.shape(context)[0]
        steps = tf.cast(max_new_tokens, tf.int32)
        buffer = tf.concat([context, tf.zeros([steps], tf.int32)], axis=0)
        k = tf.cast(tf.where(top_k > 0, top_k, VOCABULARY_SIZE), tf.int32)
        base_seed = tf.stack([seed, tf.constant(0, tf.int64)])

        def body(step, buffer):
            end = known + step
            window = buffer[tf.maximum(end - self.sequence_length, 0):end]
            logits = self.next_logits(window) / temperature
            # top_k 0 means k = 256: the k-th largest is the smallest, so nothing is filtered.
            threshold = tf.math.top_k(logits, k=k, sorted=True).values[-1]
            logits = tf.where(logits < threshold, tf.constant(-math.inf, tf.float32), logits)
            step_seed = tf.random.experimental.stateless_fold_in(base_seed, tf.cast(step, tf.int64))
            token = tf.random.stateless_categorical(logits[tf.newaxis], 1, seed=step_seed, dtype=tf.int32)[0, 0]
            buffer = tf.tensor_scatter_nd_update(buffer, [[end]], [token])
            return step + 1, buffer

        _, buffer = tf.while_loop(lambda step, _: step < steps, body, (tf.constant(0, tf.int32), buffer))
        sample = tf.strings.reduce_join(tf.gather(_byte_strings(), buffer[known:]))
        return tf.strings.join([prompt, sample])

    def _log_likelihood(self, text):
        with tf.control_dependencies([base.check_serving_batch(text, "text")]):
            text = tf.identity(text)
        log_likelihoods, counts = tf.map_fn(
            self._text_log_likelihood, text,
            fn_output_signature=(tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int64)))
        return {"log_likelihood": log_likelihoods, "num_tokens": counts}

    def _text_log_likelihood(self, text):
        """Sum of log p(byte | up to sequence_length previous bytes) over bytes 1..n-1 of one string."""
        length, stride = self.sequence_length, self._stride()
        tokens = tf.cast(tf.io.decode_raw(text, tf.uint8), tf.int32)
        targets = tf.shape(tokens)[0] - 1  # Predicted bytes: positions 1..n-1.
        # Window w reads tokens [w * stride, w * stride + length) and scores the targets its
        # predecessor did not reach: all of them for w = 0, the last `stride` otherwise.
        num_windows = 1 + (tf.maximum(targets - length, 0) + stride - 1) // stride
        padded = tf.concat([tokens, tf.zeros([(num_windows - 1) * stride + length + 1 - tf.shape(tokens)[0]], tf.int32)], 0)
        offsets = tf.range(length)
        first_scored = length - stride

        def body(first, total):
            windows = tf.range(first, tf.minimum(first + _WINDOWS_PER_BATCH, num_windows))
            starts = windows * stride
            inputs = tf.gather(padded, starts[:, None] + offsets)
            labels = tf.gather(padded, starts[:, None] + offsets + 1)
            logits = self.network(inputs, training=False)
            log_p = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            position = starts[:, None] + offsets + 1  # Of each label in the text.
            scored = tf.logical_and(position <= targets,
                                    tf.logical_or(windows[:, None] == 0, offsets[None] >= first_scored))
            batch_total = tf.reduce_sum(tf.where(scored, tf.cast(log_p, tf.float64), tf.constant(0.0, tf.float64)))
            return first + _WINDOWS_PER_BATCH, total + batch_total

        _, total = tf.while_loop(lambda first, _: first < num_windows, body,
                                 (tf.constant(0, tf.int32), tf.constant(0.0, tf.float64)))
        total = tf.where(targets > 0, total, tf.constant(0.0, tf.float64))
        return tf.cast(total, tf.float32), tf.cast(tf.maximum(targets, 0), tf.int64)


def _byte_strings():
    """The 256 one-byte strings, indexed by byte value (bytes back to a string without Python)."""
    return tf.constant([bytes([value]) for value in range(VOCABULARY_SIZE)])
