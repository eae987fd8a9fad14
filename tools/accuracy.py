"""`make accuracy`: the course's accuracy as papers on Flowers17 report it, a mean over splits.

For each seed (default 1, 2 and 3) it runs the lessons that train and score,
01, 05, 06 and 07, exactly as `make tutorial` runs them, on the seeded split
that `FLOWERS_SEED` makes. With `--repeats N` it trains each split N times,
as training runs 1..N (`FLOWERS_RUN`: the same split, other random starts,
shuffles and flips), which measures how far one number scatters from run to
run. Each run gets its own build folder, `build/accuracy/seed-S/run-R/`, so
no model of one split is ever scored on another.
Lesson 07 records the validation accuracy of the linear probe, the transfer
model and the fine-tuned model, which of them it chose on the validation set,
and the chosen model's test accuracy (the only model it scores on the test
set). After lesson 07 has chosen, this script also scores each of the three
candidates on the test set, for the report only: nothing is chosen or tuned
from those numbers, and they show what each phase is worth on photos that no
decision saw, as papers report each method's test accuracy. It collects
everything into

  build/accuracy.json   every run; the mean over splits and runs, the spread between
                        splits, the spread between runs of one split, the lowest run
  build/accuracy.md     the same as Markdown tables, with every two runs of a seed side by side

rewritten after every run, so that an interrupted measurement keeps the runs it finished.

With FLOWERS_PHOTOS set, the same runs train and score on your own folder
(lesson 01, Flowers17's own, is left out: lessons 05-07 make the folder's split
for each seed), and the report adds each model's macro-F1 on the test set,
which weighs every class the same however many photos it has.

Every other setting comes from the usual variables: FLOWERS_BACKBONE,
FLOWERS17_URL, FLOWERS17_MD5, KERAS_HOME, FLOWERS_DATA_DIR, FLOWERS_BUILD_DIR, ...
The lessons get each seed, run and build folder in an environment of their own
(:func:`seed_environment`); this process's environment is never changed.
Training is repeatable unless FLOWERS_DETERMINISTIC=0 (see helpers.config).

Usage:  python -m tools.accuracy [--seeds 1 2 3] [--repeats 1] [--first-run 1]
        python -m tools.accuracy --seeds 1 --repeats 2 --first-run 4 --out build/accuracy-more.json
        python -m tools.accuracy --merge build/accuracy.json build/accuracy-more.json --out build/all.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers import runs
from helpers.config import Config, load_config
from helpers.results import read_results
from tools import run_lessons
from tools.common import ROOT, lesson_paths, lessons_for, machine_info

#: The lessons that train and score; 02-04 only show things, and 08 is about speed.
LESSONS: tuple[str, ...] = ("01", "05", "06", "07")
#: The three candidates lesson 07 chooses from (keys of results.json's "phases").
MODELS: dict[str, str] = {"probe": "linear probe", "transfer": "transfer phase", "finetune": "fine-tuned"}
#: Papermill parameters: the timing comparison of lesson 06 measures speed, not accuracy.
PARAMETERS: dict[str, object] = {"compare_speed": False}


def seed_environment(seed: int, build: Path, env: Mapping[str, str] | None = None, run: int = 1) -> dict[str, str]:
    """The environment one run's lessons run in: ``env`` (default ``os.environ``) with its seed, run and build folder.

    ``FLOWERS_SEED``, ``FLOWERS_RUN`` and ``FLOWERS_BUILD_DIR`` are set;
    TensorFlow's C++ INFO lines are hidden (``TF_CPP_MIN_LOG_LEVEL=1``) unless
    ``env`` sets that itself. ``env`` is copied, not changed.
    """
    base = os.environ if env is None else env
    return {"TF_CPP_MIN_LOG_LEVEL": "1", **base, "FLOWERS_SEED": str(seed), "FLOWERS_RUN": str(run),
            "FLOWERS_BUILD_DIR": str(build)}


def accuracy_lessons(root: Path, photos: Path | None = None) -> list[Path]:
    """The notebooks of :data:`LESSONS`, in order; on your own photos (``photos``), without Flowers17's lesson 01."""
    return lessons_for([path for path in lesson_paths(root) if path.name[:2] in LESSONS], photos)


