"""How tools/slides.py lays a lesson out as a deck (no browser: test_slides_browser.py measures the result)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import slides
from tools.common import PARAMETERS_TAG, SOLUTION_TAG, lesson_paths


def _png(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _kinds(deck: nbformat.NotebookNode) -> list[str]:
    return [cell.metadata["slideshow"]["slide_type"] for cell in deck.cells]


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_a_deck_leaves_out_setup_parameters_and_solutions_and_keeps_every_other_section(path: Path) -> None:
    lesson = nbformat.read(path, as_version=4)
    deck = slides.slide_notebook(lesson)
    sources = [cell.source for cell in deck.cells]
    assert not any("cfg = setup(" in s or "## Setup" in s for s in sources)
    assert not any(re.search(r"^### Solution", s, re.MULTILINE) for s in sources)
    assert not any({PARAMETERS_TAG, SOLUTION_TAG} & set(c.metadata.get("tags", [])) for c in deck.cells)
    headings = [line for cell in lesson.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines()[:1] if re.match(r"#{1,2} ", line) and line != "## Setup"]
    starts = [cell.source.splitlines()[0] for cell in deck.cells if _kinds(deck)[deck.cells.index(cell)] == "slide"]
    assert starts == headings, "each # and ## heading starts a slide, in order"
    assert any("## Exercises" in s for s in sources) and any("## Summary" in s for s in sources)
    assert len({cell.id for cell in deck.cells}) == len(deck.cells), "cell ids stay unique"


def test_a_long_printout_keeps_its_first_lines_and_says_how_many_it_left_out() -> None:
    text = "".join(f"line {i}\n" for i in range(1, 31))
    cell = new_code_cell("print(text)", outputs=[
        new_output("stream", name="stdout", text=text[:70]), new_output("stream", name="stdout", text=text[70:]),
        new_output("stream", name="stderr", text="WARNING: a warning\n")])
    deck = slides.slide_notebook(new_notebook(cells=[new_markdown_cell("## A"), cell]))
    (output,) = deck.cells[1].outputs
    lines = output.text.rstrip("\n").split("\n")
    assert lines[:-1] == [f"line {i}" for i in range(1, slides.MAX_OUTPUT_LINES)]
    assert lines[-1] == f"… {30 - slides.MAX_OUTPUT_LINES + 1} more lines in the notebook"


def test_code_with_a_tall_picture_becomes_the_code_then_the_picture() -> None:
    code = "\n".join(f"x{i} = {i}" for i in range(15))
    picture = new_output("display_data", data={"image/png": _png(1200, 900), "text/plain": "<Figure>"})
    lesson = new_notebook(cells=[new_markdown_cell("## Curves"), new_code_cell(code, outputs=[picture])])
    deck = slides.slide_notebook(lesson)
    assert [c.cell_type for c in deck.cells] == ["markdown", "code", "code"]
    source_part, picture_part = deck.cells[1], deck.cells[2]
    assert source_part.source == code and source_part.outputs == []
    assert picture_part.outputs == [picture] and picture_part.metadata["transient"] == {"remove_source": True}
    assert _kinds(deck) == ["slide", "-", "subslide"]
    assert slides.cell_height(picture_part) <= slides.IMAGE_HEIGHT + 100


def test_long_prose_is_cut_at_blank_lines_and_a_lead_in_stays_with_what_it_introduces() -> None:
    paragraph = "A sentence that runs on for a while to fill a line of the slide. " * 3
    prose = "\n\n".join([paragraph] * 6 + ["**Three points:**", "- one\n- two\n- three"])
    deck = slides.slide_notebook(new_notebook(cells=[new_markdown_cell("## Words\n\n" + prose)]))
    assert len(deck.cells) > 1
    assert "\n\n".join(c.source for c in deck.cells) == "## Words\n\n" + prose
    assert _kinds(deck)[0] == "slide" and set(_kinds(deck)[1:]) == {"subslide"}
    assert any("**Three points:**\n\n- one" in c.source for c in deck.cells)
    assert all(slides.cell_height(c) <= slides.BUDGET for c in deck.cells)
    # With one character a pixel: the lead-in would fit the first piece, but goes with its list.
    assert slides._chunks("aaaa\n\nbbbb\n\n**L:**\n\n- x\n- y", len, 20) == ["aaaa\n\nbbbb", "**L:**\n\n- x\n- y"]


def test_cells_are_packed_into_sub_slides_within_the_budget() -> None:
    cells = [new_markdown_cell("## Section")] + [new_code_cell("\n".join(["y = 1"] * 6)) for _ in range(8)]
    deck = slides.slide_notebook(new_notebook(cells=cells))
    kinds = _kinds(deck)
    assert kinds[0] == "slide" and "subslide" in kinds
    groups, height = [], 0
    for cell, kind in zip(deck.cells, kinds):
        if kind != "-" and height:
            groups.append(height)
            height = 0
        height += slides.cell_height(cell)
    groups.append(height)
    assert all(h <= slides.BUDGET for h in groups), groups


def test_reveal_js_is_copied_beside_the_decks_or_one_message_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(slides.RevealMissing, match=r"`make slides` installs it with `npm ci`"):
        slides.copy_reveal(tmp_path / "out", source=tmp_path / "nowhere")
    source = tmp_path / "reveal.js"
    for name in ("dist/reveal.js", "dist/reveal.css", "plugin/notes/notes.js", "LICENSE", "demo.html"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    target = slides.copy_reveal(tmp_path / "out", source=source)
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert copied == ["LICENSE", "dist/reveal.css", "dist/reveal.js", "plugin/notes/notes.js"]


def test_the_deck_template_loads_nothing_from_another_host(tmp_path: Path) -> None:
    lesson = lesson_paths()[0]
    page = slides.build_deck(lesson, tmp_path / "deck.html", "Lesson 01").read_text(encoding="utf-8")
    links = re.findall(r"""<(?:script|link|img)\b[^>]*?(?:src|href)=["']([^"']+)""", page)
    assert links and all(not re.match(r"^(?:[a-z]+:)?//", link) for link in links), links
    assert f'src="{slides.REVEAL_FOLDER}/dist/reveal.js"' in page
    assert "require.js" not in page and "jquery" not in page.lower() and "mathjax" not in page.lower()
