"""pix2pix (Isola et al. 2017, *Image-to-Image Translation with Conditional Adversarial Networks*).

A U-Net generator translates an input image into an output image; a PatchGAN discriminator
scores (input, output) pairs patch by patch; the generator minimizes the adversarial loss plus
`l1_weight` times the L1 distance to the target. The update is the shared one of `zoo.models.gan`:
`Pix2Pix` overrides only its hooks (what is generated from a batch, what the discriminator sees).

Noise comes from dropout (0.5) in the innermost up blocks, driven by the step's stateless seed, so a
resumed run draws the same masks. Serving runs the generator in inference mode (no dropout, batch
norm with its moving statistics): a translation is deterministic and does not depend on the batch
it arrives in (the paper instead kept dropout and batch statistics at test time).

Serving: `serving_default(images: uint8[N, H, W, C_in]) -> {"images": uint8[N, H, W, C_out]}`; a
wrong shape or too large a batch fails in-graph with InvalidArgument naming `images`.
"""

import math

import keras
import tensorflow as tf

from zoo.contract import Evaluation, Input, Interface, Signature
from zoo.data.base import INPUT, PAIRED_IMAGES, TARGET
from zoo.errors import UserError
from zoo.layers import SyncBatchNormalization
from zoo.models import base
from zoo.models.dcgan import normalization_layer
from zoo.models.gan import GAN, make_gan
from zoo.registry import register

MAX_DEPTH = 8  # The paper's 256x256 U-Net halves 8 times, down to a 1x1 bottleneck.


def unet_depth(height, width):
    """How many times the U-Net halves: until the shorter side, padded up to a power of two, is
    1 pixel (28 -> 32 -> 5 halvings), at most MAX_DEPTH (256 -> 8, as in the paper)."""
    side = min(height, width)
    if side < 4:
        raise UserError(f"pix2pix needs images of at least 4x4 pixels, got {height}x{width}")
    return min(MAX_DEPTH, math.ceil(math.log2(side)))


def patch_strides(height, width):
    """Stride-2 layers of the PatchGAN: 3 at 256 pixels (the paper's 70x70 receptive field), one
    fewer per halving of the image, at least 1 (a 16x16 receptive field at 28 or 64 pixels)."""
    return max(1, min(3, round(math.log2(min(height, width) / 32))))


def padding(size, multiple):
    """(before, after): the padding that centres `size` pixels in the next multiple of `multiple`."""
    total = -size % multiple
    return total // 2, total - total // 2


def reflection_indices(size, multiple):
    """Indices that reflection-pad an axis of `size` to a multiple of `multiple` (the edge pixel is
    not repeated, as in tf.pad's REFLECT mode); a gather with them also pads an empty batch."""
    before, after = padding(size, multiple)
    return [abs(i) if i < size else 2 * (size - 1) - i for i in range(-before, size + after)]