def seed_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one run's ``results.json`` that the table needs (epochs: ``None`` if not recorded).

    Raises:
        KeyError: when lesson 07 did not record a candidate's validation
            accuracy, its choice or the chosen model's test accuracy.
    """
    phases = results["phases"]
    return {
        **{f"{key}_val": phases[key]["val_accuracy"] for key in MODELS},
        **{f"{key}_epochs": phases[key].get("epochs") for key in ("transfer", "finetune")},
        "chosen": results["chosen"],
        "test": results["test_accuracy"],
        "lesson_seconds": {name: lesson["seconds"] for name, lesson in results.get("lessons", {}).items()},
    }


#: The columns that are averaged over the seeds.
AVERAGED: tuple[str, ...] = (*(f"{key}_val" for key in MODELS), "test", *(f"{key}_test" for key in MODELS))
#: Macro-F1 on the test set (the mean of the classes' F1 scores: each class weighs the same, however many
#: photos it has), of the chosen model and of each candidate; averaged too when every run has them.
F1_COLUMNS: tuple[str, ...] = ("test_f1", *(f"{key}_test_f1" for key in MODELS))


def candidate_test_accuracies(cfg: Config) -> dict[str, float]:
    """Each candidate's test accuracy, for the report, after lesson 07 has chosen.

    Scores the models that lessons 05 and 06 saved for ``cfg``'s run (its seed's
    split and build folder) on that split's test photos. Returns
    ``{"probe_test": ..., "transfer_test": ..., "finetune_test": ...}`` and each
    one's macro-F1 (``"probe_test_f1"``, ...: scikit-learn's ``f1_score(average="macro")``).
    """
    from helpers.environment import filtered_native_stderr

    with filtered_native_stderr():   # TensorFlow's start-up lines about this machine
        # Keras loads here, not at import: the other tools read results without TensorFlow.
        import keras

        from helpers import data, generators, training
    from sklearn.metrics import f1_score

    gens = generators.make_generators(cfg, data.ensure_split(cfg, verbose=False))
    scores = {}
    for key in MODELS:
        model = training.load_phase_model(cfg, key)
        scores[f"{key}_test"] = round(float(model.evaluate(gens.test, verbose=0, return_dict=True)["accuracy"]), 4)
        predicted = model.predict(gens.test, verbose=0).argmax(axis=1)
        scores[f"{key}_test_f1"] = round(float(f1_score(gens.test.classes, predicted, average="macro",
                                                        labels=range(gens.test.num_classes), zero_division=0)), 4)
        keras.backend.clear_session()
    return scores


def chosen_test_answers(cfg: Config) -> dict[str, list[int]]:
    """The chosen model's answer for every test photo, from lesson 07's predictions file, to compare runs.

    Returns ``{"test_predicted": [class index per photo], "test_right": [1 or 0 per photo]}``.
    """
    from helpers.predictions import read_test_predictions

    answers = read_test_predictions(runs.predictions_path(cfg), str(cfg.build_dir), cfg.run)
    return {"test_predicted": answers.predicted.tolist(),
            "test_right": (answers.predicted == answers.true).astype(int).tolist()}


def run_pairs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every two runs of one seed, side by side: how many test photos apart, and on how many they disagree.

    ``apart`` is the difference in test photos right; ``disagree`` counts the
    photos the two chosen models answer differently (a pair can be 0 apart and
    still disagree on some). Runs recorded without their answers are left out.
    """
    from helpers.predictions import answer_gap

    pairs = []
    for seed in sorted({row["seed"] for row in rows}):
        mine = [row for row in rows if row["seed"] == seed and "test_predicted" in row]
        for i, a in enumerate(mine):
            for b in mine[i + 1:]:
                if len(a["test_predicted"]) != len(b["test_predicted"]):
                    continue
                gap = answer_gap(a["test_predicted"], a["test_right"], b["test_predicted"], b["test_right"])
                pairs.append({"seed": seed, "runs": [a["run"], b["run"]], "apart": gap["apart"],
                              "disagree": gap["disagree"], "photos": len(a["test_predicted"])})
    return pairs


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """For each averaged column: the mean over all runs, and three spreads.

    ``rows`` holds one dict per run, each with its ``seed``. Returned per column:

    - ``mean``: the mean of the seeds' own means (each split weighs the same,
      however many runs it has; with as many runs each, the mean of all runs);
    - ``split_std``: the sample standard deviation (n - 1) of the seeds' own
      means, the spread between splits (0 for one seed);
    - ``run_range``: the largest difference between two runs of one seed
      (max - min within a seed, the largest over the seeds; 0 with one run each);
    - ``lowest``: the lowest single run.
    """
    out = {}
    seeds = sorted({row["seed"] for row in rows})
    for key in (*AVERAGED, *(k for k in F1_COLUMNS if all(k in row for row in rows))):
        by_seed = [[row[key] for row in rows if row["seed"] == seed] for seed in seeds]
        means = [statistics.fmean(values) for values in by_seed]
        out[key] = {"mean": statistics.fmean(means),
                    "split_std": statistics.stdev(means) if len(means) > 1 else 0.0,
                    "run_range": max(max(values) - min(values) for values in by_seed),
                    "lowest": min(row[key] for row in rows)}
    return out


