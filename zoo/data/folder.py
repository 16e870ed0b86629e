"""Images from a folder: "folder:/path/to/images".

Files ending in .png, .jpg, .jpeg, .bmp or .gif are found recursively (hidden files and folders
are skipped). When the images sit in subfolders and none directly in the folder, the sorted
subfolder names are the classes, like `keras.utils.image_dataset_from_directory`; otherwise
every label is 0 and num_classes is 0. A `classes.txt` in the folder (one class name per line, in
id order) fixes the ids instead: subfolder <name> is class <its line>, so a folder holding only
some classes of a model's (zoo-play's kept samples) keeps that model's label ids. Images are decoded lazily inside the tf.data graph, so a
large folder is never held in memory; only the file headers are read up front (with Pillow), to
check sizes and catch unreadable files before training starts.

Splits: "validation" is held out of the folder's images: `validation_size` of them (default a
tenth, rounded, at least 1 while one stays in train) picked by a seeded hash of their positions
in sorted path order (`base.held_out_mask`: spread over the classes, the same in every process),
and "train" is the rest. validation_size=0 holds nothing out ("train" is every image). A folder of
one image trains on it and has no validation split. Both are sliceable like "train[:100]".
"""

import os

import tensorflow as tf

from zoo.data import base
from zoo.errors import UserError

PREFIX = "folder:"
CLASSES_FILE = "classes.txt"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load(directory, split="train", image_size=None, channels=None, validation_size=None):
    """Returns a `Source` over the images in `directory`; see the module docstring."""
    what = PREFIX + directory
    base_split, slicer = base.parse_split(
        split, (base.TRAIN, base.VALIDATION),
        f"{what} (folders have only 'train' and 'validation', held out of it)")
    image_size = base.check_image_size(image_size, what)
    channels = base.check_channels(channels, what)
    validation_size = base.check_validation_size(validation_size, what)
    root = os.path.expanduser(directory)
    if not os.path.isdir(root):
        raise UserError(f"image folder {directory!r} does not exist or is not a directory")
    paths, labels, class_names = _index(root)
    if not paths:
        raise UserError(
            f"image folder {directory!r} has no images: looked recursively for "
            f"{', '.join(IMAGE_EXTENSIONS)} files"
        )
    sizes = [_image_size(path) for path in paths]
    if image_size is None:
        image_size = _common_square_size(paths, sizes, directory)
    if channels is None:  # The first image of the folder, so train and validation agree.
        channels = _channels_of(paths[0])
    total = len(paths)
    count = base.validation_count(total, validation_size, what)
    chosen = base.training_part(base_split, split, total, count, what, validation_size, seeded=True)
    chosen = chosen[slicer(len(chosen))]
    if len(chosen) == 0:
        raise UserError(f"split {split!r} of {what} selects none of its images")
    paths, labels = [paths[i] for i in chosen], [labels[i] for i in chosen]

    path_tensor = tf.constant(paths)
    label_tensor = tf.constant(labels, tf.int64)

    def element_at(index):
        contents = tf.io.read_file(tf.gather(path_tensor, index))
        image = tf.io.decode_image(contents, channels=0, dtype=tf.uint8, expand_animations=False)
        image = base.convert_channels(image, channels)
        image = base.resize_square(image, image_size)
        image = tf.ensure_shape(image, [image_size, image_size, channels])
        return {"image": image, "label": tf.gather(label_tensor, index)}

    dataset = tf.data.Dataset.range(len(paths)).map(
        element_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    kind = f"{len(class_names)} classes" if class_names else "unlabelled"
    return base.Source(
        name=what,
        split=split,
        dataset=dataset,
        num_examples=len(paths),
        spec=base.DataSpec(base.IMAGES, image_shape=(image_size, image_size, channels), num_classes=len(class_names)),
        description=(f"{what} {split}: {len(paths)} images ({kind}; "
                     f"{base.holdout_note(base_split, total, count, how='seeded')}) from {root}"),
        element_at=element_at,
    )


def _is_image(name):
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _images_under(directory):
    """Sorted paths of the image files under `directory`, recursively."""
    found = []
    for parent, subdirs, files in os.walk(directory):
        subdirs[:] = [name for name in subdirs if not name.startswith(".")]
        found.extend(os.path.join(parent, name) for name in files if _is_image(name))
    return sorted(found)


def _index(root):
    """Returns (paths, labels, class names); class names are empty when the data is unlabelled."""
    entries = sorted(os.listdir(root))
    top_level_images = [name for name in entries if _is_image(name)
                        and os.path.isfile(os.path.join(root, name))]
    if not top_level_images:
        classes = []
        for name in entries:
            path = os.path.join(root, name)
            if not name.startswith(".") and os.path.isdir(path):
                images = _images_under(path)
                if images:
                    classes.append((name, images))
        declared = _declared_classes(root)
        if classes and declared:
            unknown = sorted(name for name, _ in classes if name not in declared)
            if unknown:
                raise UserError(f"image folder {root!r}: subfolders {unknown} are not classes of its {CLASSES_FILE} "
                                f"({', '.join(declared)})")
            paths = [path for _, images in classes for path in images]
            labels = [declared.index(name) for name, images in classes for _ in images]
            return paths, labels, declared
        if classes:
            paths = [path for _, images in classes for path in images]
            labels = [label for label, (_, images) in enumerate(classes) for _ in images]
            return paths, labels, [name for name, _ in classes]
    paths = _images_under(root)
    return paths, [0] * len(paths), []


def _declared_classes(root):
    """The class names of `root`'s classes.txt in id order, or [] without one."""
    path = os.path.join(root, CLASSES_FILE)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(set(names)) != len(names):
        raise UserError(f"{path} names a class twice")
    return names


def class_names(directory):
    """The class names a folder dataset would have (in id order), or () when unlabelled or absent."""
    root = os.path.expanduser(directory)
    if not os.path.isdir(root):
        return ()
    try:
        return tuple(_index(root)[2])
    except (UserError, OSError):
        return ()


def _image_size(path):
    """Returns (width, height) from the file header, or raises UserError naming the file."""
    from PIL import Image  # Imported here: only folder sources need Pillow.

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError) as error:
        raise UserError(f"cannot read image {path}: {error}") from None


def _common_square_size(paths, sizes, directory):
    """The side of the images when they are all the same square size, else UserError."""
    first = sizes[0]
    for path, size in zip(paths, sizes):
        if size != first:
            raise UserError(
                f"images in {directory!r} differ in size ({paths[0]} is {first[0]}x{first[1]}, "
                f"{path} is {size[0]}x{size[1]}): pass image_size to crop and resize them"
            )
    if first[0] != first[1]:
        raise UserError(
            f"images in {directory!r} are {first[0]}x{first[1]}, not square: pass image_size "
            "to center-crop and resize them"
        )
    return int(first[0])


def _channels_of(path):
    """1 if the first image decodes to gray (with or without alpha), else 3."""
    try:
        image = tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False)
    except tf.errors.OpError as error:
        raise UserError(f"cannot decode image {path}: {error.message.splitlines()[0]}") from None
    return 1 if int(image.shape[-1]) in (1, 2) else 3

