"""DCGAN training throughput: the zoo trainer against keras.Model.fit with the same networks.

    python benchmarks/train_throughput.py [--steps=300] [--rounds=2]

The baseline is the keras-io "GAN overriding train_step" pattern: a keras.Model whose train_step
does one discriminator and one generator update, trained by `fit` on the same tf.data pipeline
with the same DCGAN networks, batch size and optimizers. Each variant runs `--rounds` times,
interleaved, in this one process; images/s is measured after a warm-up (tracing/compilation
excluded: a warm-up fit call for keras, the steps before the first progress report for zoo) and
reported as the median, with the ratio to the zoo trainer. Results go to
benchmarks/results/train_throughput.json.
"""

import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402


import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

from zoo import config as config_lib  # noqa: E402
from zoo import data, train  # noqa: E402
from zoo.models.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402

flags.DEFINE_integer("steps", 300, "Timed steps per run (after warm-up).")
flags.DEFINE_integer("warmup", 20, "Untimed steps per run (tracing, compilation, caches).")
flags.DEFINE_integer("rounds", 2, "Runs per variant, interleaved.")
flags.DEFINE_string("out", os.path.join(os.path.dirname(__file__), "results", "train_throughput.json"), "JSON path.")
FLAGS = flags.FLAGS


class FitGAN(keras.Model):
    """keras-io's DCGAN shape: losses and updates in train_step, noise from a SeedGenerator."""

    def __init__(self, generator, discriminator, latent_dim):
        super().__init__()
        self.generator, self.discriminator, self.latent_dim = generator, discriminator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def compile(self, discriminator_optimizer, generator_optimizer, **kwargs):
        super().compile(**kwargs)
        self.discriminator_optimizer, self.generator_optimizer = discriminator_optimizer, generator_optimizer

    def train_step(self, batch):
        real = batch["image"]
        size = tf.shape(real)[0]
        z = keras.random.normal((size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(self.generator(z, training=True), training=True)
            d_loss = self.loss_fn(tf.ones_like(real_logits), real_logits) + self.loss_fn(
                tf.zeros_like(fake_logits), fake_logits)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.discriminator_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        z = keras.random.normal((size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(z, training=True), training=True)
            g_loss = self.loss_fn(tf.ones_like(fake_logits), fake_logits)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.generator_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


def run_fit(config, source, jit_compile):
    model_config = config.model_config
    shape = source.image_shape
    model = FitGAN(
        DCGANGenerator(shape, model_config.generator_width, model_config.kernel_size),
        DCGANDiscriminator(shape, model_config.discriminator_width, model_config.kernel_size),
        model_config.latent_dim,
    )
    adam = lambda: keras.optimizers.Adam(model_config.generator_learning_rate, beta_1=model_config.beta_1)  # noqa
    model.compile(adam(), adam(), jit_compile=jit_compile)
    pipeline = data.make_pipeline(source, config.batch_size, config.seed)
    # A first fit traces and warms up; the second reuses the compiled train function. No
    # per-batch callback: it would make fit synchronize every step.
    model.fit(pipeline, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(pipeline, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
    return FLAGS.steps * config.batch_size / (time.perf_counter() - started)


def run_zoo(config, jit_compile):
    config = config_lib.from_json(config_lib.to_json(config))
    config.train_steps = FLAGS.warmup + FLAGS.steps
    config.log_every = FLAGS.warmup  # The steady rate is measured from the first report on.
    config.checkpoint_every = 10**9
    config.image_every = 0
    config.jit_compile = jit_compile
    with tempfile.TemporaryDirectory() as workdir:
        result = train.train_and_evaluate(config, workdir)
    return result.steady_steps_per_second * config.batch_size


def main(argv):
    del argv
    config = config_lib.load("dcgan_fashion_mnist")
    source = data.load(config.dataset, "train")
    variants = {
        "zoo trainer (tf.function)": lambda: run_zoo(config, False),
        "keras fit, train_step override (jit_compile=False)": lambda: run_fit(config, source, False),
        "keras fit, train_step override (jit_compile='auto')": lambda: run_fit(config, source, "auto"),
        "zoo trainer (jit_compile=True)": lambda: run_zoo(config, True),
    }
    samples = {name: [] for name in variants}
    for round_index in range(FLAGS.rounds):
        for name, function in variants.items():
            samples[name].append(function())
            print(f"round {round_index + 1}/{FLAGS.rounds}: {name}: {samples[name][-1]:.1f} images/s", flush=True)
    baseline = statistics.median(samples["zoo trainer (tf.function)"])
    rows = [{"variant": name, "images_per_second": statistics.median(values), "runs": values,
             "ratio_to_zoo_trainer": statistics.median(values) / baseline} for name, values in samples.items()]
    result = {
        "benchmark": "dcgan_fashion_mnist training throughput",
        "command": "python benchmarks/train_throughput.py " + f"--steps={FLAGS.steps} --rounds={FLAGS.rounds}",
        "batch_size": config.batch_size, "timed_steps": FLAGS.steps, "warmup_steps": FLAGS.warmup,
        "machine": common.machine(),
        "date": time.strftime("%Y-%m-%d"), "rows": rows,
    }
    os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"{'variant':<55} {'images/s':>9} {'ratio':>6}")
    for row in rows:
        print(f"{row['variant']:<55} {row['images_per_second']:>9.1f} {row['ratio_to_zoo_trainer']:>6.2f}")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
