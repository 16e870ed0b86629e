"""Trains a feature network for zoo.metrics (FID, KID, precision/recall) on labelled images.

By default it trains the shipped Fashion-MNIST network on the training file only (all 60,000
images, validation_size=0: it was trained before the validation hold-out and is a measuring
instrument, not a model being selected), fully offline, deterministically for a seed, in about 5
minutes on 2 CPU cores; it prints the test accuracy and writes the model:

    python tools/train_feature_network.py [--epochs=10] [--batch_size=128] [--seed=0] \
        [--output=zoo/metrics/fashion_mnist_features.keras] [--data_dir=DIR]

Any labelled image dataset works the same way (square images of at least 16x16, 1 or 3
channels; a folder's subfolders are its classes); pass the result to --feature_model:

    python tools/train_feature_network.py --dataset=folder:/data/faces_by_person \
        --output=faces_features.keras [--image_size=64]

The network (see zoo/metrics/FEATURE_NETWORK.md) takes uint8-valued float pixels [N, H, W, C]
in [0, 255] and returns class logits; its layer "features" (128-d, after ReLU) is the feature
space of the metrics. Accuracy is measured on the dataset's test split, or when it has none on
10% of each class held out of training. Other datasets train on their "train" split, which leaves
out their held-out validation split (zoo.data), as the networks evaluation trains itself do. Only
built-in Keras layers are used, so the file loads without this repo.
"""

import argparse
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import zoo.data  # noqa: E402  (after the path setup above)
from zoo.errors import UserError  # noqa: E402
from zoo.metrics import feature_training  # noqa: E402
from zoo.metrics import features as features_lib  # noqa: E402

SHIPPED_DATASET = "fashion_mnist"
FULL_TRAIN_SIZE = 60000
# The shipped network's recipe; other datasets default to the recipe evaluation trains with
# (batches of 16, at least 300 steps: small folders would otherwise get a few dozen steps).
SHIPPED_RECIPE = {"epochs": 10, "batch_size": 128, "learning_rate": 2e-3, "min_steps": 0}
OTHER_RECIPE = {name: feature_training.AUTO_RECIPE[name] for name in SHIPPED_RECIPE}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=SHIPPED_DATASET,
                        help="labelled images, e.g. folder:/path (its subfolders are the classes)")
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--channels", type=int, default=None)
    for flag, kind in (("epochs", int), ("batch_size", int), ("learning_rate", float),
                       ("min_steps", int)):
        parser.add_argument(f"--{flag}", type=kind, default=None,
                            help=f"default {SHIPPED_RECIPE[flag]} for {SHIPPED_DATASET}, "
                                 f"else {OTHER_RECIPE[flag]}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_dir", default=None, help="where the dataset's files are")
    parser.add_argument("--output", default=None,
                        help=f"default for {SHIPPED_DATASET}: {features_lib.SHIPPED_MODEL_PATH}")
    args = parser.parse_args()
    try:
        train(args)
    except UserError as error:
        sys.exit(f"error: {error}")


def train(args):
    shipped = (args.dataset == SHIPPED_DATASET and args.image_size in (None, 28)
               and args.channels in (None, 1))
    if args.output is None and not shipped:
        raise UserError(f"--output is needed for --dataset={args.dataset} (only the 28x28x1 "
                        f"{SHIPPED_DATASET} network has a default: the shipped file)")
    output = args.output or features_lib.SHIPPED_MODEL_PATH
    recipe = {name: default if getattr(args, name) is None else getattr(args, name)
              for name, default in (SHIPPED_RECIPE if shipped else OTHER_RECIPE).items()}
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    size = {"image_size": args.image_size, "channels": args.channels}
    source = zoo.data.load(args.dataset, "train", args.data_dir, **size,
                           **({"validation_size": 0} if shipped else {}))
    if shipped and source.num_examples != FULL_TRAIN_SIZE:
        raise UserError(f"found {source.num_examples} training images, not {FULL_TRAIN_SIZE}: "
                        "install dataset-fashion-mnist or pass --data_dir")
    try:
        test_source = zoo.data.load(args.dataset, "test", args.data_dir, **size)
    except UserError:  # No test split (e.g. folders): hold out 10% of each class instead.
        test_source = None
    stem = os.path.basename(args.dataset.rstrip("/")).removeprefix("folder:")
    name = re.sub(r"\W+", "_", stem or "dataset") + "_features"  # fashion_mnist_features.
    result = feature_training.train_feature_network(
        source, output, **recipe, seed=args.seed, test_source=test_source, name=name, verbose=1)
    print(f"{result.accuracy_on} accuracy {result.accuracy:.4f} ({result.num_evaluated:,} images); "
          f"trained in {result.seconds:.0f} s on {result.num_train:,} images; wrote {output} "
          f"({os.path.getsize(output):,} bytes)")


if __name__ == "__main__":
    main()
