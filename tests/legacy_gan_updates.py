"""The GAN updates as they were before the one shared update (issue 17), frozen as a reference.

Each function is the `train_step` a model had, with its hooks inlined, reading only what every GAN
still has (networks, optimizers, loss functions, `real_label`, `augment`, `update_generator`).
tests/test_gan_update.py runs one of these and the shared update from equal models on equal
batches and seeds, and requires equal weights afterwards: today's configs keep their behaviour.
Not used by zoo itself; do not "fix" these, they are the record of the old behaviour.
"""

import tensorflow as tf

from zoo.data.base import INPUT, TARGET
from zoo.models import base


def gan_step(model, batch, seed):
    """zoo.models.gan.GAN.train_step (mlp_gan, dcgan) before issue 17."""
    seeds = tf.unstack(base.split_seed(seed, 8))

    def generate(step_seed):
        z = base.replica_normal([tf.shape(batch["image"])[0], model.latent_dim], step_seed)
        return model.generator(z, training=True)

    def discriminate(images, augment_seed, dropout_seed):
        return model.discriminator(model.augment(images, augment_seed), training=True, seed=dropout_seed)

    with tf.GradientTape() as tape:
        fake_images = generate(seeds[0])
        real_logits = discriminate(batch["image"], seeds[5], seeds[1])
        fake_logits = discriminate(fake_images, seeds[6], seeds[2])
        discriminator_loss = model.discriminator_loss_fn(real_logits, fake_logits, real_label=model.real_label)
    base.apply_update(tape, discriminator_loss, model.discriminator, model.discriminator_optimizer)
    with tf.GradientTape() as tape:
        fake_images = generate(seeds[3])
        generator_loss = model.generator_loss_fn(discriminate(fake_images, seeds[7], seeds[4]))
    model.update_generator(tape, generator_loss)
    return {"discriminator_loss": discriminator_loss, "generator_loss": generator_loss}


def pix2pix_step(model, batch, seed):
    """GAN.train_step with zoo.models.pix2pix's hooks before issue 17 (adversarial_weight 1)."""
    seeds = tf.unstack(base.split_seed(seed, 8))

    def discriminate(images, augment_seed, dropout_seed):
        condition = model.augment(batch[INPUT], augment_seed)
        return model.discriminator(tf.concat([condition, model.augment(images, augment_seed)], axis=-1),
                                   training=True, seed=dropout_seed)

    with tf.GradientTape() as tape:
        fake_images = model.generator(batch[INPUT], training=True, seed=seeds[0])
        real_logits = discriminate(batch[TARGET], seeds[5], seeds[1])
        fake_logits = discriminate(fake_images, seeds[6], seeds[2])
        discriminator_loss = model.discriminator_loss_fn(real_logits, fake_logits, real_label=model.real_label)
    base.apply_update(tape, discriminator_loss, model.discriminator, model.discriminator_optimizer)
    with tf.GradientTape() as tape:
        fake_images = model.generator(batch[INPUT], training=True, seed=seeds[3])
        generator_loss = model.generator_loss_fn(discriminate(fake_images, seeds[7], seeds[4]))
        l1 = model.l1_weight * tf.reduce_mean(tf.abs(batch[TARGET] - fake_images))
        total = tf.add_n([generator_loss, l1])
    model.update_generator(tape, total)
    return {"discriminator_loss": discriminator_loss, "generator_loss": generator_loss, "l1": l1}


def cgan_step(model, batch, seed):
    """zoo.models.cgan.ConditionalGAN.train_step before issue 17."""
    real_images, real_labels = batch["image"], batch["label"]
    batch_size = tf.shape(real_images)[0]
    seeds = tf.unstack(base.split_seed(seed, 8))

    def fake(step_seed):
        z_seed, label_seed = tf.unstack(base.split_seed(step_seed, 2))
        z = base.replica_normal([batch_size, model.latent_dim], z_seed)
        labels = base.replica_uniform([batch_size], label_seed, minval=0, maxval=model.num_classes, dtype=tf.int64)
        return z, labels

    z, fake_labels = fake(seeds[0])
    with tf.GradientTape() as tape:
        fake_images = model.augment(model.generator((z, fake_labels), training=True), seeds[6])
        real_logits = model.discriminator((model.augment(real_images, seeds[5]), real_labels), training=True,
                                          seed=seeds[1])
        fake_logits = model.discriminator((fake_images, fake_labels), training=True, seed=seeds[2])
        discriminator_loss = model.discriminator_loss_fn(real_logits, fake_logits, real_label=model.real_label)
    base.apply_update(tape, discriminator_loss, model.discriminator, model.discriminator_optimizer)
    z, fake_labels = fake(seeds[3])
    with tf.GradientTape() as tape:
        fake_images = model.augment(model.generator((z, fake_labels), training=True), seeds[7])
        generator_loss = model.generator_loss_fn(
            model.discriminator((fake_images, fake_labels), training=True, seed=seeds[4]))
    model.update_generator(tape, generator_loss)
    return {"discriminator_loss": discriminator_loss, "generator_loss": generator_loss}


def infogan_step(model, batch, seed):
    """zoo.models.infogan.InfoGAN.train_step before issue 17."""
    real_images = batch["image"]
    batch_size = tf.shape(real_images)[0]
    seeds = tf.unstack(base.split_seed(seed, 5))

    def draw(step_seed):
        parts = tf.unstack(base.split_seed(step_seed, 3))
        z = base.replica_normal([batch_size, model.noise_dim], parts[0])
        categorical = base.replica_uniform([batch_size], parts[1], maxval=model.categories, dtype=tf.int64)
        continuous = base.replica_uniform([batch_size, model.continuous], parts[2], minval=-1.0, maxval=1.0)
        return z, categorical, continuous

    def latent(z, categorical, continuous):
        return tf.concat([z, tf.one_hot(categorical, model.categories), continuous], axis=-1)

    def info_loss(categorical, continuous, category_logits, continuous_means):
        cross_entropy = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=categorical, logits=category_logits))
        gaussian = 0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(continuous_means - continuous), axis=-1))
        return cross_entropy + gaussian

    z, categorical, continuous = draw(seeds[0])
    with tf.GradientTape() as tape:
        fake_images = model.generator(latent(z, categorical, continuous), training=True)
        real_logits, _, _ = model.discriminator(real_images, training=True, seed=seeds[1])
        fake_logits, category_logits, continuous_means = model.discriminator(fake_images, training=True, seed=seeds[2])
        discriminator_loss = model.discriminator_loss_fn(real_logits, fake_logits, real_label=model.real_label)
        total = discriminator_loss + model.info_weight * info_loss(categorical, continuous, category_logits,
                                                                   continuous_means)
    base.apply_update(tape, total, model.discriminator, model.discriminator_optimizer)
    z, categorical, continuous = draw(seeds[3])
    with tf.GradientTape() as tape:
        fake_images = model.generator(latent(z, categorical, continuous), training=True)
        fake_logits, category_logits, continuous_means = model.discriminator(fake_images, training=True, seed=seeds[4])
        generator_loss = model.generator_loss_fn(fake_logits)
        generator_info_loss = info_loss(categorical, continuous, category_logits, continuous_means)
        total = generator_loss + model.info_weight * generator_info_loss
    model.update_generator(tape, total)
    return {"discriminator_loss": discriminator_loss, "generator_loss": generator_loss,
            "info_loss": generator_info_loss}
