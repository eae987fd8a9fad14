"""Slide decks of the lessons that an instructor can present offline, on a 1280 x 720 screen.

:func:`slide_notebook` turns a lesson into the cells of a deck:

- the setup section (parameters and ``setup`` cell) and the solutions stay out,
  and so do warnings on stderr;
- a long text output keeps its first lines and says how many it left out;
- every ``##`` heading starts a slide, and the cells under it are packed into
  vertical sub-slides by their estimated height. A cell too tall for one slide
  is split: code from its picture or printout, long code and long prose at
  blank lines.

:func:`build_deck` renders one deck with nbconvert's reveal.js exporter and
the template in ``tools/templates/offline_reveal``, which loads reveal.js from
the folder beside the deck; :func:`copy_reveal` puts reveal.js there, from the
copy that ``npm ci`` installed under ``node_modules/`` (pinned in
``package.json`` and ``package-lock.json``). Nothing is loaded from another host.

The heights are estimates; ``tests/test_slides_browser.py`` opens the decks in
headless Chromium and measures every slide.
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tools import student
from tools.common import BOOTSTRAP_TAG, PARAMETERS_TAG, ROOT, SOLUTION_TAG

#: The screen the decks are made for, in CSS pixels (reveal.js scales them to other screens).
WIDTH, HEIGHT = 1280, 720
#: Estimated height a slide's cells may fill; the rest is reveal.js' margin and room for error.
BUDGET = 560
#: The tallest a picture is shown (CSS ``max-height`` in the template).
IMAGE_HEIGHT = 380
#: Text outputs longer than this keep their first lines and a note of how many were left out.
MAX_OUTPUT_LINES = 10
#: Sections (``##`` headings) that stay out of the decks.
LEFT_OUT_SECTIONS = ("Setup",)
#: Cells with one of these tags stay out of the decks.
LEFT_OUT_TAGS = frozenset({BOOTSTRAP_TAG, PARAMETERS_TAG, SOLUTION_TAG})

#: Where ``npm ci`` puts reveal.js, and the files of it that a deck needs.
REVEAL_SOURCE = ROOT / "node_modules" / "reveal.js"
REVEAL_FILES = ("dist", "plugin/notes", "LICENSE")
REVEAL_FOLDER = "reveal.js"
TEMPLATES = Path(__file__).resolve().parent / "templates"

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")

# Heights, in pixels at 1280 x 720, measured in Chromium on the decks (rounded up).
_PROSE_LINE, _PROSE_CHARS = 34, 95      # a line of prose at the template's 22 px
_CODE_LINE, _CODE_CHARS = 24, 118       # a line of code or text output at 17 px
_HEADING_HEIGHT = {1: 80, 2: 66, 3: 56}
_BLOCK_GAP, _CELL_GAP = 16, 24          # between paragraphs; around each cell


class RevealMissing(SystemExit):
    """reveal.js has not been installed under node_modules/ (``npm ci``)."""


@dataclass(frozen=True)
class Part:
    """One piece of a lesson on a slide: a cell (or part of one) and its estimated height."""

    cell: nbformat.NotebookNode
    height: int
    #: The ``##`` heading it starts, if it starts a section.
    section: str | None = None


def _heading(cell: nbformat.NotebookNode) -> tuple[int, str] | None:
    """``(level, text)`` of a markdown cell that starts with a heading."""
    if cell.cell_type != "markdown":
        return None
    match = _HEADING.match(cell.source.lstrip().split("\n", 1)[0])
    return (len(match.group(1)), match.group(2)) if match else None


def _lines(text: str, chars: int) -> int:
    """Lines ``text`` takes when wrapped at ``chars`` characters."""
    return sum(max(1, -(-len(line) // chars)) for line in text.split("\n"))


def markdown_height(source: str) -> int:
    """Estimated height of a markdown cell: headings, prose lines, table rows, gaps between blocks."""
    height, blocks = 0, [b for b in re.split(r"\n\s*\n", source.strip()) if b.strip()]
    for block in blocks:
        for line in block.split("\n"):
            heading = _HEADING.match(line)
            if heading:
                height += _HEADING_HEIGHT.get(len(heading.group(1)), _PROSE_LINE)
            elif line.lstrip().startswith("|"):
                height += 0 if set(line.strip()) <= set("|-: ") else _PROSE_LINE + 4
            elif line.lstrip().startswith("```"):
                height += _CODE_LINE // 2
            else:
                height += _lines(line.strip(), _PROSE_CHARS) * _PROSE_LINE
        height += _BLOCK_GAP
    return height + _CELL_GAP


def _image_height(output: nbformat.NotebookNode) -> int:
    """Shown height of a picture: its size from the PNG header, fitted to the slide's width and IMAGE_HEIGHT."""
    png = base64.b64decode(output["data"]["image/png"][:64])
    width, height = struct.unpack(">II", png[16:24])
    scale = min(1.0, (WIDTH - 40) / width, IMAGE_HEIGHT / height)
    return int(height * scale) + 48  # the output area's padding


