"""README's shipped-model tables, generated from the model cards of the shipped exports, and the
cards' Markdown rendered again from their JSON.

    python -m zoo.catalog [--readme=README.md] [--exports=exports] [--rewrite_cards]

Replaces the text between `<!-- shipped:start -->` and `<!-- shipped:end -->` in the README (the
export recommended per use, by zoo.export.floors, and every shipped export: headline, floor, steps,
wall time, size, card) and fills the last column of its model table ("| name | paper | config |
what it is |") from the cards. --rewrite_cards first renders every carded version's model_card.md
again from its model_card.json (zoo.export.cards.rewrite_markdown), for when the card's wording
changed; no fact of a card changes. Run from the repository root after zoo-ship; the links are
relative to the README's folder.
"""

import glob
import json
import os
import sys

from zoo import registry
from zoo.errors import UserError
from zoo.export import cards, floors

SHIPPED_START, SHIPPED_END = "<!-- shipped:start -->", "<!-- shipped:end -->"
MODELS_HEADER = "| name | paper | config | what it is |"


def shipped_cards(exports, relative_to):
    """[(card, link to its Markdown card from `relative_to`)] of the newest carded version of each
    model under `exports`."""
    newest = {}
    for path in sorted(glob.glob(os.path.join(exports, "*", "*", "assets.extra", cards.CARD_JSON))):
        with open(path) as f:
            card = json.load(f)
        link = os.path.relpath(os.path.join(os.path.dirname(path), cards.CARD_MARKDOWN), relative_to)
        if card["name"] not in newest or card["version"] > newest[card["name"]][0]["version"]:
            newest[card["name"]] = (card, link)
    return [newest[name] for name in sorted(newest)]


def recommended_table(shipped, manifest):
    """Per use README recommends a model for: the best shipped export meeting its floor (zoo.export.floors)."""
    links = {card["name"]: link for card, link in shipped}
    chosen = floors.recommended(manifest, {card["name"]: card["metrics"] for card, _ in shipped})
    lines = ["| use | recommended export | measured on the test split | floor |", "|---|---|---|---|"]
    for use, pick in chosen.items():
        if pick is None:
            lines.append(f"| {use} | none yet: no shipped export of this use meets its floor | | |")
            continue
        name, _ = pick
        card = next(card for card, _ in shipped if card["name"] == name)
        lines.append(f"| {use} | [`{name}`]({links[name]}) | {card['headline']} | {floors.describe_floor(name, manifest)} |")
    return lines


def shipped_table(shipped, manifest=None):
    manifest = manifest or {}
    lines = ["| export | model | measured on the test split (zoo-eval) | quality floor | trained | size | card |",
             "|---|---|---|---|---|---|---|"]
    for card, link in shipped:
        training = card["training"]
        floor = floors.describe_floor(card["name"], manifest) or "none declared"
        if floors.shortfalls(card["name"], card["metrics"], manifest):
            floor += " (**below**)"
        lines.append(f"| `exports/{card['name']}` | `{card['model']}` | {card['headline']} | {floor} | "
                     f"{training['steps']:,} steps, {training['wall_seconds'] / 60:.1f} min | "
                     f"{card['size_bytes'] / 1e6:.1f} MB | [{card['name']}]({link}) |")
    total = sum(card["size_bytes"] for card, _ in shipped)
    lines += ["", f"{len(shipped)} exports, {total / 1e6:.1f} MB in all (sizes without the cards). Each card "
              "holds the full protocol (split, sample count, feature network) and both commands. Floors: "
              f"`exports/{floors.FLOORS_FILE}` (each with its source row); a card below its floor is listed there "
              "with its numbers and never recommended."]
    return lines