def runs_per_seed(rows: list[dict[str, Any]]) -> str:
    """``"3"`` when every seed has three runs, else each seed's count (``"seed 1: 5, seed 2: 3"``)."""
    counts = {seed: sum(1 for row in rows if row["seed"] == seed) for seed in sorted({r["seed"] for r in rows})}
    if len(set(counts.values())) == 1:
        return str(next(iter(counts.values())))
    return ", ".join(f"seed {seed}: {n}" for seed, n in counts.items())


def markdown_table(report: dict[str, Any]) -> str:
    """The report as Markdown: one row per run, then a table of the mean and the three spreads."""
    rows = report["runs"]
    lines = [
        f"{report.get('data', 'Flowers17')}, backbone `{report['backbone']}` ({report['image_size']} px), "
        f"{report['profile']} profile, {report.get('split', 'seeded 40/20/20 splits')}, training runs per split: "
        f"{runs_per_seed(rows)}, training "
        f"{'repeatable' if report['deterministic'] else 'not repeatable'}; {report['machine']}.",
        "",
        "Lesson 07 chooses the final model on the validation accuracy of each candidate "
        "and scores only that one on the test set (*chosen*, *test*). The three test columns "
        "after it score every candidate on the test set afterwards, for this report only.",
        "",
        "| seed | run | " + " | ".join(f"{name} (val)" for name in MODELS.values())
        + " | chosen | test | " + " | ".join(f"{name} (test)" for name in MODELS.values())
        + " | epochs (transfer + fine-tune) | wall time |",
        "| --- | --- | " + " | ".join("---:" for _ in MODELS) + " | --- | ---: | "
        + " | ".join("---:" for _ in MODELS) + " | ---: | ---: |",
    ]
    for row in rows:
        epochs = f"{row.get('transfer_epochs')} + {row.get('finetune_epochs')}"
        lines.append(f"| {row['seed']} | {row['run']} | " + " | ".join(f"{row[f'{k}_val']:.3f}" for k in MODELS)
                     + f" | {MODELS[row['chosen']]} | {row['test']:.3f} | "
                     + " | ".join(f"{row[f'{k}_test']:.3f}" for k in MODELS)
                     + f" | {epochs} | {row['seconds']:.0f} s |")
    summary = report["summary"]
    columns = [*(f"{k}_val" for k in MODELS), "test", *(f"{k}_test" for k in MODELS)]
    names = [*(f"{n} (val)" for n in MODELS.values()), "chosen (test)", *(f"{n} (test)" for n in MODELS.values())]
    lines += [
        "",
        f"Over {len({r['seed'] for r in rows})} split(s) and {len(rows)} run(s), in {report['wall_seconds']:.0f} s. "
        "*Mean*: of the seeds' means. *Between splits*: the standard deviation of the seeds' means. "
        "*Between runs*: the largest difference between two runs of one seed.",
        "",
        "| | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---:" for _ in columns) + " |",
        "| **mean** | " + " | ".join(f"**{summary[c]['mean']:.3f}**" for c in columns) + " |",
        "| between splits (std) | " + " | ".join(f"{summary[c]['split_std']:.3f}" for c in columns) + " |",
        "| between runs (max - min) | " + " | ".join(f"{summary[c]['run_range']:.3f}" for c in columns) + " |",
        "| lowest run | " + " | ".join(f"{summary[c]['lowest']:.3f}" for c in columns) + " |",
    ]
    f1 = [c for c in F1_COLUMNS if c in summary]
    if f1:
        lines += [
            "",
            "Macro-F1 on the test set (each class's F1 score, averaged with every class weighing the same):",
            "",
            "| | chosen (test) | " + " | ".join(f"{n} (test)" for n in MODELS.values()) + " |",
            "| --- | " + " | ".join("---:" for _ in f1) + " |",
            "| **mean** | " + " | ".join(f"**{summary[c]['mean']:.3f}**" for c in f1) + " |",
            "| lowest run | " + " | ".join(f"{summary[c]['lowest']:.3f}" for c in f1) + " |",
        ]
    pairs = run_pairs(rows)
    if pairs:
        lines += [
            "",
            "Two runs of one seed, side by side, on the chosen models' test answers: *apart* is the difference "
            "in test photos right, *disagree* the photos they answer differently.",
            "",
            "| seed | runs | apart (photos) | disagree (photos) |",
            "| --- | --- | ---: | ---: |",
            *(f"| {p['seed']} | {p['runs'][0]} and {p['runs'][1]} | {p['apart']} | {p['disagree']} |"
              for p in pairs),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=1,
                        help="training runs per split (FLOWERS_RUN 1..N), to measure the spread between runs")
    parser.add_argument("--first-run", type=int, default=1,
                        help="the first run to train (with --repeats N: runs first..first+N-1), to add runs later")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="join these accuracy.json reports (runs measured at different times) into one")
    parser.add_argument("--out", type=Path, default=None,
                        help="the report's .json (default build/accuracy.json; the .md goes beside it)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.first_run < 1:
        parser.error(f"--repeats counts training runs per split and --first-run numbers them from 1, so both "
                     f"must be at least 1, not {args.repeats} and {args.first_run}")
    if args.merge:
        from helpers.errors import FlowersError

        try:
            return write_report(merged_report(args.merge), args.out or load_config().build_dir / "accuracy.json")
        except FlowersError as exc:
            print(exc)
            return 1

    base = load_config()
    out = args.out or base.build_dir / "accuracy.json"
    notebooks = accuracy_lessons(ROOT, base.photos)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        for run in range(args.first_run, args.first_run + args.repeats):
            build = runs.accuracy_run_dir(base.build_dir, seed, run)
            env = seed_environment(seed, build, run=run)
            print(f"seed {seed}, run {run}: lessons {', '.join(p.name[:2] for p in notebooks)} -> {build}", flush=True)
            run_start = time.perf_counter()
            lesson_argv = [*map(str, notebooks), *(f"{k}={v}" for k, v in PARAMETERS.items())]
            if run_lessons.main(lesson_argv, env=env) != 0:
                print(f"seed {seed}, run {run} stopped; see the message above.")
                return 1
            cfg = load_config(env=env)
            # This run's numbers only: none of another identity, nor of a phase trained again since.
            results = read_results(cfg)
            row = {"seed": seed, "run": run, **seed_summary(results), **candidate_test_accuracies(cfg),
                   **chosen_test_answers(cfg)}
            if f"{row['chosen']}_test_f1" in row:
                row["test_f1"] = row[f"{row['chosen']}_test_f1"]
            if cfg.photos is not None:   # the photos this run trained and scored on, for --merge to compare
                row["photos_fingerprint"] = results.get("identity", {}).get("photos_fingerprint")
            rows.append({**row, "seconds": round(time.perf_counter() - run_start, 1)})
            print("  validation: " + ", ".join(f"{MODELS[k]} {row[f'{k}_val']:.3f}" for k in MODELS)
                  + f"; chosen: {MODELS[row['chosen']]}, test accuracy {row['test']:.3f}", flush=True)
            print("  test, for the report: " + ", ".join(f"{MODELS[k]} {row[f'{k}_test']:.3f}" for k in MODELS),
                  flush=True)
            # After every run, so that an interrupted measurement keeps what it measured (--merge adds the rest).
            write_report(run_report(base, rows, start), out, quiet=True)
    return write_report(run_report(base, rows, start), out)


def split_words(cfg: Config) -> str:
    """How the runs' splits were made: ``seeded 40/20/20 splits`` (photos per species) or ``seeded 60/20/20%``."""
    if cfg.photos is None:
        return f"seeded {'/'.join(map(str, cfg.split_sizes))} splits"
    return f"seeded splits of {'/'.join(f'{f:g}' for f in cfg.split_fractions)} of each class"


def run_report(base: Config, rows: list[dict[str, Any]], start: float) -> dict[str, Any]:
    """The report of the runs measured so far: settings, machine, every run, the summary, the wall time."""
    mach = machine_info()
    most = max(sum(1 for row in rows if row["seed"] == seed) for seed in {row["seed"] for row in rows})
    return {"data": base.data_name, "split": split_words(base),
            "backbone": base.backbone, "image_size": base.image_size, "profile": base.profile,
            "deterministic": base.deterministic, "repeats": most,
            "machine": f"{mach['cpu_model']}, {mach['cpu_count']} CPUs, Python {mach['python']}",
            "runs": rows, "summary": aggregate(rows), "wall_seconds": round(time.perf_counter() - start, 1)}


def merged_report(paths: list[Path]) -> dict[str, Any]:
    """One report from several ``accuracy.json`` files of the same backbone, size, profile and determinism.

    Runs are ordered by seed and run; wall times add up. Raises
    :class:`helpers.errors.FlowersError` when the reports do not belong
    together, or when two of them hold the same run of the same seed.
    """
    from helpers.errors import FlowersError

    try:
        reports = [json.loads(Path(p).read_text()) for p in paths]
    except (OSError, ValueError) as exc:
        raise FlowersError(f"Cannot read the reports to merge: {exc}") from None
    keys = ("backbone", "image_size", "profile", "deterministic")
    kinds = {tuple(r.get(k) for k in (*keys, "data")) for r in reports}
    if len(kinds) != 1:
        raise FlowersError(f"These reports measured different things ({', '.join(keys)}: {sorted(map(str, kinds))}); "
                           f"merge only reports of one setting.")
    if not all(isinstance(r, dict) and isinstance(r.get("runs"), list) for r in reports):
        raise FlowersError("A report to merge has no list of runs: it was written before `make accuracy` recorded "
                           "runs (or is not an accuracy.json). Measure it again.")
    fingerprints = {row.get("photos_fingerprint") for r in reports for row in r["runs"]}
    if len(fingerprints) > 1:
        raise FlowersError(f"These reports measured {reports[0].get('data')} as it was at different times (the "
                           f"photos changed between them: {len(fingerprints)} fingerprints); merge only runs on the "
                           f"same photos, or measure them all again.")
    rows = sorted((row for r in reports for row in r["runs"]), key=lambda row: (row["seed"], row["run"]))
    seen = [(row["seed"], row["run"]) for row in rows]
    if len(set(seen)) != len(seen):
        raise FlowersError("Two of the reports hold the same run of the same seed; merge each run once.")
    first = reports[0]
    most = max(sum(1 for row in rows if row["seed"] == seed) for seed in {row["seed"] for row in rows})
    return {**{k: first[k] for k in keys}, **{k: first[k] for k in ("data", "split") if k in first},
            "repeats": most, "machine": first["machine"], "merged_from": [str(p) for p in paths], "runs": rows,
            "summary": aggregate(rows), "wall_seconds": round(sum(r["wall_seconds"] for r in reports), 1)}


def write_report(report: dict[str, Any], path: Path, quiet: bool = False) -> int:
    """Write the report to ``path`` (``.json``) and its tables beside it (``.md``); print them unless ``quiet``."""
    from helpers.files import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(report, indent=2) + "\n")
    table = markdown_table(report)
    write_text_atomic(path.with_suffix(".md"), table)
    if not quiet:
        print("\n" + table)
        print(f"Written: {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
