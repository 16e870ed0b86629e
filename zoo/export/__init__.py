"""SavedModel export in TF Serving's layout: `<export_dir>/<name>/<version>/`."""

from zoo.export.saved_model import INFO_FILE, export_model, latest_version, read_info, resolve_version_dir

__all__ = ["INFO_FILE", "export_model", "latest_version", "read_info", "resolve_version_dir"]
