"""Render the course for the classroom: reveal.js slide decks and a browsable HTML course.

Usage:
    python -m tools.course_site slides [--build-dir DIR] [--out DIR]
    python -m tools.course_site html   [--build-dir DIR] [--out DIR]

``slides`` (``make slides``) renders each lesson with nbconvert's slides
exporter (what ``jupyter nbconvert --to slides`` runs) into
BUILD_DIR/slides/<lesson>.slides.html, from BUILD_DIR/executed/ when
``make tutorial`` has filled it (the decks then show outputs and plots) and
from notebooks/ otherwise, plus an index.html. The decks work offline: reveal.js
is copied beside them (:mod:`tools.slides` lays them out for 1280 x 720).

``html`` (``make html``) renders the executed lessons of BUILD_DIR/executed/
into BUILD_DIR/site/<lesson>.html, one page per lesson with links to the index
and its neighbours, plus an index.html listing, in order, each lesson's title,
learning objectives and measured run time per profile, and what the run
recorded in BUILD_DIR/results.json.

Run times come from BUILD_DIR/lesson_times.json (``{"smoke": {"01_...": 10.6,
...}, "full": {...}}``) when it exists, and from the ``lessons`` entry of
results.json for that file's profile.

BUILD_DIR defaults to FLOWERS_BUILD_DIR or build/ (``helpers.config.load_config``).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from helpers.results import results_in
from helpers.runs import PHASES
from tools import slides
from tools.common import (
    LESSON_STEM_GLOB,
    default_build_dir,
    lesson_paths,
    lessons_in,
    read_notebook,
    run_failed,
    unreadable_note,
)

RUN_TUTORIAL_FIRST = "run `make tutorial` first (FLOWERS_PROFILE=smoke make tutorial works offline)"

_TITLE = re.compile(r"^#\s+Lesson\s+\d+\s*[—–-]+\s*(?P<title>.+?)\s*$", re.MULTILINE)
_OBJECTIVES = re.compile(r"^\*\*You will learn to:?\*\*:?\s*$", re.MULTILINE | re.IGNORECASE)
_BULLET = re.compile(r"^[-*+]\s+(?P<text>.*)$")

#: How results.json keys are shown; other keys are shown with their own name.
_LABELS = {
    "profile": "Profile", "backbone": "Backbone", "image_size": "Image size",
    "chosen": "Final model (chosen on validation)", "test_accuracy": "Its test accuracy",
    "test_images": "Test images",
    "epochs": "Epochs", "seconds": "Time", "best_val_accuracy": "Best validation accuracy",
    "freeze_through": "Frozen through",
}
_SUMMARY_KEYS = ("profile", "backbone", "image_size", "chosen", "test_accuracy", "test_images")
_PHASE_KEYS = ("epochs", "seconds", "best_val_accuracy")


@dataclass(frozen=True)
class Lesson:
    """What the index shows of one lesson, read from its first cell."""

    stem: str
    number: str
    title: str
    #: The "You will learn to:" bullets, as markdown.
    objectives: tuple[str, ...]
    #: Whether the executed run of the lesson stopped with an error (:func:`tools.common.run_failed`).
    failed: bool = False


#: What the index and the page of a lesson whose run stopped with an error say.
FAILED_NOTE = ("This lesson's run stopped with an error: the page shows it up to the error. Fix the cause and "
               "run `make tutorial` again.")


def read_lesson(path: Path, nb: nbformat.NotebookNode | None = None) -> Lesson:
    """Title and objectives from the lesson's first cell ("# Lesson NN — Title", "**You will learn to:**").

    ``nb`` is the notebook already read from ``path``, if it was.
    """
    nb = nbformat.read(path, as_version=4) if nb is None else nb
    first = nb.cells[0].source if nb.cells else ""
    title = _TITLE.search(first)
    return Lesson(stem=path.stem, number=path.stem[:2],
                  title=title.group("title") if title else path.stem[3:].replace("_", " ").capitalize(),
                  objectives=tuple(parse_objectives(first)), failed=run_failed(nb))


def readable_lessons(paths: list[Path]) -> list[tuple[Path, nbformat.NotebookNode]]:
    """The readable lessons of ``paths``, each with its notebook; the others are named and skipped."""
    read = [(path, read_notebook(path)) for path in paths]
    skipped = [path for path, nb in read if nb is None]
    if skipped:
        print(unreadable_note(skipped))
    return [(path, nb) for path, nb in read if nb is not None]


def parse_objectives(markdown: str) -> list[str]:
    """The bullets of the list that follows "**You will learn to:**" (continuation lines joined)."""
    start = _OBJECTIVES.search(markdown)
    if not start:
        return []
    items: list[str] = []
    for line in markdown[start.end():].lstrip("\n").splitlines():
        bullet = _BULLET.match(line)
        if bullet:
            items.append(bullet.group("text").strip())
        elif items and line.startswith((" ", "\t")) and line.strip():
            items[-1] += " " + line.strip()
        else:
            break
    return items


def _remove_stale(out_dir: Path, suffix: str, keep: set[str]) -> None:
    """Delete lesson pages (``NN_*<suffix>``) of an earlier build that are not in ``keep``."""
    for page in out_dir.glob(f"{LESSON_STEM_GLOB}{suffix}"):
        if page.name not in keep:
            page.unlink()


def _page(title: str, body: str) -> str:
    """A small standalone HTML page."""
    style = """
  body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
         line-height: 1.45; color: #222; }
  h1 { margin-bottom: .2rem; } .lesson { border-top: 1px solid #ddd; padding: .6rem 0; }
  .times, .note { color: #555; font-size: .95rem; }
  .failed { color: #a40000; }
  table { border-collapse: collapse; margin: .5rem 0 1rem; }
  th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
  code { background: #f4f4f4; padding: 0 .2rem; }"""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{style}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text)


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    total = round(seconds)
    if total < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path} is not valid JSON ({exc}); delete it or run `make tutorial` again.") from None
    return data if isinstance(data, dict) else {}


def lesson_times(build_dir: Path, results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Measured seconds per profile and lesson: ``{"smoke": {"01_...": 10.6}, "full": {...}}``.

    From lesson_times.json, completed by results.json's ``lessons`` for its
    own profile (lesson_times.json wins where both have a lesson).
    """
    sources: list[tuple[Any, Any]] = [(results.get("profile"), results.get("lessons"))]
    sources += _read_json(build_dir / "lesson_times.json").items()
    times: dict[str, dict[str, float]] = {}
    for profile, per_lesson in sources:
        if not isinstance(profile, str) or not isinstance(per_lesson, dict):
            continue
        for stem, entry in per_lesson.items():
            seconds = entry.get("seconds") if isinstance(entry, dict) else entry  # results.json: {"seconds": s}
            if isinstance(seconds, (int, float)):
                times.setdefault(profile, {})[stem] = float(seconds)
    order = ["smoke", "full"]
    return {p: times[p] for p in sorted(times, key=lambda p: (order.index(p) if p in order else 2, p))}


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " ").capitalize())


def _value(key: str, value: Any) -> str:
    """A results.json value as escaped HTML text."""
    if isinstance(value, bool) or value is None:
        text = str(value)
    elif "accuracy" in key and isinstance(value, (int, float)):
        text = f"{value:.1%}"
    elif (key == "seconds" or key.endswith("_seconds")) and isinstance(value, (int, float)):
        text = format_seconds(float(value))
    elif key == "image_size" and isinstance(value, int):
        text = f"{value} × {value} px"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value)
    else:
        text = str(value)
    return html.escape(text)


def _flatten(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def results_html(results: dict[str, Any]) -> str:
    """The run's results: summary, one row per training phase, then anything else recorded."""
    if not results:
        return "<p>No <code>results.json</code> yet: the lessons record their results when they run.</p>"
    parts: list[str] = []
    summary = [(k, results[k]) for k in _SUMMARY_KEYS if k in results]
    if summary:
        parts.append("<table>" + "".join(f"<tr><th>{_label(k)}</th><td>{_value(k, v)}</td></tr>"
                                         for k, v in summary) + "</table>")
    phases = results.get("phases")
    if isinstance(phases, dict) and phases:
        keys = [k for k in _PHASE_KEYS if any(k in p for p in phases.values() if isinstance(p, dict))]
        keys += sorted({k for p in phases.values() if isinstance(p, dict) for k in p} - set(keys))
        head = "<tr><th>Phase</th>" + "".join(f"<th>{_label(k)}</th>" for k in keys) + "</tr>"
        known = list(PHASES)     # the order the lessons train them; others after, by name
        order = sorted(phases, key=lambda name: (known.index(name) if name in known else len(known), name))
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td>"
            + "".join(f"<td>{_value(k, phases[name][k]) if k in phases[name] else ''}</td>" for k in keys)
            + "</tr>" for name in order if isinstance(phases[name], dict))
        parts.append(f"<table>{head}{rows}</table>")
    shown = set(_SUMMARY_KEYS) | {"phases", "lessons"}
    other = _flatten({k: v for k, v in results.items() if k not in shown})
    if other:
        parts.append("<h3>Also recorded</h3><table>" + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{_value(k.rsplit('.', 1)[-1], v)}</td></tr>" for k, v in other)
            + "</table>")
    if results.get("profile") == "smoke":
        parts.append('<p class="note">The smoke profile trains on synthetic images with random weights '
                     "for a step or two: expect accuracies near chance (1/17).</p>")
    return "\n".join(parts)


def _course_totals(lessons: list[Lesson], times: dict[str, dict[str, float]]) -> list[str]:
    """Per profile, the summed run time of the lessons (and how many were measured, if not all)."""
    totals = []
    for profile, per_lesson in times.items():
        measured = [per_lesson[lesson.stem] for lesson in lessons if lesson.stem in per_lesson]
        if measured:
            partial = "" if len(measured) == len(lessons) else f" ({len(measured)} of {len(lessons)} lessons)"
            totals.append(f"{html.escape(profile)}: {format_seconds(sum(measured))}{partial}")
    return totals


def index_html(lessons: list[Lesson], times: dict[str, dict[str, float]], results: dict[str, Any]) -> str:
    """The course's front page: every lesson in order, then the run's results."""
    items = []
    for lesson in lessons:
        measured = [f"{html.escape(p)}: {format_seconds(t[lesson.stem])}" for p, t in times.items()
                    if lesson.stem in t]
        objectives = _markdown("\n".join(f"- {o}" for o in lesson.objectives)) if lesson.objectives else ""
        failed = f'<p class="failed"><strong>Run failed.</strong> {html.escape(FAILED_NOTE)}</p>\n'
        items.append(
            f'<section class="lesson">\n<h2><a href="{lesson.stem}.html">Lesson {lesson.number} — '
            f"{html.escape(lesson.title)}</a>{' (run failed)' if lesson.failed else ''}</h2>\n"
            + (failed if lesson.failed else "") +
            f"<p><strong>You will learn to:</strong></p>\n{objectives}\n"
            f'<p class="times">Run time: {" · ".join(measured) if measured else "not measured yet"}</p>\n'
            "</section>")
    totals = _course_totals(lessons, times)
    body = ("<h1>flowers-transfer</h1>\n<p>Transfer learning and fine-tuning with Keras on Oxford "
            "Flowers17: the lessons as executed by <code>make tutorial</code>.</p>\n"
            + (f'<p class="times">Whole course: {" · ".join(totals)}</p>\n' if totals else "")
            + "\n".join(items)
            + f"\n<h2>Results of the last run</h2>\n{results_html(results)}")
    return _page("flowers-transfer: the lessons", body)


def _navigation(lessons: list[Lesson], i: int) -> str:
    """Markdown links from lesson ``i``'s page to the index and its neighbours."""
    links = ["[All lessons](index.html)"]
    if i > 0:
        links.append(f"[← Lesson {lessons[i - 1].number}]({lessons[i - 1].stem}.html)")
    if i + 1 < len(lessons):
        links.append(f"[Lesson {lessons[i + 1].number} →]({lessons[i + 1].stem}.html)")
    return " · ".join(links)


def build_html(build_dir: Path, out_dir: Path) -> list[Path]:
    """Render the executed lessons and the index into ``out_dir``; return the pages written.

    Raises SystemExit (one message) when ``build_dir/executed`` holds no lesson.
    """
    from nbconvert import HTMLExporter

    executed = lessons_in(build_dir / "executed")
    if not executed:
        raise SystemExit(f"No executed lessons in {build_dir / 'executed'}: {RUN_TUTORIAL_FIRST}.")
    missing = sorted({p.name for p in lesson_paths()} - {p.name for p in executed})
    if missing:
        print(f"Not executed yet, so not in the site: {', '.join(missing)} ({RUN_TUTORIAL_FIRST}).")
    readable = readable_lessons(executed)
    if not readable:
        raise SystemExit(f"No readable executed lesson in {build_dir / 'executed'}: {RUN_TUTORIAL_FIRST}.")
    lessons = [read_lesson(path, nb) for path, nb in readable]
    failed = [lesson.stem for lesson in lessons if lesson.failed]
    if failed:
        print(f"Marked as failed in the site (their runs stopped with an error): {', '.join(failed)}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(out_dir, ".html", {f"{lesson.stem}.html" for lesson in lessons})
    exporter = HTMLExporter()
    written = []
    for i, ((_, nb), lesson) in enumerate(zip(readable, lessons)):
        nav = nbformat.v4.new_markdown_cell(_navigation(lessons, i))
        warning = [nbformat.v4.new_markdown_cell(f"**Run failed.** {FAILED_NOTE}")] if lesson.failed else []
        nb.cells = [nav, *warning, *nb.cells, nbformat.v4.new_markdown_cell(nav.source)]
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": f"Lesson {lesson.number}"}})
        target = out_dir / f"{lesson.stem}.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    try:
        results = results_in(build_dir)
    except ValueError as exc:
        raise SystemExit(f"{build_dir / 'results.json'} is not valid JSON ({exc}); delete it or run "
                         f"`make tutorial` again.") from None
    index = out_dir / "index.html"
    index.write_text(index_html(lessons, lesson_times(build_dir, results), results), encoding="utf-8")
    return [index, *written]


def build_slides(build_dir: Path, out_dir: Path) -> list[Path]:
    """Render an offline reveal.js deck per lesson (:mod:`tools.slides`), and an index, into ``out_dir``.

    Returns the pages written, the index first. Raises :class:`tools.slides.RevealMissing`
    (one message) when reveal.js has not been installed with ``npm ci``.
    """
    sources = [path for path, _ in readable_lessons(lessons_in(build_dir / "executed"))]
    origin = "the executed lessons (with outputs)"
    if not sources:
        sources = lesson_paths()
        origin = f"notebooks/ (without outputs: {RUN_TUTORIAL_FIRST} for decks with outputs and plots)"
    out_dir.mkdir(parents=True, exist_ok=True)
    slides.copy_reveal(out_dir)
    _remove_stale(out_dir, ".slides.html", {f"{p.stem}.slides.html" for p in sources})
    written, items = [], []
    for path in sources:
        lesson = read_lesson(path)
        target = slides.build_deck(path, out_dir / f"{path.stem}.slides.html", f"Lesson {lesson.number}")
        written.append(target)
        items.append(f'<li><a href="{target.name}">Lesson {lesson.number} — {html.escape(lesson.title)}</a></li>')
    body = ("<h1>flowers-transfer: slides</h1>\n"
            f"<p class=\"note\">Rendered from {html.escape(origin)}. The decks work offline: reveal.js "
            f"is in the <code>{slides.REVEAL_FOLDER}</code> folder beside them, so copy the whole folder. "
            "Press <kbd>?</kbd> in a deck for its keys, <kbd>S</kbd> for the speaker view.</p>\n"
            f"<ol>\n{chr(10).join(items)}\n</ol>")
    index = out_dir / "index.html"
    index.write_text(_page("flowers-transfer: slides", body), encoding="utf-8")
    return [index, *written]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("slides", "html"), help="slides: reveal.js decks; html: the course site")
    parser.add_argument("--build-dir", type=Path, help="the build folder (default: FLOWERS_BUILD_DIR or build/)")
    parser.add_argument("--out", type=Path, help="the output folder (default: BUILD_DIR/slides or BUILD_DIR/site)")
    args = parser.parse_args(argv)
    build_dir = (args.build_dir or default_build_dir()).resolve()
    if args.what == "slides":
        written = build_slides(build_dir, args.out or build_dir / "slides")
    else:
        written = build_html(build_dir, args.out or build_dir / "site")
    print(f"{len(written) - 1} lesson page(s) and {written[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
