"""The instructor kit: exercises and solutions, the student edition, slides and the HTML course.

The student edition is also run top to bottom under nbval in the smoke
profile (:func:`test_student_edition_runs_under_nbval_in_the_smoke_profile`):
every lesson, in one pytest run, in order, because later lessons use what
earlier ones saved. That test takes several minutes, so it runs in
`make check-student`; `make test` (and so CI) proves the same from its own
lesson run in tests/test_student_edition.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from support import ROOT

from tools import course_site, nbtool, slides, student
from tools.common import CHECK_OUTPUT_TAG, PLACEHOLDER_TAG, SOLUTION_TAG, lesson_paths

LESSONS = lesson_paths()
EXERCISE_ITEM = re.compile(r"^(\d+)\.\s+\*\*(.+?)\*\*", re.MULTILINE)
SOLUTION_HEADING = re.compile(r"^###[ \t]+Solution[ \t]+(\d+)[ \t]*$", re.MULTILINE)
PLACEHOLDER = re.compile(r"^# Your turn: write your solution to exercise (\d+) here\.\n?$")




def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _exercises(nb: nbformat.NotebookNode) -> list[int]:
    """The numbers of the items of the "## Exercises" list."""
    cells = [c for c in nb.cells if c.cell_type == "markdown" and "## Exercises" in c.source]
    assert len(cells) == 1, "exactly one markdown cell must hold the '## Exercises' heading"
    after = cells[0].source.split("## Exercises", 1)[1]
    after = re.split(r"^#", after, maxsplit=1, flags=re.MULTILINE)[0]  # up to the next heading
    return [int(n) for n, _ in EXERCISE_ITEM.findall(after)]


def _solution_cells(nb: nbformat.NotebookNode) -> dict[int, list[int]]:
    """{exercise N: indices of the code cells that follow "### Solution N" up to the next markdown cell}."""
    found: dict[int, list[int]] = {}
    for i, cell in enumerate(nb.cells):
        match = SOLUTION_HEADING.search(cell.source) if cell.cell_type == "markdown" else None
        if match:
            n = int(match.group(1))
            assert n not in found, f"two '### Solution {n}' headings"
            found[n] = []
            j = i + 1
            while j < len(nb.cells) and nb.cells[j].cell_type == "code":
                found[n].append(j)
                j += 1
    return found


# --- exercises and solutions in the committed lessons -------------------------------------------


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_exercise_has_a_tagged_solution_and_every_solution_an_exercise(path: Path) -> None:
    nb = _read(path)
    exercises = _exercises(nb)
    assert len(exercises) >= 3, f"only {len(exercises)} exercise(s) in the '## Exercises' list"
    assert exercises == list(range(1, len(exercises) + 1)), f"exercises are numbered {exercises}"

    solutions = _solution_cells(nb)
    assert sorted(solutions) == exercises, f"'### Solution N' headings {sorted(solutions)} for exercises {exercises}"
    for n, indices in solutions.items():
        tagged = [i for i in indices if SOLUTION_TAG in _tags(nb.cells[i])]
        assert tagged, f"'### Solution {n}' is not followed by a code cell tagged 'solution'"
    under_a_heading = {i for indices in solutions.values() for i in indices}
    strays = [i for i, c in enumerate(nb.cells) if SOLUTION_TAG in _tags(c) and i not in under_a_heading]
    assert not strays, f"cells {strays} are tagged 'solution' but follow no '### Solution N' heading"


# --- the student edition -------------------------------------------------------------------------


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_student_edition_replaces_each_solution_by_one_placeholder_and_keeps_the_rest(path: Path) -> None:
    original, edition = _read(path), student.student_edition(path)
    exercises = _exercises(original)

    assert not [c for c in edition.cells if SOLUTION_TAG in _tags(c)], "a cell tagged 'solution' survived"
    placeholders = [c for c in edition.cells if PLACEHOLDER.match(c.source)]
    assert [int(PLACEHOLDER.match(c.source).group(1)) for c in placeholders] == exercises
    for cell in placeholders:
        assert cell.cell_type == "code" and cell.outputs == [] and PLACEHOLDER_TAG in _tags(cell)
        assert cell.metadata["slideshow"]["slide_type"] == "-"
        compile(cell.source, "placeholder", "exec")  # valid Python

    # Every other cell is unchanged and in the same order; only the headings are renamed.
    kept = [c for c in original.cells if SOLUTION_TAG not in _tags(c)]
    rest = [c for c in edition.cells if not PLACEHOLDER.match(c.source)]
    assert len(rest) == len(kept)
    for before, after in zip(kept, rest):
        expected = SOLUTION_HEADING.sub(lambda m: f"### Your turn: exercise {m.group(1)}", before.source)
        assert (after.cell_type, after.source) == (before.cell_type, expected)
        assert after.metadata == before.metadata
    assert not any(SOLUTION_HEADING.search(c.source) for c in edition.cells)

    # No line of solution code is left, unless the lesson has the same line outside its solutions.
    elsewhere = {line.strip() for c in kept for line in c.source.splitlines()}
    solution_lines = {line.strip() for c in original.cells if SOLUTION_TAG in _tags(c)
                      for line in c.source.splitlines()} - elsewhere - {""}
    assert solution_lines, "the solutions have no line of their own to look for"
    left = {line.strip() for c in edition.cells for line in c.source.splitlines()}
    assert sorted(solution_lines & left) == []


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_student_edition_keeps_only_the_checked_outputs(path: Path) -> None:
    original, edition = _read(path), student.student_edition(path)
    unchecked = [c for c in edition.cells if c.cell_type == "code" and not nbtool.is_checked(c)]
    assert all(c.outputs == [] and c.execution_count is None for c in unchecked)
    checked_before = [c.outputs for c in original.cells if nbtool.is_checked(c)]
    checked_after = [c.outputs for c in edition.cells if nbtool.is_checked(c)]
    assert checked_after == checked_before, "nbval needs the checked outputs"


def _notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=list(cells))


def _solution(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata={"tags": [SOLUTION_TAG]})


def test_preprocessor_merges_several_solution_cells_and_strips_unchecked_outputs() -> None:
    ran = nbformat.v4.new_code_cell("x = 1\nprint(x)", execution_count=3)
    checked = nbformat.v4.new_code_cell("print(2)", execution_count=4, metadata={"tags": [CHECK_OUTPUT_TAG]})
    for cell, text in ((ran, "1\n"), (checked, "2\n")):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb = _notebook(ran, checked, nbformat.v4.new_markdown_cell("### Solution 1\n\nTwo cells:"),
                   _solution("a = 1"), _solution("b = 2"))
    out, _ = student.StudentPreprocessor().preprocess(nb, {})
    assert [c.source for c in out.cells] == [ran.source, checked.source, "### Your turn: exercise 1\n\nTwo cells:",
                                             "# Your turn: write your solution to exercise 1 here.\n"]
    assert (out.cells[0].outputs, out.cells[0].execution_count) == ([], None)
    assert out.cells[1].outputs[0]["text"] == "2\n"


def test_preprocessor_rejects_a_solution_without_a_heading() -> None:
    with pytest.raises(ValueError, match="no '### Solution N' heading"):
        student.StudentPreprocessor().preprocess(_notebook(_solution("a = 1")), {})


def test_student_command_writes_the_lessons_and_nothing_else(tmp_path: Path) -> None:
    build = tmp_path / "build"
    (build / "student").mkdir(parents=True)
    (build / "student" / "99_removed_lesson.ipynb").write_text("{}")
    run = subprocess.run([sys.executable, "-m", "tools.student", "--build-dir", str(build)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (build / "student").iterdir()) == [p.name for p in LESSONS]
    for path in LESSONS:
        written = _read(build / "student" / path.name)
        nbformat.validate(written)
        assert [c.source for c in written.cells] == [c.source for c in student.student_edition(path).cells]


@pytest.mark.skipif(os.environ.get("FLOWERS_CHECK_STUDENT") != "1",
                    reason="runs every lesson again (about 3 minutes): `make check-student`; "
                           "make test proves the same from its own lesson run (tests/test_student_edition.py)")
def test_student_edition_runs_under_nbval_in_the_smoke_profile(tmp_path: Path) -> None:
    """Slow (every lesson runs): the placeholders must not break anything the later cells need."""
    student.build(LESSONS, tmp_path / "student")
    env = {**os.environ, "FLOWERS_PROFILE": "smoke", "FLOWERS_DATA_DIR": str(tmp_path / "data"),
           "FLOWERS_BUILD_DIR": str(tmp_path / "build"), "TF_CPP_MIN_LOG_LEVEL": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "student"), "--nbval-lax", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert re.search(r"\d+ passed", run.stdout) and "failed" not in run.stdout.splitlines()[-1]
    assert (tmp_path / "build" / "results.json").exists(), "the lessons did not write into the temporary build"


# --- slides and the HTML course ------------------------------------------------------------------


class _Links(HTMLParser):
    """Collects the href and src attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