def models_table_column(readme, shipped):
    """README's model table with its last column ("shipped export") filled from the cards."""
    by_model = {}
    for card, link in shipped:
        by_model.setdefault(card["model"], []).append(f"[{card['name']}]({link}): {card['headline']}")
    for name, why in registry.not_shipped().items():
        by_model[name] = [f"none: {why.split(':')[0]} (see [Shipped models](#shipped-models))"]
    lines = readme.split("\n")
    start = lines.index(next(line for line in lines if line.startswith(MODELS_HEADER)))
    lines[start] = MODELS_HEADER + " shipped export: measured on test |"
    lines[start + 1] = "|---|---|---|---|---|"
    index = start + 2
    while index < len(lines) and lines[index].startswith("| `"):
        cells = lines[index].split(" | ")
        model = cells[0].strip("| `")
        cells = cells[:4] if len(cells) > 4 else cells
        cells[-1] = cells[-1].rstrip(" |")
        lines[index] = " | ".join(cells + ["<br>".join(by_model.get(model, ["not shipped yet"]))]) + " |"
        index += 1
    return "\n".join(lines)


def shipped_block(shipped, manifest):
    """The README text between the shipped markers."""
    return (["**Recommended per use** (the best measured export that meets its quality floor):", ""]
            + recommended_table(shipped, manifest) + ["", "**Every shipped export:**", ""]
            + shipped_table(shipped, manifest))


def render_readme(readme, exports, readme_dir):
    """`readme` (its text) with the shipped block and the model table's last column from the cards
    under `exports`. Returns (text, shipped)."""
    if readme.count(SHIPPED_START) != 1 or readme.count(SHIPPED_END) != 1:
        raise UserError(f"the README needs one {SHIPPED_START} and one {SHIPPED_END} line around its shipped tables")
    if not any(line.startswith(MODELS_HEADER) for line in readme.split("\n")):
        raise UserError(f"the README has no model table (a line starting {MODELS_HEADER!r})")
    shipped = shipped_cards(exports, readme_dir)
    before, rest = readme.split(SHIPPED_START)
    _, after = rest.split(SHIPPED_END)
    block = shipped_block(shipped, floors.load(exports))
    readme = before + SHIPPED_START + "\n" + "\n".join(block) + "\n" + SHIPPED_END + after
    return models_table_column(readme, shipped), shipped


def rewrite_cards(exports):
    """Renders every carded version's model_card.md under `exports` again; returns the ones that changed."""
    changed = []
    for path in sorted(glob.glob(os.path.join(exports, "*", "*", "assets.extra", cards.CARD_JSON))):
        version_dir = os.path.dirname(os.path.dirname(path))
        if cards.rewrite_markdown(version_dir):
            changed.append(version_dir)
    return changed


def main(argv=None):
    from absl import flags

    values = flags.FlagValues()
    flags.DEFINE_string("readme", "README.md", "The README to update.", flag_values=values)
    flags.DEFINE_string("exports", "exports", "The shipped exports.", flag_values=values)
    flags.DEFINE_bool("rewrite_cards", False, "First render every card's model_card.md again from its JSON.",
                      flag_values=values)
    argv = sys.argv if argv is None else argv
    if any(arg in ("--help", "-h", "--helpshort", "--helpfull") for arg in argv[1:]):
        print(f"{__doc__.strip()}\n\nflags:\n{values.get_help()}")
        return 0
    try:
        rest = values(list(argv))
        if len(rest) > 1:
            raise UserError(f"unexpected arguments {rest[1:]}: use --readme, --exports, --rewrite_cards")
        if not os.path.isfile(values.readme):
            raise UserError(f"no README at {values.readme!r}: run from the repository root or pass --readme")
        if values.rewrite_cards:
            for version_dir in rewrite_cards(values.exports):
                print(f"rewrote {cards.card_path(version_dir, markdown=True)}")
        with open(values.readme) as f:
            text, shipped = render_readme(f.read(), values.exports, os.path.dirname(os.path.abspath(values.readme)))
    except (UserError, flags.Error) as error:
        print(f"zoo.catalog: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    with open(values.readme, "w") as f:
        f.write(text)
    print(f"{values.readme}: {len(shipped)} shipped exports from {values.exports}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