def output_height(output: nbformat.NotebookNode) -> int:
    """Estimated height of one output."""
    if output.output_type == "stream":
        return _lines(output.text.rstrip("\n"), _CODE_CHARS) * _CODE_LINE
    data = output.get("data", {})
    if "image/png" in data:
        return _image_height(output)
    if "text/html" in data:
        return markdown_height(str(data["text/html"]))  # tables: about a line per row
    text = data.get("text/plain", output.get("evalue", ""))
    return _lines(str(text).rstrip("\n"), _CODE_CHARS) * _CODE_LINE


def code_height(cell: nbformat.NotebookNode) -> int:
    """Estimated height of a code cell: its source (unless hidden) and its outputs."""
    hidden = cell.metadata.get("transient", {}).get("remove_source", False)
    source = 0 if hidden or not cell.source.strip() else _lines(cell.source, _CODE_CHARS) * _CODE_LINE + _CELL_GAP
    return source + sum(output_height(o) for o in cell.get("outputs", [])) + _CELL_GAP


def cell_height(cell: nbformat.NotebookNode) -> int:
    return markdown_height(cell.source) if cell.cell_type == "markdown" else code_height(cell)


def _shorten(text: str, max_lines: int = MAX_OUTPUT_LINES) -> str:
    lines = text.rstrip("\n").split("\n")
    if len(lines) <= max_lines:
        return text
    kept = max_lines - 1
    return "\n".join(lines[:kept]) + f"\n… {len(lines) - kept} more lines in the notebook\n"