class _Text(HTMLParser):
    """The visible text of a page, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def text(self) -> str:
        return " ".join("".join(self.parts).split())


def _links(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.links


def _text(page: Path) -> str:
    parser = _Text()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.text()


def _is_local(link: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:|^//|^#", link, re.IGNORECASE)


def _assert_index_links_resolve(index: Path, expected_pages: list[str]) -> None:
    links = _links(index)
    assert links, "the index links to nothing"
    assert all(_is_local(link) and not link.startswith("/") for link in links), f"not relative: {links}"
    for link in links:
        assert (index.parent / link.split("#")[0]).is_file(), f"{index.name} links to missing {link}"
    assert [link for link in links if link.endswith(".html")] == expected_pages


def _run_site(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.course_site", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


SAMPLE_RESULTS = {
    "profile": "full", "backbone": "inception_v3", "image_size": 299, "test_accuracy": 0.9118,
    "test_images": 340,
    "phases": {"transfer": {"epochs": 10, "seconds": 512.3, "best_val_accuracy": 0.8824},
               "finetune": {"epochs": 7, "seconds": 1290.0, "best_val_accuracy": 0.9262,
                            "freeze_through": "mixed8"}},
    "lessons": {p.stem: {"seconds": 100.0 + i} for i, p in enumerate(LESSONS)},
    "cached_features": {"head_epochs": 20},
}


@pytest.fixture(scope="module")
def fake_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build folder as `make tutorial` leaves it: executed lessons, results and run times."""
    build = tmp_path_factory.mktemp("fake") / "build"
    (build / "executed").mkdir(parents=True)
    for path in LESSONS:
        shutil.copy(path, build / "executed" / path.name)
    (build / "results.json").write_text(json.dumps(SAMPLE_RESULTS))
    times = {"smoke": {p.stem: 10.4 + i for i, p in enumerate(LESSONS)},
             "full": {LESSONS[0].stem: 185.0}}  # full: only lesson 01 measured yet
    (build / "lesson_times.json").write_text(json.dumps(times))
    return build


