"""Text data: fortunes and text: files as byte windows, their held-out splits, the training stream."""

import os

import numpy as np
import pytest
import tensorflow as tf

import zoo.data
from experiments.train import export_name
from zoo import config as config_lib
from zoo.data import text
from zoo.errors import UserError

FORTUNE_FILES = {  # Two topic files, an index file and a .u8 twin that must both be skipped.
    "animals": b"".join(b"Animal fortune %d.\nSecond line.\n%%\n" % index for index in range(12)),
    "zen": b"".join(b"Zen fortune %d.\n%%\n" % index for index in range(8)) + b"%\n",
    "animals.dat": b"\x00\x01binary index",
}


def windows(source, count):
    return [bytes(element["tokens"].numpy().astype(np.uint8)) for element in source.dataset.take(count)]


@pytest.fixture
def fortune_dir(tmp_path):
    for name, data in FORTUNE_FILES.items():
        (tmp_path / name).write_bytes(data)
    os.symlink(tmp_path / "zen", tmp_path / "zen.u8")
    return str(tmp_path)


def test_text_file_split_is_the_last_tenth_and_windows_are_every_offset(tmp_path):
    data = bytes(range(256)) * 4  # 1024 bytes: train 830, validation 92 (a tenth of 922), test 102.
    (tmp_path / "bytes.bin").write_bytes(data)
    train = zoo.data.load(f"text:{tmp_path / 'bytes.bin'}", "train", sequence_length=8)
    test = zoo.data.load(f"text:{tmp_path / 'bytes.bin'}", "test", sequence_length=8)
    train_bytes, _ = text.load_bytes(f"text:{tmp_path / 'bytes.bin'}", "train")
    validation_bytes, _ = text.load_bytes(f"text:{tmp_path / 'bytes.bin'}", "validation")
    test_bytes, _ = text.load_bytes(f"text:{tmp_path / 'bytes.bin'}", "test")
    assert train_bytes + validation_bytes + test_bytes == data and len(test_bytes) == len(data) // 10
    assert (len(train_bytes), len(validation_bytes)) == (830, 92)
    assert (train.spec.kind, train.spec.sequence_length, train.spec.vocabulary_size) == ("text", 8, 256)
    assert train.num_examples == len(train_bytes) - 8 and train.dataset.element_spec["tokens"].shape == (9,)
    assert test.num_examples == len(test_bytes) - 8
    assert windows(train, 3) == [data[0:9], data[1:10], data[2:11]]
    assert train.element_at(tf.constant([5, 0], tf.int64))["tokens"].dtype == tf.int32
    assert windows(test, 1) == [test_bytes[:9]]
    again = zoo.data.load(f"text:{tmp_path / 'bytes.bin'}", "train", sequence_length=8)
    assert windows(again, 5) == windows(train, 5)


def test_fortunes_every_tenth_is_test_and_splits_are_disjoint(fortune_dir):
    train_bytes, origin = text.load_bytes("fortunes", "train", data_dir=fortune_dir, validation_size=0)
    test_bytes, _ = text.load_bytes("fortunes", "test", data_dir=fortune_dir)
    assert "18 of 20 fortunes (all 18 training" in origin and "in 2 files" in origin  # .dat and .u8 skipped.
    all_fortunes = text.split_fortunes(FORTUNE_FILES["animals"]) + text.split_fortunes(FORTUNE_FILES["zen"])
    assert test_bytes == all_fortunes[9] + all_fortunes[19] == b"Animal fortune 9.\nSecond line.\n%\nZen fortune 7.\n%\n"
    train_fortunes = text.split_fortunes(train_bytes)
    assert len(train_fortunes) == 18 and not set(train_fortunes) & set(text.split_fortunes(test_bytes))
    assert sorted(train_fortunes + text.split_fortunes(test_bytes)) == sorted(all_fortunes)
    # By default a tenth of the 18 training fortunes (2) is validation, held out of train.
    held_in = text.split_fortunes(text.load_bytes("fortunes", "train", data_dir=fortune_dir)[0])
    held_out = text.split_fortunes(text.load_bytes("fortunes", "validation", data_dir=fortune_dir)[0])
    assert (len(held_in), len(held_out)) == (16, 2) and sorted(held_in + held_out) == sorted(train_fortunes)
    source = zoo.data.load("fortunes", "test", data_dir=fortune_dir, sequence_length=16)
    assert source.num_examples == len(test_bytes) - 16 and source.spec.sequence_length == 16


