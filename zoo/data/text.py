"""Text as bytes: the Debian fortune cookies ("fortunes") and any file ("text:/path/to/file.txt").

Models read raw bytes (a vocabulary of 256), so any encoding works and nothing is out of
vocabulary; UTF-8 characters outside ASCII are several tokens.

Held-out split, fixed by the data alone:
- `fortunes` reads every fortune file directly in /usr/share/games/fortunes (Debian's `fortunes`
  and `fortunes-min`; the .dat/.u8 index files and subfolders such as off/ are skipped), or in
  `data_dir`. Files are taken in sorted name order and cut into fortunes at their `%` lines; every
  10th fortune (index 9, 19, 29, ... in that order) is `test`, the rest `train`. Interleaving
  instead of taking the last files keeps both splits over the same topics (the files are topics).
  Each fortune keeps its `%` line as its end (the file format itself), so a model learns where a
  fortune ends and generated text shows it.
- `text:/path` is split by position: the last 10% of the file's bytes are `test`, the first 90%
  `train` (as enwik8 and text8 are), because an arbitrary file has no document boundary to trust.

The `validation` split is held out of `train` (what selection reads; `test` is for reported
numbers), `validation_size` of its units, default a tenth (rounded, at least 1 while one stays in
train): for fortunes, that many of the training fortunes picked by a seeded hash of their
positions (`base.held_out_mask`, spread over the topics), in order; for a text file, the last
that many bytes of the training part (file: train | validation | test). validation_size=0 holds
nothing out: `train` is all of the training part and `validation` is refused.

A text `Source` yields every window of sequence_length + 1 consecutive bytes of its split (one
element per start offset), as {"tokens": int32[sequence_length + 1]}: a model reads the first
sequence_length bytes and predicts the last sequence_length. Its spec is `DataSpec(TEXT, sequence_length, vocabulary_size=256)`.
"""

import os
import re

import numpy as np
import tensorflow as tf

from zoo.data import base
from zoo.errors import UserError

FORTUNES = "fortunes"
FORTUNES_LICENSE = ("BSD (the fortune files of BSD fortune(6) and fortune-mod, as Debian's fortunes package "
                    "ships them; /usr/share/doc/fortunes/copyright)")
PREFIX = "text:"
FORTUNES_DIR = "/usr/share/games/fortunes"
VOCABULARY_SIZE = 256
DEFAULT_SEQUENCE_LENGTH = 128
TEST_EVERY = 10  # fortunes: every 10th fortune is test.
TEST_FRACTION_DENOMINATOR = 10  # text files: the last tenth of the bytes is test.
SPLITS = (base.TRAIN, base.VALIDATION, base.TEST)
FORTUNE_END = b"%\n"
_SEPARATOR = re.compile(rb"^%[ \t\r]*(?:\n|$)", re.MULTILINE)
_INDEX_SUFFIXES = (".dat", ".u8")


def is_text_dataset(name):
    """Whether `name` is read by this module: "fortunes" or "text:<path>"."""
    return name == FORTUNES or name.startswith(PREFIX)


