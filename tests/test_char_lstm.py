"""Byte-level LSTM: the shared text-model checks."""

from tests import text_checks


class TestCharLSTM(text_checks.TextModelTests):
    model_name = "char_lstm"
