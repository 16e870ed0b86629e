"""zoo.catalog: README's shipped-model tables are what the shipped cards say, and the cards'
Markdown is rendered again from their JSON."""

import os
import shutil

from tests import helpers
from zoo import catalog
from zoo.export import cards

README = os.path.join(helpers.REPO, "README.md")
EXPORTS = os.path.join(helpers.REPO, "exports")


def test_the_readme_tables_are_what_the_shipped_cards_generate():
    """Regenerating README from the shipped cards changes nothing: a reship that forgets
    `python -m zoo.catalog` fails here."""
    with open(README) as f:
        readme = f.read()
    text, shipped = catalog.render_readme(readme, EXPORTS, helpers.REPO)
    assert shipped and text == readme
    assert all(link.startswith("exports/") for _, link in shipped)


def test_the_command_rewrites_the_readme_and_the_card_markdown(tmp_path):
    exports = tmp_path / "exports"
    shutil.copytree(EXPORTS, exports, ignore=shutil.ignore_patterns("variables", "saved_model.pb", "*warmup*"))
    readme = tmp_path / "README.md"
    with open(README) as f:
        original = f.read()
    readme.write_text(original.replace("| FID 27.6 |", "| FID stale |"))
    card_dir = next(os.path.join(exports, name, version) for name in sorted(os.listdir(exports))
                    if os.path.isdir(exports / name) for version in sorted(os.listdir(exports / name))
                    if cards.read(str(exports / name / version)))
    with open(cards.card_path(card_dir, markdown=True), "w") as f:
        f.write("stale\n")
    assert catalog.main(["zoo.catalog", f"--readme={readme}", f"--exports={exports}", "--rewrite_cards"]) == 0
    assert readme.read_text() == original  # Links relative to the README's folder, as in the repository.
    assert open(cards.card_path(card_dir, markdown=True)).read() == cards.render_markdown(cards.read(card_dir))
    assert catalog.rewrite_cards(str(exports)) == []  # Every card is now as its JSON renders.


def test_bad_input_is_one_line(tmp_path, capsys):
    assert catalog.main(["zoo.catalog", f"--readme={tmp_path / 'missing.md'}"]) == 2
    assert capsys.readouterr().err.strip() == (f"zoo.catalog: error: no README at {str(tmp_path / 'missing.md')!r}: "
                                               "run from the repository root or pass --readme")
    (tmp_path / "README.md").write_text("# no tables\n")
    assert catalog.main(["zoo.catalog", f"--readme={tmp_path / 'README.md'}", f"--exports={EXPORTS}"]) == 2
    assert "needs one <!-- shipped:start -->" in capsys.readouterr().err
    assert catalog.main(["zoo.catalog", "--help"]) == 0
    assert "python -m zoo.catalog" in capsys.readouterr().out
