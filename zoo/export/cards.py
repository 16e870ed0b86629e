"""Model cards of exports: `assets.extra/model_card.json` and its human-readable `model_card.md`.

A card says what a version is (model, config, what it does), what it was trained on (dataset,
split, license), how (steps, wall time, the zoo-ship command that shipped it, the zoo-train
invocations its run recorded, and the step-bounded command that reproduces it: see zoo.ship),
what zoo-eval measured on the version itself (with the evaluation command and split), its
signatures as the SavedModel holds them, its size, and its intended use and limits. The files
sit in assets.extra, which TF Serving copies but never reads, so adding (or rewriting) a card does
not change what a server loads.

Nothing here names a model, a signature input or a kind of evaluation: the metrics and the
headline are what each kind (zoo.kinds) picks from the evaluation record, the signature table is
read from saved_model.pb.
"""

import json
import os
import shlex

import tensorflow as tf

from zoo.export import compat

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
SCHEMA = 1



def card_path(version_dir, markdown=False):
    return os.path.join(version_dir, "assets.extra", CARD_MARKDOWN if markdown else CARD_JSON)


def read(version_dir):
    """The card of a version, or None when it has none."""
    path = card_path(version_dir)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write(version_dir, card):
    """Writes model_card.json and model_card.md into the version's assets.extra."""
    os.makedirs(os.path.join(version_dir, "assets.extra"), exist_ok=True)
    with open(card_path(version_dir), "w") as f:
        json.dump(card, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(card_path(version_dir, markdown=True), "w") as f:
        f.write(render_markdown(card))


def rewrite_markdown(version_dir):
    """Renders a version's model_card.md again from its model_card.json (after render_markdown's
    wording changed); the JSON, and so every fact of the card, stays as it is. Returns whether the
    Markdown changed."""
    card = read(version_dir)
    if card is None:
        raise ValueError(f"{version_dir} has no model card")
    path, text = card_path(version_dir, markdown=True), render_markdown(card)
    if os.path.exists(path):
        with open(path) as f:
            if f.read() == text:
                return False
    with open(path, "w") as f:
        f.write(text)
    return True


def signature_table(version_dir):
    """{signature: {"inputs": {name: [dtype, shape]}, "outputs": {...}}} of the serving meta graph,
    read from saved_model.pb (shape: -1 for an unknown dimension)."""

    def tensors(infos):
        return {name: [tf.as_dtype(info.dtype).name,
                       [int(dim.size) for dim in info.tensor_shape.dim]]
                for name, info in sorted(infos.items())}

    for meta_graph in compat.saved_model_proto(version_dir).meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {key: {"inputs": tensors(signature.inputs), "outputs": tensors(signature.outputs)}
                    for key, signature in sorted(meta_graph.signature_def.items()) if not key.startswith("__")}
    raise ValueError(f"{version_dir} has no meta graph tagged 'serve'")


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def metrics_of(record):
    """The numbers a card keeps from a zoo-eval record, flat: {name: value}, as each kind of
    evaluation (zoo.kinds) picks them. Translation metrics are prefixed `translation_` only where a
    sample metric of the same name exists."""
    from zoo import kinds

    return kinds.card_metrics(record)


def headline(metrics):
    """The short text of a card's main numbers, e.g. `FID 41.3, label accuracy 0.87`."""
    from zoo import kinds

    return kinds.headline(metrics)


def _reproduced_exports(card):
    """Where the card's reproduce command exports (its --export_dir)."""
    words = shlex.split(card["training"]["reproduce"])
    return next(word.split("=", 1)[1] for word in words if word.startswith("--export_dir="))


def reproduce_reexport(card):
    """The zoo-export command that serves the reproduced weights the way this version does, or None:
    a version re-exported with config overrides (`zoo-ship --reexport --set=...`, e.g. a new default
    sampler) is reproduced by retraining, then re-exporting with the training's overrides and those."""
    changes = card["training"].get("reexported", {}).get("overrides")
    if not changes:
        return None
    exports = _reproduced_exports(card)
    return shlex.join(["zoo-export", f"--from_export={exports}/{card['name']}", f"--config={card['config']}",
                       *(f"--set={item}" for item in [*card["training"].get("overrides", []), *changes]),
                       f"--export_dir={os.path.dirname(exports.rstrip('/'))}/reexported"])


def reproduce_evaluation(card):
    """The card's zoo-eval command pointed at the export its reproduce commands write."""
    exports = _reproduced_exports(card)
    if reproduce_reexport(card):
        exports = f"{os.path.dirname(exports.rstrip('/'))}/reexported"
    return shlex.join(f"--export={exports}/{card['name']}" if word.startswith("--export=") else word
                      for word in shlex.split(card["evaluation"]["command"]))


def _duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def render_markdown(card):
    """The card as a short Markdown page."""
    training, evaluation, data = card["training"], card["evaluation"], card["data"]
    lines = [
        f"# {card['name']} (version {card['version']})",
        "",
        card["what"],
        "",
        f"- **Model:** `{card['model']}`, config `experiments/configs/{card['config']}.py`"
        + (f" with {', '.join(f'`{item}`' for item in training['overrides'])}" if training.get("overrides") else ""),
        f"- **Data:** {data['train']}. License: {data['license']}",
        f"- **Training:** {training['steps']:,} steps of batch {training['batch_size']} in "
        f"{_duration(training['wall_seconds'])} on {training['machine']} ({training['stop']}), "
        f"seed {training['seed']}, {training['date']}"
        + (f"; exported {training['selection']}" if training.get("selection") else ""),
        f"- **Size:** {card['size_bytes'] / 1e6:.1f} MB (the serving networks only: no discriminator, no optimizer state)",
        "",
        "## Measured",
        "",
        f"`{evaluation['command']}` on this version ({evaluation['protocol']}):",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.4g} |" for name, value in sorted(card["metrics"].items())]
    runs = training.get("runs")  # The zoo-train invocations the run's record holds (cards since zoo-ship).
    reexport = reproduce_reexport(card)
    lines += ["", "## Reproduce", "", "```sh", training["reproduce"], *([reexport] if reexport else []),
              reproduce_evaluation(card), "```", "",
              f"Shipped by: `{training['command']}`"
              + (f", which trained with `{'`, then `'.join(runs)}`" if runs else "")
              + f" (the run stopped at step {training['steps']:,}; the command above trains exactly that many steps "
              f"on any machine). `zoo-reproduce {card['name']}` runs {'them' if reexport else 'both'} and compares.", ""]
    reexported = training.get("reexported")
    if reexported:
        source = f" of {reexported['source']}" if reexported.get("source") else ""
        lines += [f"Re-exported from version {reexported['from_version']}{source} on {reexported['date']} "
                  f"(`{reexported['command']}`): the same weights, served by that day's signatures"
                  + (f" with {', '.join(f'`{item}`' for item in reexported['overrides'])}"
                     if reexported.get("overrides") else "")
                  + "; the numbers above were measured on this version.", ""]
    lines += [
              "## Signatures", "", "| signature | inputs | outputs |", "|---|---|---|"]
    for key, table in card["signatures"].items():
        def describe(tensors):
            return ", ".join(f"`{name}` {dtype}{shape}" for name, (dtype, shape) in tensors.items())
        lines.append(f"| `{key}` | {describe(table['inputs'])} | {describe(table['outputs'])} |")
    lines += ["", "## Intended use", "", card["intended_use"], "", "## Limits", ""]
    lines += [f"- {limit}" for limit in card["limitations"]]
    return "\n".join(lines) + "\n"
