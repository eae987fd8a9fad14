"""`make accuracy`: the course's accuracy as papers on Flowers17 report it, a mean over splits.

For each seed (default 1, 2 and 3) it runs the lessons that train and score,
01, 05, 06 and 07, exactly as `make tutorial` runs them, on the seeded split
that `FLOWERS_SEED` makes. Each seed gets its own build folder,
`build/accuracy/seed-N/`, so no model of one split is ever scored on another.
Lesson 07 records the validation accuracy of the linear probe, the transfer
model and the fine-tuned model, which of them it chose on the validation set,
and the chosen model's test accuracy (the only model it scores on the test
set). After lesson 07 has chosen, this script also scores each of the three
candidates on the test set, for the report only: nothing is chosen or tuned
from those numbers, and they show what each phase is worth on photos that no
decision saw, as papers report each method's test accuracy. It collects
everything into

  build/accuracy.json   per seed and mean ± standard deviation, plus wall times
  build/accuracy.md     the same as a Markdown table

Every other setting comes from the usual variables: FLOWERS_BACKBONE,
FLOWERS17_URL, FLOWERS17_MD5, KERAS_HOME, FLOWERS_DATA_DIR, FLOWERS_BUILD_DIR, ...
The lessons get each seed and its build folder in an environment of their own
(:func:`seed_environment`); this process's environment is never changed.

Usage:  python -m tools.accuracy [--seeds 1 2 3]
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

from helpers.config import Config, load_config
from helpers.results import read_results
from tools import run_lessons
from tools.common import ROOT, lesson_paths, machine_info

#: The lessons that train and score; 02-04 only show things, and 08 is about speed.
LESSONS: tuple[str, ...] = ("01", "05", "06", "07")
#: The three candidates lesson 07 chooses from (keys of results.json's "phases").
MODELS: dict[str, str] = {"probe": "linear probe", "transfer": "transfer phase", "finetune": "fine-tuned"}
#: Papermill parameters: the timing comparison of lesson 06 measures speed, not accuracy.
PARAMETERS: dict[str, object] = {"compare_speed": False}


def seed_environment(seed: int, build: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment one seed's lessons run in: ``env`` (default ``os.environ``) with that seed and build folder.

    ``FLOWERS_SEED`` and ``FLOWERS_BUILD_DIR`` are set; TensorFlow's C++ INFO
    lines are hidden (``TF_CPP_MIN_LOG_LEVEL=1``) unless ``env`` sets that itself.
    ``env`` is copied, not changed.
    """
    base = os.environ if env is None else env
    return {"TF_CPP_MIN_LOG_LEVEL": "1", **base, "FLOWERS_SEED": str(seed), "FLOWERS_BUILD_DIR": str(build)}


def accuracy_lessons(root: Path) -> list[Path]:
    """The notebooks of :data:`LESSONS`, in order."""
    return [path for path in lesson_paths(root) if path.name[:2] in LESSONS]


