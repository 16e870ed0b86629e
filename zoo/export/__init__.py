"""SavedModel export in TF Serving's layout: `<export_dir>/<name>/<version>/`."""

from zoo.export.saved_model import export_model, latest_version, resolve_version_dir

__all__ = ["export_model", "latest_version", "resolve_version_dir"]
