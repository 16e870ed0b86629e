"""SavedModel export in TF Serving's layout: `<export_dir>/<name>/<version>/`, with warm-up requests,
and the server-side files beside it (models.config, batching parameters)."""

from zoo.export.saved_model import (
           INFO_FILE,
           export_model,
           latest_version,
           read_info,
           resolve_version_dir,
)
from zoo.export.serving_config import BATCHING_FILE, MODELS_CONFIG, update_models_config
from zoo.export.warmup import WARMUP_FILE

__all__ = ["BATCHING_FILE", "INFO_FILE", "MODELS_CONFIG", "WARMUP_FILE", "export_model", "latest_version", "read_info",
           "resolve_version_dir", "update_models_config"]