def tidy_outputs(outputs: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """stdout joined into one printout and shortened; stderr (warnings, progress bars) left out."""
    tidy: list[nbformat.NotebookNode] = []
    for output in outputs:
        if output.output_type == "stream":
            if output.name != "stdout":
                continue
            if tidy and tidy[-1].output_type == "stream":
                tidy[-1].text += output.text
                continue
            output = copy.deepcopy(output)
        elif output.output_type == "execute_result" and "text/plain" in output.get("data", {}):
            output = copy.deepcopy(output)
            output.data["text/plain"] = _shorten(output.data["text/plain"])
        tidy.append(output)
    for output in tidy:
        if output.output_type == "stream":
            output.text = _shorten(output.text)
    return tidy


def _is_lead_in(block: str) -> bool:
    """A one-line paragraph that introduces what follows: ends with a colon, or is all bold."""
    line = block.strip()
    return "\n" not in line and (line.endswith(":") or (line.startswith("**") and line.endswith("**")))


def _chunks(text: str, height_of, budget: int) -> list[str]:
    """``text`` cut at blank lines into pieces that each fit ``budget`` (a piece with no blank line may not)."""
    pieces, current = [], ""
    for block in re.split(r"\n(?=\s*\n)", text):
        candidate = current + ("\n" if current else "") + block if current else block.lstrip("\n")
        if current and height_of(candidate) > budget:
            kept, lead_in = current.rsplit("\n\n", 1) if "\n\n" in current else ("", current)
            if kept.strip() and _is_lead_in(lead_in):  # "**How to read them.**" stays with what it introduces
                pieces.append(kept)
                current = lead_in + "\n" + block
            else:
                pieces.append(current)
                current = block.lstrip("\n")
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return pieces


def _split_code(cell: nbformat.NotebookNode, budget: int) -> list[nbformat.NotebookNode]:
    """A code cell too tall for one slide: its source in pieces, then its outputs without the source."""
    parts = []
    source_budget = budget - 2 * _CELL_GAP
    for piece in _chunks(cell.source, lambda s: _lines(s, _CODE_CHARS) * _CODE_LINE, source_budget):
        part = copy.deepcopy(cell)
        part.source, part.outputs = piece, []
        parts.append(part)
    if cell.get("outputs"):
        shown = copy.deepcopy(cell)
        shown.metadata["transient"] = {"remove_source": True}  # what nbconvert's templates read
        parts.append(shown)
    return parts


def _split_markdown(cell: nbformat.NotebookNode, budget: int) -> list[nbformat.NotebookNode]:
    parts = []
    for piece in _chunks(cell.source, markdown_height, budget):
        part = copy.deepcopy(cell)
        part.source = piece
        parts.append(part)
    return parts


def lesson_parts(nb: nbformat.NotebookNode, budget: int = BUDGET) -> list[Part]:
    """The lesson's cells that belong on slides, split where one is too tall, with their heights."""
    parts: list[Part] = []
    skipping = False
    for cell in nb.cells:
        heading = _heading(cell)
        if heading and heading[0] <= 2:
            skipping = heading[1] in LEFT_OUT_SECTIONS
        if skipping or LEFT_OUT_TAGS & set(cell.metadata.get("tags", [])):
            continue
        if student.solution_number(cell) is not None:  # the "### Solution N" heading
            continue
        if cell.cell_type == "raw":
            continue
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs = tidy_outputs(cell.get("outputs", []))
        pieces = [cell]
        if cell_height(cell) > budget:
            pieces = _split_code(cell, budget) if cell.cell_type == "code" else _split_markdown(cell, budget)
        for i, piece in enumerate(pieces):
            if len(pieces) > 1 and "id" in piece:
                piece.id = f"{cell.id}-{i}"  # cell ids must stay unique
            section = heading[1] if heading and heading[0] <= 2 and i == 0 else None
            parts.append(Part(piece, cell_height(piece), section))
    return parts


def slide_notebook(nb: nbformat.NotebookNode, budget: int = BUDGET) -> nbformat.NotebookNode:
    """A copy of the lesson laid out as a deck: each section a slide, packed into sub-slides of ``budget``."""
    deck = copy.deepcopy(nb)
    deck.cells = []
    used = 0
    parts = lesson_parts(nb, budget)
    for i, part in enumerate(parts):
        needed = part.height
        following = parts[i + 1] if i + 1 < len(parts) else None
        if part.cell.cell_type == "markdown" and _is_lead_in(part.cell.source) and following \
                and following.section is None:
            needed += following.height  # a lead-in goes where what it introduces goes
        if part.section is not None or not deck.cells:
            kind, used = "slide", 0
        elif used + needed > budget:
            kind, used = "subslide", 0
        else:
            kind = "-"
        part.cell.metadata["slideshow"] = {"slide_type": kind}
        used += part.height
        deck.cells.append(part.cell)
    return deck


def reveal_installed(source: Path = REVEAL_SOURCE) -> bool:
    """Whether ``npm ci`` has put reveal.js under ``source``."""
    return (source / "dist" / "reveal.js").is_file()


def copy_reveal(out_dir: Path, source: Path = REVEAL_SOURCE) -> Path:
    """Copy the reveal.js files a deck needs into ``out_dir/reveal.js``; return that folder.

    Raises:
        RevealMissing: reveal.js is not under node_modules/ (one message: how to get it).
    """
    if not reveal_installed(source):
        raise RevealMissing(
            f"reveal.js is not installed ({source / 'dist' / 'reveal.js'} is missing). `make slides` "
            "installs it with `npm ci` (Node.js and npm are needed once, e.g. `apt-get install npm`); "
            "after that the decks need no network.")
    target = out_dir / REVEAL_FOLDER
    if target.exists():
        shutil.rmtree(target)
    for name in REVEAL_FILES:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, target / name)
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)
    return target


def exporter():
    """nbconvert's reveal.js exporter with the offline template, for 1280 x 720 slides."""
    from nbconvert import SlidesExporter

    return SlidesExporter(template_name="offline_reveal", extra_template_basedirs=[str(TEMPLATES)],
                          reveal_url_prefix=REVEAL_FOLDER, reveal_width=str(WIDTH), reveal_height=str(HEIGHT),
                          reveal_theme="white", reveal_transition="none")


def build_deck(path: Path, target: Path, name: str) -> Path:
    """Render the lesson at ``path`` as a deck at ``target`` (reveal.js is expected beside it)."""
    deck = slide_notebook(nbformat.read(path, as_version=4))
    body, _ = exporter().from_notebook_node(
        deck, resources={"metadata": {"name": name}, "slides_image_height": IMAGE_HEIGHT})
    target.write_text(body, encoding="utf-8")
    return target