@pytest.fixture(scope="module")
def site(fake_build: Path) -> Path:
    run = _run_site("html", "--build-dir", str(fake_build))
    assert run.returncode == 0, run.stdout + run.stderr
    return fake_build / "site"


def test_html_site_has_one_page_per_lesson_and_its_links_resolve(site: Path) -> None:
    pages = [f"{p.stem}.html" for p in LESSONS]
    assert sorted(p.name for p in site.iterdir()) == sorted(["index.html", *pages])
    _assert_index_links_resolve(site / "index.html", pages)
    for page in pages:
        local = [link for link in _links(site / page) if _is_local(link)]
        assert "index.html" in local
        for link in local:
            assert (site / link.split("#")[0]).is_file(), f"{page} links to missing {link}"


def test_html_index_lists_every_lesson_in_order_with_its_objectives(site: Path) -> None:
    text = _text(site / "index.html")
    positions = []
    for path in LESSONS:
        first = _read(path).cells[0].source
        title = re.search(r"^# (Lesson \d+ — .+)$", first, re.MULTILINE)
        assert title, f"{path.name}: the first cell has no '# Lesson NN — Title'"
        positions.append(text.index(title.group(1)))
        bullets = re.findall(r"^- (.+(?:\n  .+)*)", first.split("**You will learn to:**")[1], re.MULTILINE)
        assert len(bullets) >= 2, f"{path.name}: no 'You will learn to:' list"
        for bullet in bullets:
            plain = " ".join(re.sub(r"[`*]", "", bullet).split())
            assert plain in text, f"{path.name}: objective missing from the index: {plain}"
    assert positions == sorted(positions), "the lessons are not listed in order"


def test_html_index_shows_run_times_per_profile_and_the_results(site: Path) -> None:
    text = _text(site / "index.html")
    assert "smoke: 10 s" in text and "full: 3 min 05 s" in text   # lesson 01, from lesson_times.json
    assert "smoke: 12 s" in text                                    # lesson 03
    for shown in ("inception_v3", "299 × 299 px", "91.2%", "88.2%", "92.6%", "8 min 32 s", "21 min 30 s",
                  "mixed8", "cached_features.head_epochs"):
        assert shown in text, f"{shown!r} missing from the results"