class UNetGenerator(keras.Model):
    """Input image -> `depth` Conv(4, stride 2)-norm-LeakyReLU(0.2) blocks -> `depth - 1`
    ConvTranspose(4, stride 2)-norm-dropout-ReLU blocks, each concatenated with the encoder block
    of its size -> ConvTranspose -> tanh output image.

    Widths are width * min(2**level, 8). As in the paper, the first encoder block has no
    normalization; as in its code, neither has the innermost (a 1x1 map, whose batch statistics at
    batch size 1 would zero it). Dropout acts in the innermost `dropout_blocks` up blocks. The
    input is reflection-padded to a multiple of 2**depth and the output cropped back, so any image
    of at least 4x4 pixels fits.
    """

    def __init__(self, input_shape, output_channels, width=64, dropout=0.5, dropout_blocks=3, **kwargs):
        super().__init__(**kwargs)
        self.image_size = tuple(input_shape[:2])
        self.depth = unet_depth(*self.image_size)
        widths = [width * min(2**level, 8) for level in range(self.depth)]
        self.down_convs = [keras.layers.Conv2D(channels, 4, strides=2, padding="same") for channels in widths]
        # Plain lists of layers (no None): checkpoints track only those; Identity where no norm.
        self.down_norms = [keras.layers.Identity() if level in (0, self.depth - 1) else
                           SyncBatchNormalization(momentum=0.9) for level in range(self.depth)]
        up_widths = widths[-2::-1]  # Innermost first; each block returns to the size of an encoder block.
        self.up_convs = [keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same") for channels in up_widths]
        self.up_norms = [SyncBatchNormalization(momentum=0.9) for _ in up_widths]
        self.dropout_rate = float(dropout)
        self.dropout_blocks = min(int(dropout_blocks), len(up_widths))
        self.out = keras.layers.Conv2DTranspose(output_channels, 4, strides=2, padding="same", activation="tanh")

    def call(self, images, training=False, seed=None):
        x = images
        for axis, size in ((1, self.image_size[0]), (2, self.image_size[1])):
            x = tf.gather(x, reflection_indices(size, 2**self.depth), axis=axis)
        skips = []
        for conv, norm in zip(self.down_convs, self.down_norms):
            x = keras.ops.leaky_relu(norm(conv(x), training=training), 0.2)
            skips.append(x)
        for index, (conv, norm, skip) in enumerate(zip(self.up_convs, self.up_norms, skips[-2::-1])):
            x = norm(conv(x), training=training)
            if index < self.dropout_blocks:
                block_seed = None if seed is None else base.fold_seed(seed, index)
                x = base.dropout(x, self.dropout_rate, block_seed, training)
            x = tf.concat([keras.ops.relu(x), skip], axis=-1)
        (top, _), (left, _) = (padding(size, 2**self.depth) for size in self.image_size)
        return self.out(x)[:, top:top + self.image_size[0], left:left + self.image_size[1], :]


class PatchDiscriminator(keras.Model):
    """(input, image) concatenated on channels -> `strides` Conv(4, stride 2) blocks, one
    Conv(4, stride 1) block (LeakyReLU 0.2, batch norm after the first block: `normalization`
    "layer" or "none" for a penalized discriminator) -> Conv(4, stride 1) to one logit per patch:
    a map of [N, H / 2**strides, W / 2**strides, 1] logits."""

    def __init__(self, image_shape, width=64, normalization="batch", **kwargs):
        super().__init__(**kwargs)
        strides = patch_strides(*image_shape[:2])
        self.convs = [keras.layers.Conv2D(width * min(2**level, 8), 4, strides=2 if level < strides else 1,
                                          padding="same") for level in range(strides + 1)]
        make_norm = normalization_layer(normalization)
        self.norms = [keras.layers.Identity()] + [make_norm() for _ in range(strides)]
        self.out = keras.layers.Conv2D(1, 4, padding="same")

    def call(self, pairs, training=False, seed=None):
        del seed  # No dropout in the PatchGAN.
        x = pairs
        for conv, norm in zip(self.convs, self.norms):
            x = keras.ops.leaky_relu(norm(conv(x), training=training), 0.2)
        return self.out(x)


class Pix2Pix(GAN):
    """A conditional GAN from input images to target images, with an L1 term (Isola et al. 2017)."""

    def __init__(self, generator, discriminator, latent_dim, image_shape, input_image_shape, l1_weight=100.0,
                 adversarial_weight=1.0, **kwargs):
        super().__init__(generator, discriminator, latent_dim, image_shape, **kwargs)
        self.input_image_shape = tuple(input_image_shape)  # Keras models own `input_shape`.
        if l1_weight < 0 or adversarial_weight < 0 or not (l1_weight or adversarial_weight):
            raise UserError(f"pix2pix needs l1_weight >= 0 and adversarial_weight >= 0, not both 0; "
                            f"got {l1_weight} and {adversarial_weight}")
        self.l1_weight = float(l1_weight)
        self.adversarial_weight = float(adversarial_weight)

    def build_for_training(self):
        inputs = tf.zeros([1, *self.input_image_shape])
        self.discriminator(tf.concat([inputs, self.generator(inputs)], axis=-1))
        self.build_ema(inputs)
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def call(self, images, training=False):
        return self.generator(images, training=training)

    # ---- the hooks of GAN.train_step -----------------------------------------------------------

    def real(self, batch):
        """A real pair: the target image with its input."""
        return {"images": batch[TARGET], "input": batch[INPUT]}

    def fake(self, batch, seed):
        """The translation of the batch's inputs, with dropout masks drawn from `seed`."""
        return {"images": self.generator(batch[INPUT], training=True, seed=seed), "input": batch[INPUT]}

    def discriminate(self, sample, augment_seed, seed):
        """PatchGAN logits of (input, images) pairs; DiffAugment moves both images of a pair alike
        (the same draws, applied to each)."""
        condition = self.augment(sample["input"], augment_seed)
        pairs = tf.concat([condition, self.augment(sample["images"], augment_seed)], axis=-1)
        return {"logits": self.discriminator(pairs, training=True, seed=seed)}

    def extra_generator_losses(self, batch, fake, fake_outputs):
        if not self.l1_weight:
            return {}
        return {"l1": self.l1_weight * tf.reduce_mean(tf.abs(batch[TARGET] - fake["images"]))}

    # ---- serving -------------------------------------------------------------------------------

    def _image_checks(self, images):
        """In-graph checks of a serving input (uint8 [None, None, None, None]): its batch bound and
        its per-row shape, which must be the data's input shape."""
        height, width, channels = self.input_image_shape
        return [base.check_serving_batch(images, "images"),
                tf.debugging.assert_equal(tf.shape(images)[1:], tf.constant([height, width, channels]),
                                          message=f"images: must be uint8 [N, {height}, {width}, {channels}]")]

    def serving_signatures(self):
        """`serving_default(images)`: uint8 inputs -> uint8 translations."""

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8, name="images")])
        def serving_default(images):
            images = tf.ensure_shape(base.checked(self._image_checks(images), images), [None, *self.input_image_shape])
            inputs = tf.cast(images, tf.float32) / 127.5 - 1.0
            return {"images": base.to_uint8(self.sampling_generator(inputs, training=False))}

        return base.answering_empty_batches({"serving_default": serving_default})

    def interface(self):
        """One signature, from input images to output images, evaluated (and previewed) against
        the data's targets."""
        images = Input("images", "image", "uint8", self.input_image_shape, feature=INPUT)
        return Interface([Signature("serving_default", [images], {"images": "images"})],
                         evaluations=[Evaluation("translation", "serving_default", reference=TARGET)],
                         preview="translation")

    def export_info(self):
        return {"image_shape": list(self.image_shape), "input_shape": list(self.input_image_shape),
                "generator_weights": f"ema (decay {self.ema_decay})" if self.ema_decay else "raw"}


@register("pix2pix")
def pix2pix(config, spec):
    """pix2pix with the paper's defaults: L1 weight 100, Adam(2e-4, beta_1 0.5) for both networks."""
    spec.require(PAIRED_IMAGES, "pix2pix")
    image_shape, input_shape = spec.image_shape, spec.input_shape
    if image_shape[:2] != input_shape[:2]:
        raise UserError(f"pix2pix needs inputs and targets of one size, got {input_shape[:2]} and {image_shape[:2]}")

    def make_generator(name):
        return UNetGenerator(input_shape, image_shape[2], config.generator_width, config.dropout, name=name)

    discriminator = PatchDiscriminator(image_shape, config.discriminator_width,
                                       config.get("discriminator_normalization", "batch"), name="discriminator")
    return make_gan("pix2pix", make_generator, discriminator, config, image_shape, model_class=Pix2Pix,
                    input_image_shape=input_shape,
                    l1_weight=config.get("l1_weight", 100.0), adversarial_weight=config.get("adversarial_weight", 1.0))
