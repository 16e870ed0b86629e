"""Where a number was measured: the machine line a model card or a benchmark row records."""

import os
import platform


def machine():
    """`x86_64 2 cores, TF 2.21.0, Keras 3.15.1`: where a card's training or a row was measured."""
    import keras
    import tensorflow as tf

    return f"{platform.machine()} {os.cpu_count()} cores, TF {tf.__version__}, Keras {keras.__version__}"


def machine_id():
    """Which boot of which machine a row ran on (the kernel's boot id, shortened): rows of one date
    may come from different machines, whose speeds differ; rows with one id ran on one machine."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return None
