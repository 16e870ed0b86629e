"""absl binaries: train, export, sample (installed as zoo-train, zoo-export, zoo-sample)."""

import os

# TensorFlow's C++ start-up chatter hides the progress lines; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