def test_run_times_fall_back_to_results_json_for_its_profile(tmp_path: Path) -> None:
    results = {"profile": "smoke", "lessons": {"01_a": {"seconds": 4.0}, "02_b": {"seconds": 5.0}}}
    assert course_site.lesson_times(tmp_path, results) == {"smoke": {"01_a": 4.0, "02_b": 5.0}}
    (tmp_path / "lesson_times.json").write_text(json.dumps({"full": {"01_a": 60}, "smoke": {"02_b": 6}}))
    assert course_site.lesson_times(tmp_path, results) == {"smoke": {"01_a": 4.0, "02_b": 6.0},
                                                           "full": {"01_a": 60.0}}


def test_html_without_executed_lessons_says_to_run_the_tutorial(tmp_path: Path) -> None:
    run = _run_site("html", "--build-dir", str(tmp_path / "build"))
    assert run.returncode == 1
    assert "run `make tutorial` first (FLOWERS_PROFILE=smoke make tutorial works offline)" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "build" / "site").exists()


@pytest.mark.skipif(not slides.reveal_installed(),
                    reason="reveal.js is not installed: `npm ci` (make test runs it when npm is there)")
@pytest.mark.parametrize("executed", [True, False], ids=["from-executed", "from-notebooks"])
def test_slides_build_with_an_index_whose_links_resolve(fake_build: Path, tmp_path: Path, executed: bool) -> None:
    build = fake_build if executed else tmp_path / "empty-build"
    out = tmp_path / "slides"
    run = _run_site("slides", "--build-dir", str(build), "--out", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    decks = [f"{p.stem}.slides.html" for p in LESSONS]
    assert sorted(p.name for p in out.iterdir()) == sorted(["index.html", slides.REVEAL_FOLDER, *decks])
    assert (out / slides.REVEAL_FOLDER / "dist" / "reveal.js").is_file()
    _assert_index_links_resolve(out / "index.html", decks)
    for deck in decks:
        page = (out / deck).read_text(encoding="utf-8")
        assert "Reveal.initialize" in page and '<section' in page
    assert ("executed lessons" if executed else "notebooks/") in _text(out / "index.html")


def _broken_build(tmp_path: Path) -> Path:
    """Executed lessons 01-03 as broken runs leave them: 02 stopped with an error, 03 cut off mid-write."""
    build = tmp_path / "build"
    (build / "executed").mkdir(parents=True)
    for path in LESSONS[:3]:
        shutil.copy(path, build / "executed" / path.name)
    failed = _read(LESSONS[1])
    failed.metadata["papermill"] = {"exception": True}
    code = next(c for c in failed.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("error", ename="FlowersError", evalue="no photos", traceback=[])]
    nbformat.write(failed, build / "executed" / LESSONS[1].name)
    cut = build / "executed" / LESSONS[2].name
    cut.write_bytes(LESSONS[2].read_bytes()[:700])                 # a full disk or a killed run
    return build


def test_the_site_names_a_cut_off_lesson_skips_it_and_marks_a_failed_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = _broken_build(tmp_path)
    written = course_site.build_html(build, build / "site")
    out = capsys.readouterr().out
    assert f"Skipped, not a readable notebook (cut off or damaged; run the lesson again): {LESSONS[2].name}." in out
    assert f"Marked as failed in the site (their runs stopped with an error): {LESSONS[1].stem}." in out
    assert sorted(p.name for p in written) == sorted(["index.html", f"{LESSONS[0].stem}.html",
                                                      f"{LESSONS[1].stem}.html"])
    index = _text(build / "site" / "index.html")
    assert index.count("(run failed)") == 1 and index.index("(run failed)") > index.index("Lesson 02")
    assert "Run failed." in _text(build / "site" / f"{LESSONS[1].stem}.html")
    assert "Run failed." not in _text(build / "site" / f"{LESSONS[0].stem}.html")
    assert course_site.read_lesson(LESSONS[0]).failed is False


def test_slides_and_the_student_edition_skip_a_cut_off_notebook_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = _broken_build(tmp_path)
    executed = sorted((build / "executed").iterdir())
    assert [p.name for p, _ in course_site.readable_lessons(executed)] == [p.name for p in LESSONS[:2]]
    assert LESSONS[2].name in capsys.readouterr().out
    out = tmp_path / "student"
    out.mkdir()
    earlier = out / LESSONS[2].name
    earlier.write_text("an earlier student edition")
    written = student.build(executed, out)
    assert [p.name for p in written] == [p.name for p in LESSONS[:2]]
    assert LESSONS[2].name in capsys.readouterr().out
    assert earlier.read_text() == "an earlier student edition"        # kept, not replaced by a cut-off one