def load(name, split="train", sequence_length=None, data_dir=None, validation_size=None):
    """Returns the `Source` of windows of `split`; see the module docstring for the splits.

    Args:
      name: "fortunes" or "text:/path/to/file.txt".
      split: "train", "validation" or "test", optionally sliced by bytes like "train[:10%]".
      sequence_length: bytes a model reads per window (default 128); windows hold one more.
      data_dir: for fortunes, the folder of fortune files (default /usr/share/games/fortunes).
      validation_size: fortunes (or bytes of a text file) held out of train as validation.
    """
    sequence_length = _check_sequence_length(sequence_length, name)
    data, origin = load_bytes(name, split, data_dir, validation_size)
    window = sequence_length + 1
    if len(data) < window:
        raise UserError(
            f"{name} {split} has {len(data)} bytes, fewer than sequence_length + 1 = {window}: "
            f"use a longer text or a smaller sequence_length"
        )
    tokens = tf.constant(np.frombuffer(data, np.uint8))
    offsets = tf.range(window, dtype=tf.int64)

    def element_at(index):
        # A scalar index gives one window, a vector of indices a batch of them (one gather).
        positions = tf.expand_dims(tf.convert_to_tensor(index, tf.int64), -1) + offsets
        return {"tokens": tf.cast(tf.gather(tokens, positions), tf.int32)}

    num_windows = len(data) - sequence_length
    dataset = tf.data.Dataset.range(num_windows).map(
        element_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return base.Source(
        name=name,
        split=split,
        dataset=dataset,
        num_examples=num_windows,
        spec=base.DataSpec(base.TEXT, sequence_length=sequence_length, vocabulary_size=VOCABULARY_SIZE),
        description=f"{name} {split}: {len(data)} bytes ({num_windows} windows of {window}) from {origin}",
        element_at=element_at,
        element_at_takes_batches=True,
    )


def load_bytes(name, split="train", data_dir=None, validation_size=None):
    """The bytes of `split` of a text dataset and one line saying where they came from.

    What a likelihood evaluation scores: the whole held-out text, not its windows.
    """
    base_split, slicer = base.parse_split(split, SPLITS, name)
    validation_size = base.check_validation_size(validation_size, name)
    if name == FORTUNES:
        data, origin = _fortunes_split(base_split, data_dir, split, validation_size)
    elif name.startswith(PREFIX):
        data, origin = _file_split(name[len(PREFIX):], base_split, split, validation_size)
    else:
        raise UserError(f"unknown text dataset {name!r}: allowed are {FORTUNES!r} or '{PREFIX}/path/to/file.txt'")
    data = data[slicer(len(data))]
    if not data:
        raise UserError(f"split {split!r} of {name} selects none of its bytes")
    return data, origin


def documents(name, split="test", data_dir=None, validation_size=None, piece_length=DEFAULT_SEQUENCE_LENGTH):
    """The units of `split` a text-generation evaluation draws prompts from, and where they came
    from: for fortunes, the split's fortunes in order (each ending with its `%` line); for a text
    file, which has no document boundary to trust, consecutive pieces of `piece_length` bytes of
    the split (the last, shorter one dropped)."""
    data, origin = load_bytes(name, split, data_dir, validation_size)
    if name == FORTUNES:
        return split_fortunes(data), origin
    if isinstance(piece_length, bool) or not isinstance(piece_length, (int, np.integer)) or piece_length < 1:
        raise UserError(f"piece_length={piece_length!r} for {name}: must be a positive integer")
    return [data[start:start + piece_length] for start in range(0, len(data) - piece_length + 1, piece_length)], origin


def split_fortunes(data):
    """The fortunes of one fortune file's bytes, each ending with its `%` line; empty ones dropped."""
    fortunes = []
    for text in _SEPARATOR.split(data):
        if text.strip():
            fortunes.append(text + (b"" if text.endswith(b"\n") else b"\n") + FORTUNE_END)
    return fortunes


def fortune_files(directory):
    """Sorted paths of the fortune files directly in `directory` (no index files, no subfolders)."""
    if not os.path.isdir(directory):
        return []
    paths = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry.startswith(".") or entry.endswith(_INDEX_SUFFIXES) or not os.path.isfile(path):
            continue
        paths.append(path)
    return paths


def _fortunes_split(base_split, data_dir, split, validation_size):
    directory = data_dir or FORTUNES_DIR
    paths = fortune_files(directory)
    if not paths:
        if data_dir is None:
            raise UserError(
                f"no fortune files in {FORTUNES_DIR}: run `apt-get install fortunes` or use "
                f"--dataset={PREFIX}/path/to/file.txt"
            )
        raise UserError(f"data_dir {data_dir!r} has no fortune files (text files of fortunes separated by % lines)")
    fortunes = []
    for path in paths:
        with open(path, "rb") as f:
            fortunes.extend(split_fortunes(f.read()))
    if len(fortunes) < TEST_EVERY:
        raise UserError(
            f"{directory} holds {len(fortunes)} fortunes: at least {TEST_EVERY} are needed for a "
            f"test split (every {TEST_EVERY}th fortune)"
        )
    is_test = (np.arange(len(fortunes)) % TEST_EVERY) == TEST_EVERY - 1
    where = f"{len(paths)} files in {directory}"
    if base_split == base.TEST:
        chosen = [fortune for fortune, test in zip(fortunes, is_test) if test]
        return b"".join(chosen), f"{len(chosen)} of {len(fortunes)} fortunes in {where}"
    training = [fortune for fortune, test in zip(fortunes, is_test) if not test]
    total = len(training)
    count = base.validation_count(total, validation_size, FORTUNES, "fortunes")
    chosen = base.training_part(base_split, split, total, count, FORTUNES, validation_size, seeded=True,
                                unit="fortunes")
    note = base.holdout_note(base_split, total, count, "fortunes", "seeded")
    origin = f"{len(chosen)} of {len(fortunes)} fortunes ({note}; every {TEST_EVERY}th is test) in {where}"
    return b"".join(training[i] for i in chosen), origin


def _file_split(path, base_split, split, validation_size):
    if not path:
        raise UserError(f"dataset {PREFIX!r} needs a file: --dataset={PREFIX}/path/to/file.txt")
    full = os.path.expanduser(path)
    if not os.path.isfile(full):
        raise UserError(f"text file {path!r} does not exist or is not a file")
    with open(full, "rb") as f:
        data = f.read()
    if not data:
        raise UserError(f"text file {path!r} is empty")
    cut = len(data) - len(data) // TEST_FRACTION_DENOMINATOR
    if base_split == base.TEST:
        return data[cut:], f"the last 10% of {full} ({len(data)} bytes)"
    what = PREFIX + path
    count = base.validation_count(cut, validation_size, what, "bytes")
    if base_split == base.VALIDATION and count == 0:
        base.refuse_empty_validation(split, what, cut, validation_size, "bytes")
    part = data[cut - count:cut] if base_split == base.VALIDATION else data[:cut - count]
    note = base.holdout_note(base_split, cut, count, "bytes")
    return part, f"the first 90% of {full} ({len(data)} bytes; test is the last 10%): {note}"


def _check_sequence_length(sequence_length, name):
    if sequence_length is None:
        return DEFAULT_SEQUENCE_LENGTH
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, (int, np.integer)) or sequence_length < 1:
        raise UserError(f"sequence_length={sequence_length!r} for {name}: must be a positive integer")
    return int(sequence_length)