def test_fortune_separators_keep_percent_words_and_drop_empty_fortunes():
    data = b"%\nfirst\n%\n%DCL-MEM-BAD, bad memory\n%  \n\n%\nlast without newline"
    assert text.split_fortunes(data) == [b"first\n%\n", b"%DCL-MEM-BAD, bad memory\n%\n", b"last without newline\n%\n"]


def test_missing_fortunes_package_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(text, "FORTUNES_DIR", str(tmp_path / "absent"))
    with pytest.raises(UserError, match=r"apt-get install fortunes.*--dataset=text:/path/to/file.txt") as raised:
        zoo.data.load("fortunes")
    assert "\n" not in str(raised.value)
    with pytest.raises(UserError, match="has no fortune files"):
        zoo.data.load("fortunes", data_dir=str(tmp_path))


def test_text_file_errors_are_one_line(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "short.txt").write_bytes(b"x" * 100)
    cases = [
        (f"text:{tmp_path / 'empty.txt'}", {}, "text file .*empty.txt' is empty"),
        (f"text:{tmp_path / 'missing.txt'}", {}, "does not exist"),
        ("text:", {}, "needs a file"),
        (f"text:{tmp_path / 'short.txt'}", {"sequence_length": 128}, r"has 81 bytes, fewer than sequence_length \+ 1 = 129"),
        (f"text:{tmp_path / 'short.txt'}", {"sequence_length": 0}, "must be a positive integer"),
        (f"text:{tmp_path / 'short.txt'}", {"image_size": 28}, "image_size and channels apply to image datasets"),
        (f"text:{tmp_path / 'short.txt'}", {"split": "valid"}, "unknown split 'valid'"),
        (f"text:{tmp_path / 'short.txt'}", {"split": "validation", "validation_size": 0}, "validation_size=0 holds nothing"),
        (f"text:{tmp_path / 'short.txt'}", {"validation_size": 90}, "holds out all of its 90 training bytes"),
        ("fashion_mnist", {"sequence_length": 16}, "sequence_length applies to text datasets"),
    ]
    for name, kwargs, message in cases:
        with pytest.raises(UserError, match=message) as raised:
            zoo.data.load(name, **kwargs)
        assert "\n" not in str(raised.value), name


def test_pipeline_passes_tokens_through_and_resumes_exactly(tmp_path):
    (tmp_path / "t.txt").write_bytes(bytes(range(200)) * 3)
    source = zoo.data.load(f"text:{tmp_path / 't.txt'}", sequence_length=10)

    def batches(start, count):
        stream = iter(zoo.data.make_pipeline(source, 4, seed=3, start_step=start))
        return [next(stream)["tokens"].numpy() for _ in range(count)]

    straight = batches(0, 6)
    assert straight[0].dtype == np.int32 and straight[0].shape == (4, 11)
    assert all(np.array_equal(row[1:], (row[:-1] + 1) % 200) for batch in straight for row in batch)
    for got, expected in zip(batches(3, 3), straight[3:]):
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(batches(0, 1)[0], zoo.data.make_pipeline(source, 4, seed=4).take(1).get_single_element()["tokens"])


def test_text_models_find_their_config_and_export_name():
    """zoo-train --model=gpt --dataset=text:/data/my-book.txt takes gpt's own config (it has no
    Fashion-MNIST one) and exports as gpt_my_book."""
    assert config_lib.default_config_name("gpt", "text:/data/my-book.txt") == "gpt_fortunes"
    assert config_lib.default_config_name("char_lstm", "fortunes") == "char_lstm_fortunes"
    assert config_lib.default_config_name("dcgan", "folder:/x") == "dcgan_fashion_mnist"
    assert export_name("gpt", "text:/data/my-book.txt") == "gpt_my_book"
    assert export_name("gpt", "fortunes") == "gpt_fortunes"


@pytest.mark.skipif(not text.fortune_files(text.FORTUNES_DIR), reason="apt-get install fortunes")
def test_installed_fortunes_hold_out_a_tenth():
    train_bytes, _ = text.load_bytes("fortunes", "train", validation_size=0)  # Train and validation.
    test_bytes, _ = text.load_bytes("fortunes", "test")
    train_count, test_count = len(text.split_fortunes(train_bytes)), len(text.split_fortunes(test_bytes))
    assert test_count == (train_count + test_count) // 10
    validation_count = len(text.split_fortunes(text.load_bytes("fortunes", "validation")[0]))
    assert validation_count == (train_count + 5) // 10
    assert 0.08 < len(test_bytes) / (len(train_bytes) + len(test_bytes)) < 0.12
