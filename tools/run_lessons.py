"""Run the lessons in order, like a learner would, and keep everything under build/.

For each notebook in notebooks/ (or the ones named on the command line):
  build/executed/<lesson>.ipynb   the executed notebook (papermill)
  build/html/<lesson>.html        an HTML rendering of it (nbconvert)
and build/results.json gets each lesson's wall time next to what the lessons
themselves record there.

A lesson that stops with a FlowersError (no network, missing archive, ...)
stops the run with that one message, not a traceback.

Lessons that declare a ``verbose`` parameter get ``verbose=2`` (one line per
epoch instead of a progress bar). Extra papermill parameters can be passed as
NAME=VALUE, e.g.
    python -m tools.run_lessons notebooks/01_labelling_the_data.ipynb seed=7

Another tool can run lessons with an environment of their own without
changing its own: ``main(argv, env={...})`` reads the configuration from
``env`` and starts each lesson's kernel with ``env`` as its environment.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from helpers.files import write_text_atomic
from tools.common import lesson_paths, lessons_for


class UsageError(Exception):
    """A command line this tool cannot use; the message says what to give instead."""


def _parse(argv: list[str]) -> tuple[list[Path], dict[str, object]]:
    """The notebooks (all lessons when none is named) and the NAME=VALUE parameters of ``argv``.

    Raises:
        UsageError: for an option (``-x``) or a notebook that does not exist.
    """
    notebooks, params = [], {}
    for arg in argv:
        if arg.startswith("-"):
            raise UsageError(f"run_lessons takes no option {arg!r}: give lesson notebooks and NAME=VALUE "
                             f"parameters, e.g. python -m tools.run_lessons notebooks/01_labelling_the_data.ipynb "
                             f"seed=7 (no argument: every lesson).")
        if "=" in arg and not arg.endswith(".ipynb"):
            key, value = arg.split("=", 1)
            try:  # numbers, True/False and None as Python reads them; anything else stays text
                params[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                params[key] = value
        elif not Path(arg).is_file():
            raise UsageError(f"No notebook at {arg}: name lesson notebooks (notebooks/NN_*.ipynb) or "
                             f"NAME=VALUE parameters.")
        else:
            notebooks.append(Path(arg).resolve())
    return notebooks or lesson_paths(), params


def record_lesson_time(path: Path, profile: str, lesson: str, seconds: float) -> None:
    """Keep the latest measured run time of each lesson per profile: {"smoke": {"01_...": 10.6}, ...}.

    Unlike results.json (one profile, one run), this file keeps both profiles,
    for the course site's "run time per profile" column.
    """
    times = json.loads(path.read_text()) if path.exists() else {}
    times.setdefault(profile, {})[lesson] = round(seconds, 1)
    write_text_atomic(path, json.dumps(times, indent=2, sort_keys=True) + "\n")


def kernel_manager_with(env: Mapping[str, str]) -> type:
    """A kernel manager class (for papermill) whose kernels start with ``env`` as their whole environment."""
    from jupyter_client import AsyncKernelManager

    class KernelManagerWithEnv(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            kw.setdefault("env", dict(env))
            return await super().start_kernel(**kw)

    return KernelManagerWithEnv


def main(argv: list[str], env: Mapping[str, str] | None = None) -> int:
    """Run the lessons ``argv`` names (all by default) with its NAME=VALUE parameters; 0 if all ran.

    ``env`` (default: this process's ``os.environ``) is what the configuration
    is read from and what each lesson's kernel starts with; this process's own
    environment is not changed.
    """
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    from helpers.config import load_config
    from helpers.results import update_results

    notebooks, params = _parse(argv)
    # Keras' progress bars are for a person watching a notebook; a run saved to a file
    # (and read in the executed notebook or the HTML) gets one line per epoch instead.
    params.setdefault("verbose", 2)
    cfg = load_config(env=env, photos=params.get("photos"))   # photos=/path here is FLOWERS_PHOTOS for every lesson
    if (skipped := [p for p in notebooks if p not in lessons_for(notebooks, cfg.photos)]):
        print(f"FLOWERS_PHOTOS is set: {', '.join(p.stem for p in skipped)} (Flowers17's own) left out; "
              f"the other lessons split {cfg.photos} themselves.")
        notebooks = lessons_for(notebooks, cfg.photos)
    # The kernel inherits this process's environment unless another one is given.
    kernel = {} if env is None else {"kernel_manager_class": kernel_manager_with(env)}
    out_dir, html_dir = cfg.build_dir / "executed", cfg.build_dir / "html"
    out_dir.mkdir(parents=True, exist_ok=True)
    html_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    print(f"Running {len(notebooks)} lesson(s) in the {cfg.profile} profile -> {cfg.build_dir}")
    total = time.perf_counter()
    for nb_path in notebooks:
        executed = out_dir / nb_path.name
        print(f"  {nb_path.stem} ...", flush=True)
        start = time.perf_counter()
        try:
            # Each lesson gets the parameters its own parameters cell declares.
            own = {k: v for k, v in params.items() if k in pm.inspect_notebook(str(nb_path))}
            # papermill's bar names the cell it is on and the time so far; the kernel's own
            # start-up warnings ("Kernel is running over TCP without encryption") are noise here.
            pm.execute_notebook(str(nb_path), str(executed), parameters=own, cwd=str(nb_path.parent),
                                kernel_name="python3", progress_bar=True, log_output=False,
                                extra_arguments=["--IPKernelApp.log_level=ERROR"], **kernel)
        except pm.PapermillExecutionError as exc:
            print(f"  {nb_path.stem} stopped.\n")
            if exc.ename == "FlowersError":
                print(exc.evalue)
            else:
                print(f"{exc.ename}: {exc.evalue}\nThe executed notebook with the full error is {executed}")
            return 1
        seconds = time.perf_counter() - start
        body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
        (html_dir / f"{nb_path.stem}.html").write_text(body, encoding="utf-8")
        update_results(cfg, {"lessons": {nb_path.stem: {"seconds": round(seconds, 1)}}})
        record_lesson_time(cfg.build_dir / "lesson_times.json", cfg.profile, nb_path.stem, seconds)
        print(f"  {nb_path.stem} done in {seconds:.0f} s", flush=True)
    print(f"All lessons ran in {time.perf_counter() - total:.0f} s. Results: {cfg.build_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
