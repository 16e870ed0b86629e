"""absl binaries: train, export, sample, evaluate, tune, ship, reproduce, play (installed as zoo-train,
zoo-export, zoo-sample, zoo-eval, zoo-tune, zoo-ship, zoo-reproduce, zoo-play)."""

import os

# TensorFlow's C++ start-up chatter hides the progress lines; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
