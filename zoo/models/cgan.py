"""Class-conditional DCGAN with a projection discriminator (Miyato & Koyama 2018, *cGANs with
Projection Discriminator*).

Why projection rather than ACGAN (Odena et al. 2017): the projection term <embed(y), phi(x)> adds
the class to the discriminator's logit without a second, auxiliary classification loss, so the
losses stay the plain GAN pair and the generator is not pushed toward the easiest-to-classify
images (ACGAN's known loss of diversity within a class). The generator sees the class as a learned
embedding concatenated to z.

Serving: `serving_default(seed, label)` and `from_latent(z, label)`; a label outside
[0, num_classes) or a label batch that does not match the seed batch fails with InvalidArgument.
"""

import keras
import tensorflow as tf

from zoo.data.base import IMAGE, LABEL
from zoo.errors import UserError
from zoo.models import base
from zoo.models.dcgan import DCGANDiscriminator, DCGANGenerator
from zoo.models.gan import GAN, make_gan
from zoo.contract import Evaluation, Input, Interface, Signature
from zoo.registry import register


class ConditionalGenerator(base.CompositeNetwork):
    """[z, embedding(label)] -> the DCGAN generator."""

    def __init__(self, image_shape, num_classes, embedding_dim, width, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(num_classes, embedding_dim)
        self.body = DCGANGenerator(image_shape, width, kernel_size, name="body")

    def call(self, inputs, training=False):
        z, labels = inputs
        return self.body(tf.concat([z, self.embedding(labels)], axis=-1), training=training)


class ProjectionDiscriminator(base.CompositeNetwork):
    """logit = psi(phi(x)) + <embedding(label), phi(x)>, with phi the DCGAN trunk."""

    def __init__(self, image_shape, num_classes, width, kernel_size, normalization="batch", **kwargs):
        super().__init__(**kwargs)
        self.trunk = DCGANDiscriminator(image_shape, width, kernel_size, normalization=normalization, name="trunk")
        self.embedding = keras.layers.Embedding(num_classes, self.trunk.feature_dim)

    def call(self, inputs, training=False, seed=None):
        images, labels = inputs
        features = self.trunk.features(images, training=training, seed=seed)
        projection = tf.reduce_sum(self.embedding(labels) * features, axis=-1, keepdims=True)
        return self.trunk.out(features) + projection


class ConditionalGAN(GAN):
    """A GAN whose networks take (input, label); fake labels are drawn uniformly per step."""

    def __init__(self, generator, discriminator, latent_dim, image_shape, num_classes, **kwargs):
        super().__init__(generator, discriminator, latent_dim, image_shape, **kwargs)
        self.num_classes = int(num_classes)

    def build_for_training(self):
        labels = tf.zeros([1], tf.int64)
        self.discriminator((self.generator((tf.zeros([1, self.latent_dim]), labels)), labels))
        self.build_ema((tf.zeros([1, self.latent_dim]), labels))
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # The hooks of the shared update (zoo.models.gan.GAN.train_step): samples carry their labels.

    def real(self, batch):
        return {"images": batch[IMAGE], "label": batch[LABEL]}

    def fake(self, batch, seed):
        """Generated images of uniformly drawn classes, with those labels."""
        batch_size = tf.shape(batch[IMAGE])[0]
        z_seed, label_seed = tf.unstack(base.split_seed(seed, 2))
        z = base.replica_normal([batch_size, self.latent_dim], z_seed)
        labels = base.replica_uniform([batch_size], label_seed, minval=0, maxval=self.num_classes, dtype=tf.int64)
        return {"images": self.generator((z, labels), training=True), "label": labels}

    def discriminate(self, sample, augment_seed, seed):
        images = self.augment(sample["images"], augment_seed)
        return {"logits": self.discriminator((images, sample["label"]), training=True, seed=seed)}

    def _check_labels(self, labels, batch_like):
        message = f"label: every label must be between 0 and {self.num_classes - 1}"
        return [
            base.check_serving_batch(labels, "label"),
            tf.debugging.assert_equal(tf.shape(labels)[0], tf.shape(batch_like)[0],
                                      message="label: needs one label per seed (or per row of z)"),
            tf.debugging.assert_non_negative(labels, message=message),
            tf.debugging.assert_less(labels, tf.constant(self.num_classes, tf.int64), message=message),
        ]

    def serving_signatures(self):
        """`serving_default(seed, label)` and `from_latent(z, label)` -> uint8 `images`."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed"),
                                      tf.TensorSpec([None], tf.int64, name="label")])
        def serving_default(seed, label):
            seed, label = base.checked([base.check_serving_batch(seed, "seed"), *self._check_labels(label, seed)],
                                       seed, label)
            z = base.latents_from_seeds(seed, self.latent_dim)
            return {"images": base.to_uint8(self.sampling_generator((z, label), training=False))}

        @tf.function(input_signature=[tf.TensorSpec([None, self.latent_dim], tf.float32, name="z"),
                                      tf.TensorSpec([None], tf.int64, name="label")])
        def from_latent(z, label):
            z, label = base.checked([base.check_serving_batch(z, "z"), *self._check_labels(label, z)], z, label)
            return {"images": base.to_uint8(self.sampling_generator((z, label), training=False))}

        return base.answering_empty_batches({"serving_default": serving_default, "from_latent": from_latent})

    def interface(self):
        """The GAN's signatures with a class label beside the seed and the latent."""
        label = Input("label", "class_label", "int64", num_values=self.num_classes, feature=LABEL)
        seed, latent = Input("seed", "seed", "int64"), Input("z", "latent", "float32", (self.latent_dim,))
        return Interface(
            [Signature("serving_default", [seed, label], {"images": "images"}),
             Signature("from_latent", [latent, label], {"images": "images"})],
            evaluations=[Evaluation("samples", "serving_default", reference=IMAGE)],
            preview="samples")

    def export_info(self):
        return {**super().export_info(), "num_classes": self.num_classes}


@register("cgan")
def cgan(config, spec):
    """Class-conditional DCGAN, projection discriminator, non-saturating loss."""
    image_shape, num_classes = base.image_data(spec, "cgan")
    if num_classes < 2:
        raise UserError(f"cgan needs labelled data with at least 2 classes; this dataset has {num_classes}")
    def make_generator(name):
        return ConditionalGenerator(image_shape, num_classes, config.embedding_dim, config.generator_width,
                                    config.kernel_size, name=name)

    discriminator = ProjectionDiscriminator(image_shape, num_classes, config.discriminator_width, config.kernel_size,
                                            normalization=config.get("discriminator_normalization", "batch"),
                                            name="discriminator")
    return make_gan("cgan", make_generator, discriminator, config, image_shape, model_class=ConditionalGAN,
                    num_classes=num_classes)
