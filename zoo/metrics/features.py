"""Feature networks for the image metrics: the shipped Fashion-MNIST network, a user's .keras
model, or InceptionV3 from a local weights file (standard FID).

    extractor = load_feature_extractor()              # the shipped Fashion-MNIST network
    extractor = load_feature_extractor("inception_v3.weights.h5")  # standard FID, 2048-d
    features = extractor.features(uint8_images)        # float32 [N, D]

Nothing is loaded at import time; nothing here touches the network.
"""

import hashlib
import os

import numpy as np
import tensorflow as tf

from zoo.errors import UserError

SHIPPED_MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "fashion_mnist_features.keras")
SHIPPED_NAME = "fashion_mnist"
SHIPPED_FEATURE_DIM = 128
FEATURES_LAYER = "features"  # The penultimate layer whose activations are the features.
LOGITS_LAYER = "logits"
INCEPTION_SIZE = 299
# Bump when the way images become network inputs changes: it is part of the reference cache key.
PREPROCESSING_VERSION = 1
DEFAULT_BATCH_SIZE = 256


class FeatureExtractor:
    """Maps uint8 images [N, H, W, C] to float32 features [N, D] with a Keras network.

    Attributes:
      name: what the network is, e.g. "fashion_mnist" or "inception_v3".
      path: the weights or model file it was loaded from.
      hash: the first 16 hex digits of the file's sha256: features from different files differ.
      input_shape: (H, W, C) of the images `features` takes; InceptionV3 takes any size with 1
        or 3 channels and resizes to 299x299x3, so its input_shape is (None, None, None).
      feature_dim: D.
      num_classes: the classifier's classes, or 0 when it has no classifier head.
      preprocessing_version: PREPROCESSING_VERSION, for cache keys.
    """

    def __init__(self, name, path, network, input_shape, feature_dim, num_classes, preprocess):
        self.name = name
        self.path = path
        self.hash = file_hash(path)
        self.input_shape = tuple(input_shape)
        self.feature_dim = int(feature_dim)
        self.num_classes = int(num_classes)
        self.preprocessing_version = PREPROCESSING_VERSION
        self._network = network  # uint8 -> preprocess -> (features, logits or None).
        self._preprocess = preprocess
        channels = self.input_shape[-1]
        spec = tf.TensorSpec([None, None, None, channels], tf.uint8)
        self._forward = tf.function(self._apply, input_signature=[spec], reduce_retracing=True)

    def __repr__(self):
        shape = ("any HxW, 1 or 3 channels" if self.input_shape[0] is None
                 else "x".join(str(size) for size in self.input_shape))
        return (f"FeatureExtractor({self.name}, input {shape}, {self.feature_dim}-d, "
                f"hash {self.hash})")

    def _apply(self, images):
        outputs = self._network(self._preprocess(images), training=False)
        features, logits = outputs if isinstance(outputs, (list, tuple)) else (outputs, None)
        features = tf.reshape(tf.cast(features, tf.float32), [tf.shape(features)[0], -1])
        if logits is None:
            return features, tf.zeros([tf.shape(features)[0], 0])
        return features, tf.nn.softmax(tf.cast(logits, tf.float32))

    def features(self, images, batch_size=DEFAULT_BATCH_SIZE):
        """Returns float32 features [N, D] of uint8 images.

        `images`: a uint8 array [N, H, W, C] (or [N, H, W] for one channel), a zoo.data Source, or a
        tf.data.Dataset of uint8 images or of {"image": ...} elements, batched or not.
        """
        return self._run(images, batch_size)[0]

    def classify(self, images, batch_size=DEFAULT_BATCH_SIZE):
        """Returns the classifier head's class probabilities float32 [N, num_classes].

        Only networks with a classifier head have one (the shipped network: the 10 Fashion-MNIST
        classes, in zoo.data.fashion_mnist.CLASS_NAMES order).
        """
        if self.num_classes == 0:
            raise UserError(f"feature network {self.name!r} ({self.path}) has no classifier head: "
                            f"only the shipped {SHIPPED_NAME!r} network and .keras models with a "
                            f"{LOGITS_LAYER!r} layer can classify")
        return self._run(images, batch_size)[1]

    def _run(self, images, batch_size):
        feature_batches, probability_batches = [], []
        for batch in self._batches(images, batch_size):
            self._check_shape(batch.shape[1:])
            features, probabilities = self._forward(batch)
            feature_batches.append(features.numpy())
            probability_batches.append(probabilities.numpy())
        if not feature_batches:
            raise UserError(f"no images given to feature network {self.name!r}")
        return np.concatenate(feature_batches), np.concatenate(probability_batches)

    def _batches(self, images, batch_size):
        """Yields uint8 tensors [B, H, W, C] from any of the inputs `features` takes."""
        if hasattr(images, "dataset") and hasattr(images, "num_examples"):  # A zoo.data Source.
            images = images.dataset
        if isinstance(images, tf.data.Dataset):
            dataset = images
            if isinstance(dataset.element_spec, dict):
                if "image" not in dataset.element_spec:
                    raise UserError(f"dataset elements have keys {sorted(dataset.element_spec)}: "
                                    "expected an 'image' key or plain uint8 images")
                dataset = dataset.map(lambda element: element["image"])
            spec = dataset.element_spec
            if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.uint8:
                raise UserError(f"dataset elements are {spec}: expected uint8 images")
            if spec.shape.rank == 3:
                dataset = dataset.batch(batch_size)
            elif spec.shape.rank != 4:
                raise UserError(f"dataset elements have shape {spec.shape}: expected uint8 images "
                                "[H, W, C] or batches [B, H, W, C]")
            for batch in dataset.prefetch(2):
                yield batch
            return
        array = np.asarray(images)
        if array.dtype != np.uint8 or array.ndim not in (3, 4):
            raise UserError(f"images must be a uint8 array [N, H, W, C] with values 0..255, got "
                            f"{array.dtype} with shape {array.shape}")
        if array.ndim == 3:
            array = array[..., np.newaxis]
        for start in range(0, len(array), batch_size):
            yield tf.constant(array[start:start + batch_size])

    def _check_shape(self, shape):
        shape = tuple(int(size) for size in shape)
        expected = self.input_shape
        if all(size is None for size in expected[:2]):  # Resizing networks take any size.
            allowed_channels = (1, 3)
            if shape[-1] in allowed_channels:
                return
        elif shape == expected:
            return
        wanted = "HxWx1 or HxWx3" if expected[0] is None else "x".join(map(str, expected))
        raise UserError(
            f"images are {'x'.join(map(str, shape))} but feature network {self.name!r} takes "
            f"{wanted}: pass a feature network made for these images "
            "(--feature_model: a .keras model or InceptionV3 .h5 weights)")


