"""The record zoo writes beside every export version, assets.extra/zoo_export.json: where it is,
how to read it, and the key holding the model's declared interface.

Below both zoo.contract (which rebuilds an export's Interface from the record) and zoo.export
(which writes it): neither imports the other. It imports nothing of zoo and nothing heavy, so
reading an export's record needs no TensorFlow.
"""

import json
import os

INFO_FILE = os.path.join("assets.extra", "zoo_export.json")
# The key of the record holding `model.interface().to_json()` (see zoo.contract.Interface).
INTERFACE_KEY = "interface"


def read_info(version_dir):
    """The facts zoo wrote beside a version (assets.extra/zoo_export.json), or {} for other exports."""
    path = os.path.join(version_dir, INFO_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)