def seed_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one seed's ``results.json`` that the table needs.

    Raises:
        KeyError: when lesson 07 did not record a candidate's validation
            accuracy, its choice or the chosen model's test accuracy.
    """
    phases = results["phases"]
    return {
        **{f"{key}_val": phases[key]["val_accuracy"] for key in MODELS},
        "chosen": results["chosen"],
        "test": results["test_accuracy"],
        "lesson_seconds": {name: lesson["seconds"] for name, lesson in results.get("lessons", {}).items()},
    }


#: The columns that are averaged over the seeds.
AVERAGED: tuple[str, ...] = (*(f"{key}_val" for key in MODELS), "test", *(f"{key}_test" for key in MODELS))


def candidate_test_accuracies(cfg: Config) -> dict[str, float]:
    """Each candidate's test accuracy, for the report, after lesson 07 has chosen.

    Scores the models that lessons 05 and 06 saved for ``cfg``'s run (its seed's
    split and build folder) on that split's test photos. Returns
    ``{"probe_test": ..., "transfer_test": ..., "finetune_test": ...}``.
    """
    from helpers.environment import filtered_native_stderr

    with filtered_native_stderr():   # TensorFlow's start-up lines about this machine
        # Keras loads here, not at import: the other tools read results without TensorFlow.
        import keras

        from helpers import data, generators, training

    gens = generators.make_generators(cfg, data.ensure_split(cfg, verbose=False))
    scores = {}
    for key in MODELS:
        model = training.load_phase_model(cfg, key)
        scores[f"{key}_test"] = round(float(model.evaluate(gens.test, verbose=0, return_dict=True)["accuracy"]), 4)
        keras.backend.clear_session()
    return scores


def aggregate(per_seed: dict[int, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (n - 1) of each averaged column over the seeds."""
    out = {}
    for key in AVERAGED:
        values = [row[key] for row in per_seed.values()]
        out[key] = {"mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def markdown_table(report: dict[str, Any]) -> str:
    """The report as Markdown: one row per seed, then mean ± std, then the wall time."""
    seeds = report["seeds"]
    lines = [
        f"Flowers17, backbone `{report['backbone']}` ({report['image_size']} px), {report['profile']} "
        f"profile, seeded 40/20/20 splits; {report['machine']}.",
        "",
        "Lesson 07 chooses the final model on the validation accuracy of each candidate "
        "and scores only that one on the test set (*chosen*, *test*). The last three columns "
        "score every candidate on the test set afterwards, for this report only.",
        "",
        "| seed | " + " | ".join(f"{name} (val)" for name in MODELS.values())
        + " | chosen | test | " + " | ".join(f"{name} (test)" for name in MODELS.values()) + " | wall time |",
        "| --- | " + " | ".join("---:" for _ in MODELS) + " | --- | ---: | "
        + " | ".join("---:" for _ in MODELS) + " | ---: |",
    ]
    for seed, row in seeds.items():
        lines.append(f"| {seed} | " + " | ".join(f"{row[f'{k}_val']:.3f}" for k in MODELS)
                     + f" | {MODELS[row['chosen']]} | {row['test']:.3f} | "
                     + " | ".join(f"{row[f'{k}_test']:.3f}" for k in MODELS)
                     + f" | {row['seconds']:.0f} s |")
    summary = report["summary"]

    def cell(key: str) -> str:
        return f"**{summary[key]['mean']:.3f} ± {summary[key]['std']:.3f}**"

    lines.append("| **mean ± std** | " + " | ".join(cell(f"{k}_val") for k in MODELS)
                 + f" | | {cell('test')} | " + " | ".join(cell(f"{k}_test") for k in MODELS)
                 + f" | {report['wall_seconds']:.0f} s in all |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)

    base = load_config()
    notebooks = accuracy_lessons(ROOT)
    start = time.perf_counter()
    per_seed: dict[int, dict[str, Any]] = {}
    for seed in args.seeds:
        build = base.build_dir / "accuracy" / f"seed-{seed}"
        env = seed_environment(seed, build)
        print(f"seed {seed}: lessons {', '.join(LESSONS)} -> {build}", flush=True)
        seed_start = time.perf_counter()
        argv = [*map(str, notebooks), *(f"{k}={v}" for k, v in PARAMETERS.items())]
        if run_lessons.main(argv, env=env) != 0:
            print(f"seed {seed} stopped; see the message above.")
            return 1
        cfg = load_config(env=env)
        # This run's numbers only: none of another identity, nor of a phase trained again since.
        row = {**seed_summary(read_results(cfg)), **candidate_test_accuracies(cfg)}
        per_seed[seed] = {**row, "seconds": round(time.perf_counter() - seed_start, 1)}
        print("  validation: " + ", ".join(f"{MODELS[k]} {row[f'{k}_val']:.3f}" for k in MODELS)
              + f"; chosen: {MODELS[row['chosen']]}, test accuracy {row['test']:.3f}", flush=True)
        print("  test, for the report: " + ", ".join(f"{MODELS[k]} {row[f'{k}_test']:.3f}" for k in MODELS),
              flush=True)

    mach = machine_info()
    report = {"backbone": base.backbone, "image_size": base.image_size, "profile": base.profile,
              "machine": f"{mach['cpu_model']}, {mach['cpu_count']} CPUs, Python {mach['python']}",
              "seeds": per_seed, "summary": aggregate(per_seed),
              "wall_seconds": round(time.perf_counter() - start, 1)}
    base.build_dir.mkdir(parents=True, exist_ok=True)
    (base.build_dir / "accuracy.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown_table(report)
    (base.build_dir / "accuracy.md").write_text(table)
    print("\n" + table)
    print(f"Written: {base.build_dir / 'accuracy.json'} and {base.build_dir / 'accuracy.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