def file_hash(path):
    """The first 16 hex digits of the sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def load_feature_extractor(spec=None):
    """Returns a FeatureExtractor for `spec`.

    Args:
      spec: None or "fashion_mnist" for the shipped Fashion-MNIST network (28x28x1, 128-d);
        a path to a .keras model taking float pixels in [0, 255] (its "features" layer, or else
        its output, gives the features; a "logits" layer, if any, is its classifier); or a path
        to InceptionV3 weights (.h5 or .weights.h5, for
        keras.applications.InceptionV3(include_top=False, pooling="avg")): standard FID features,
        2048-d, images resized to 299x299x3 and scaled to [-1, 1]. An extractor is returned as is.
    """
    if isinstance(spec, FeatureExtractor):
        return spec
    if spec is None or spec == SHIPPED_NAME:
        return _load_keras(SHIPPED_MODEL_PATH, SHIPPED_NAME)
    if not isinstance(spec, (str, os.PathLike)):
        raise UserError(f"feature network {spec!r}: expected None, {SHIPPED_NAME!r}, or a path "
                        "to a .keras model or InceptionV3 .h5 weights")
    path = os.fspath(spec)
    if not path.endswith((".keras", ".h5")):
        raise UserError(f"feature network {path!r}: allowed are {SHIPPED_NAME!r}, a .keras model "
                        "file, or InceptionV3 weights (.h5 or .weights.h5)")
    if not os.path.isfile(path):
        raise UserError(f"feature network file {path!r} does not exist")
    if path.endswith(".keras"):
        return _load_keras(path, os.path.splitext(os.path.basename(path))[0])
    return _load_inception(path)


def _load_keras(path, name):
    import keras  # noqa: PLC0415  (keeps `import zoo.metrics` light)

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a bad or unsafe file.
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise UserError(f"cannot load feature network {path!r}: {type(error).__name__}: "
                        f"{first_line}") from None
    input_shape = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else ()
    if len(input_shape) != 3 or None in input_shape:
        raise UserError(f"feature network {path!r} must take one image input [N, H, W, C] of a "
                        f"fixed size, not {[tuple(tensor.shape) for tensor in model.inputs]}")
    layer_names = {layer.name for layer in model.layers}
    features = (model.get_layer(FEATURES_LAYER).output if FEATURES_LAYER in layer_names
                else model.outputs[0])
    outputs = [features]
    num_classes = 0
    if LOGITS_LAYER in layer_names:
        outputs.append(model.get_layer(LOGITS_LAYER).output)
        num_classes = int(outputs[-1].shape[-1])
    network = keras.Model(model.inputs, outputs)
    feature_dim = int(np.prod(features.shape[1:]))
    return FeatureExtractor(name, path, network, input_shape, feature_dim, num_classes,
                            preprocess=lambda images: tf.cast(images, tf.float32))


def _load_inception(path):
    import keras  # noqa: PLC0415

    try:
        network = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None,
                                                 input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
        network.load_weights(path)
    except Exception as error:  # h5py and Keras raise many types for a wrong file.
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise UserError(
            f"cannot load {path!r} as InceptionV3 weights (include_top=False, pooling='avg'): "
            f"{type(error).__name__}: {first_line}") from None

    def preprocess(images):
        images = tf.cond(tf.shape(images)[-1] == 1,
                         lambda: tf.repeat(images, 3, axis=-1), lambda: images)
        images = tf.ensure_shape(images, [None, None, None, 3])
        resized = tf.image.resize(tf.cast(images, tf.float32), [INCEPTION_SIZE, INCEPTION_SIZE],
                                  method="bilinear")
        return resized / 127.5 - 1.0  # keras.applications.inception_v3.preprocess_input.

    return FeatureExtractor("inception_v3", path, network, (None, None, None), 2048, 0,
                            preprocess)
