"""zoo-play: the browser playground over every export, generated from what each export declares.

    zoo-play                                        # exports/ and runs/*/exports, http://127.0.0.1:7860
    zoo-play --exports=exports --server=http://localhost:8501   # the same UI through TF Serving's REST API
    zoo-play --keep_dir=kept                        # "keep" saves samples into kept/<class>/ + kept/kept.jsonl

One tab per export (the newest version of each model directory), its model card beside it. Seeds,
labels, codes, parameters, images (upload or draw) and prompts come from the signatures' declared
roles, so a model trained tomorrow, or on a user's own folder, appears with no code. Kept samples
form an image-folder dataset: `zoo-train --dataset=folder:kept --init_from=exports/<name>` fine-tunes
on what was kept. Binds 127.0.0.1 unless --host says otherwise; no share links, no analytics.
"""

import glob
import os
import sys

from absl import flags

from experiments.common import command_flags, run_command
from zoo.errors import UserError

FLAGS = command_flags()  # Its own flags (experiments.common): commands share a process.

flags.DEFINE_multi_string("exports", ["exports"], "Export roots (TF Serving base paths), model or version "
                          "directories.", flag_values=FLAGS)
flags.DEFINE_string("runs", "runs", "Also list the exports of every run under this folder (<run>/exports/...); "
                    "empty: none.", flag_values=FLAGS)
flags.DEFINE_string("server", None, "http://host:port of TF Serving's REST API (or `make serve-local`): call the "
                    "models there instead of in this process.", flag_values=FLAGS)
flags.DEFINE_string("host", "127.0.0.1", "Interface to bind (0.0.0.0 exposes the playground to the network).",
                    flag_values=FLAGS)
flags.DEFINE_integer("port", 7860, "Port to serve on.", flag_values=FLAGS)
flags.DEFINE_bool("trust_export", False, "List and run exports even if their graphs hold ops zoo's own exports never "
                  "use (file access, Python calls; zoo.export.trust): only for exports whose source you trust.",
                  flag_values=FLAGS)
flags.DEFINE_string("keep_dir", None, "Folder that kept samples are written into (an image-folder dataset); "
                    "nothing else is written.", flag_values=FLAGS)


def roots(exports, runs):
    """The export roots to list: the given ones, then every run's exports folder."""
    found = list(exports)
    if runs and os.path.isdir(runs):
        found += sorted(path for path in glob.glob(os.path.join(runs, "*", "exports")) if os.path.isdir(path))
    return found


def build_app(exports, runs=None, server=None, keep_dir=None, trust_export=False):
    """(app, entries): the playground over the exports found, without serving it."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError("zoo-play needs Gradio: pip install 'zoo[play]' (or make play)") from None
    from zoo.play import app as app_lib, backends

    entries = backends.discover(roots(exports, runs), trust_export)
    if not entries:
        raise UserError(f"no exports found under {', '.join(roots(exports, runs))}: expected <root>/<name>/<version>/"
                        "saved_model.pb (train one with zoo-train, or pass --exports)")
    backend = backends.ServerBackend(server) if server else backends.LocalBackend(trust_exports=trust_export)
    return app_lib.build(entries, backend, keep_dir=keep_dir), entries


def main(argv):
    """Serves the playground over FLAGS' exports until stopped."""
    del argv
    if not 0 < FLAGS.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {FLAGS.port}")
    from zoo.play import app as app_lib

    app, entries = build_app(FLAGS.exports, FLAGS.runs, FLAGS.server, FLAGS.keep_dir, FLAGS.trust_export)
    usable = sum(1 for entry in entries if not entry.error)
    print(f"zoo-play: {usable} of {len(entries)} exports on http://{FLAGS.host}:{FLAGS.port} "
          f"({app.zoo_backend.description}); Ctrl-C stops", flush=True)
    for entry in entries:
        if entry.error:
            print(f"  not loaded: {entry.name}: {entry.error}", flush=True)
    try:
        app_lib.launch(app, FLAGS.host, FLAGS.port, block=True)
    except OSError as error:
        raise UserError(f"cannot serve on {FLAGS.host}:{FLAGS.port}: {error}") from None


def run(argv=None):
    """The command: parses argv (default sys.argv) and returns its exit status."""
    return run_command(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    sys.exit(run())
