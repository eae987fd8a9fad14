"""How lesson 06 should stop and which epoch it should keep, measured on validation over splits and runs.

Lesson 06 keeps the fine-tuning epoch with the lowest validation loss and
stops 10 epochs after it. With label smoothing that loss is almost flat, so
which epoch wins can come down to its fourth decimal: noise. This script
measures the alternatives on the **validation** sets of several seeded splits
(default seeds 1, 2, 3), with several training runs of each (``FLOWERS_RUN``
1..N, default 3), and never reads the test photos.

It trains what lessons 05 and 06 train, faster, as ``benchmarks.recipes`` does:
below the fine-tuning cut every layer is frozen and BatchNormalization runs in
inference mode, so the activations at the cut are computed once per split, for
every training photo and its mirror image (lesson 02's augmentation), and only
the layers above the cut train. For each split and training run (its seed is
``Config.training_seed`` of that run) it trains lesson 05's head on the pooled
features, then fine-tunes from it twice (Adam at 3e-4, lesson 05's loss):

1. **Constant learning rate**, with the optimizer keeping an exponential moving
   average of the weights (``use_ema=True``, which does not change the training
   itself). Every epoch it records the validation loss with and without label
   smoothing, and the accuracy, both of the weights themselves and of their
   average. Early-stopping rules only decide when to stop and which epoch to
   keep, so each rule below is read off these records exactly (Keras'
   ``EarlyStopping`` logic, :func:`early_stopping`); the run goes on until
   every rule has stopped, or to lesson 06's 40 epochs.
2. **Cosine decay** of the learning rate from 3e-4 to 0 over a fixed number of
   epochs (default 25), keeping the last weights: nothing is chosen.

Each rule's score is the validation accuracy of the epoch it keeps. The rules
that choose by the validation loss choose on the same photos they are scored
on, which flatters them a little; the fixed schedule chooses nothing.

Usage (the real photos and weights, offline, as ``../shared/real-run`` sets them up)::

    FLOWERS_PROFILE=full FLOWERS_BACKBONE=mobilenet_v2_035 KERAS_HOME=... FLOWERS17_URL=file://... \\
        .venv/bin/python -m benchmarks.stopping [--seeds 1 2 3] [--runs 3] [--out build/stopping.json]
    .venv/bin/python -m benchmarks.stopping --merge build/stopping-a.json build/stopping-b.json

It writes its report after every run, so an interrupted measurement keeps what
it measured, and ``--merge`` joins reports. Importing this module loads no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rule:
    """An early-stopping rule read off a recorded run: which record it watches, and how patiently."""

    monitor: str
    patience: int
    min_delta: float = 0.0


#: The early-stopping rules compared; the first is the course's today.
RULES: dict[str, Rule] = {
    "val loss, patience 10 (the course)": Rule("val_loss", 10),
    "val loss without smoothing, patience 10": Rule("val_plain_loss", 10),
    "val loss, min_delta 0.005, patience 15": Rule("val_loss", 15, 0.005),
    "EMA weights, val loss, patience 10": Rule("ema_val_loss", 10),
    "EMA weights, val loss without smoothing, patience 10": Rule("ema_val_plain_loss", 10),
}
#: The name of the fixed schedule's row.
COSINE = "cosine decay, {epochs} epochs, last weights"


def early_stopping(losses: list[float], patience: int, min_delta: float = 0.0,
                   max_epochs: int | None = None) -> tuple[int, int] | None:
    """Lesson 06's callbacks on a recorded loss: when ``EarlyStopping`` stops, and which epoch is kept.

    Returns ``(kept, stopped)``, or ``None`` when the record ends before the
    rule stops and before ``max_epochs``. An epoch improves when its loss is
    below the best so far by more than ``min_delta`` (Keras' rule); training
    stops after ``patience`` epochs in a row without one. ``kept`` (0-based)
    is the epoch with the lowest loss of those run: the one ``ModelCheckpoint``
    saved last and lesson 07 loads (with ``min_delta=0`` also the one
    ``EarlyStopping`` restores).
    """
    best, wait = float("inf"), 0
    for epoch, loss in enumerate(losses):
        if loss + min_delta < best:
            best, wait = loss, 0
        else:
            wait += 1
        if wait >= patience or (max_epochs is not None and epoch + 1 >= max_epochs):
            return min(range(epoch + 1), key=losses.__getitem__), epoch + 1
    return None


def read_rules(history: dict[str, list[float]], max_epochs: int) -> dict[str, dict[str, Any]]:
    """Each rule's kept epoch, epochs run and kept validation accuracy, read off one constant-rate run."""
    out = {}
    for name, rule in RULES.items():
        result = early_stopping(history[rule.monitor], rule.patience, rule.min_delta, max_epochs)
        if result is None:
            raise ValueError(f"the record ends before the rule {name!r} stops")
        kept, stopped = result
        accuracy = history["ema_val_accuracy" if rule.monitor.startswith("ema_") else "val_accuracy"][kept]
        out[name] = {"val_accuracy": round(float(accuracy), 4), "kept_epoch": kept + 1, "epochs": stopped}
    return out


def all_rules_stopped(history: dict[str, list[float]], max_epochs: int) -> bool:
    """True when every rule in :data:`RULES` has stopped on ``history`` (or it has reached ``max_epochs``)."""
    return all(early_stopping(history[r.monitor], r.patience, r.min_delta, max_epochs) is not None
               for r in RULES.values())


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per rule: the mean kept validation accuracy, the spread between runs of one split, and the lowest run.

    ``run_range`` is the largest difference between two runs of one seed (max
    - min within a seed, the largest over the seeds); ``run_std`` the mean over
    the seeds of the standard deviation between their runs.
    """
    out = {}
    for rule in dict.fromkeys(r["rule"] for r in rows):
        mine = [r for r in rows if r["rule"] == rule]
        by_seed = [[r["val_accuracy"] for r in mine if r["seed"] == s] for s in sorted({r["seed"] for r in mine})]
        out[rule] = {
            "mean": statistics.fmean(r["val_accuracy"] for r in mine),
            "run_range": max(max(v) - min(v) for v in by_seed),
            "run_std": statistics.fmean(statistics.stdev(v) if len(v) > 1 else 0.0 for v in by_seed),
            "lowest": min(r["val_accuracy"] for r in mine),
            "mean_epochs": statistics.fmean(r["epochs"] for r in mine),
            "n": len(mine),
        }
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: per rule, each seed's mean over its runs, the mean, the spreads and the epochs."""
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| rule | " + " | ".join(f"seed {s}" for s in seeds)
             + " | mean | between runs (max - min) | between runs (std) | lowest run | epochs run | runs |",
             "|---|" + "---:|" * (len(seeds) + 6)]
    for rule, s in summarise(rows).items():
        cells = [statistics.fmean(r["val_accuracy"] for r in rows if r["rule"] == rule and r["seed"] == seed)
                 for seed in seeds]
        lines.append(f"| {rule} | " + " | ".join(f"{c:.3f}" for c in cells)
                     + f" | {s['mean']:.3f} | {s['run_range']:.3f} | {s['run_std']:.3f} | {s['lowest']:.3f}"
                     f" | {s['mean_epochs']:.1f} | {s['n']} |")
    return "\n".join(lines)


def merge(paths: list[Path]) -> dict[str, Any]:
    """The rows of several reports of one setting, with their summary recomputed.

    Raises:
        ValueError: when the reports measured different backbones, sizes,
            profiles or determinism, or two hold the same run of a seed.
    """
    reports = [json.loads(Path(p).read_text()) for p in paths]
    keys = ("backbone", "image_size", "profile", "deterministic")
    if len({tuple(r.get(k) for k in keys) for r in reports}) != 1:
        raise ValueError(f"the reports measured different settings ({', '.join(keys)}); merge one setting")
    rows = [row for r in reports for row in r["rows"]]
    runs = {(row["seed"], row["run"], row["rule"]) for row in rows}
    if len(runs) != len(rows):
        raise ValueError("two reports hold the same run of the same seed")
    return {**{k: reports[0].get(k) for k in keys}, "merged_from": [str(p) for p in paths], "rows": rows,
            "summary": summarise(rows)}


def _plain_loss():
    import keras

    return keras.metrics.CategoricalCrossentropy(name="plain_loss")   # no label smoothing


def compile_for_finetuning(model, learning_rate, use_ema: bool) -> None:
    """Lesson 06's compile (Adam, label-smoothed cross-entropy, accuracy), plus the unsmoothed loss as a metric."""
    import keras

    from helpers import training

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, use_ema=use_ema),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=training.LABEL_SMOOTHING),
                  metrics=["accuracy", _plain_loss()])


def top_model(base, base_weights: list, head, cut: str, n_classes: int):
    """Lesson 06's trainable part: the layers after ``cut`` (BatchNorm frozen) and the head, from ImageNet weights."""
    import keras

    from helpers import features, models, training

    base.set_weights(base_weights)              # every run starts from the ImageNet weights
    model = models.add_head(base, n_classes)
    features.copy_head_weights(head, model)
    training.set_trainable_from(model, models.layer_index(model, cut) + 1)
    return keras.Model(model.get_layer(cut).output, model.output)


def run_constant(top, cache: dict[str, Any], seed: int, max_epochs: int) -> dict[str, list[float]]:
    """Fine-tune at a constant 3e-4 with a weight average; record both weights' validation numbers every epoch."""
    import keras

    from benchmarks.recipes import mirrored_batches
    from helpers import training

    keras.utils.set_random_seed(seed)
    compile_for_finetuning(top, training.FINETUNE_LEARNING_RATE, use_ema=True)
    train, val = cache["train"], cache["validation"]
    record: dict[str, list[float]] = {}

    class Record(keras.callbacks.Callback):
        """After Keras has validated the average (SwapEMAWeights), validate the weights themselves."""

        def on_epoch_end(self, epoch, logs=None):
            for key in ("val_loss", "val_accuracy", "val_plain_loss"):
                record.setdefault(f"ema_{key}", []).append(float(logs[key]))
            raw = self.model.evaluate(val["cut"], val["y"], verbose=0, return_dict=True)
            for key in ("loss", "accuracy", "plain_loss"):
                record.setdefault(f"val_{key}", []).append(float(raw[key]))
            record.setdefault("loss", []).append(float(logs["loss"]))
            if all_rules_stopped(record, max_epochs):
                self.model.stop_training = True

    top.fit(mirrored_batches(train["cut"], train["cut_mirror"], train["y"], 32, seed), epochs=max_epochs,
            validation_data=(val["cut"], val["y"]), verbose=0,
            callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch=False), Record()])
    return record


def run_cosine(top, cache: dict[str, Any], seed: int, epochs: int) -> dict[str, list[float]]:
    """Fine-tune with the learning rate decaying from 3e-4 to 0 along a cosine over ``epochs``; keep the last."""
    import math

    import keras

    from benchmarks.recipes import mirrored_batches
    from helpers import training

    keras.utils.set_random_seed(seed)
    train, val = cache["train"], cache["validation"]
    steps = math.ceil(len(train["y"]) / 32)
    schedule = keras.optimizers.schedules.CosineDecay(training.FINETUNE_LEARNING_RATE, decay_steps=epochs * steps)
    compile_for_finetuning(top, schedule, use_ema=False)
    history = top.fit(mirrored_batches(train["cut"], train["cut_mirror"], train["y"], 32, seed), epochs=epochs,
                      validation_data=(val["cut"], val["y"]), verbose=0)
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2, 3], help="training runs (FLOWERS_RUN) per split")
    parser.add_argument("--cosine-epochs", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None, help="default: build/stopping.json")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="combine these reports into --out and print the table")
    args = parser.parse_args(argv)
    if args.merge:
        report = merge(args.merge)
        if args.out:
            args.out.write_text(json.dumps(report, indent=1))
        print(table(report["rows"]))
        return 0

    from helpers.environment import filtered_native_stderr

    with filtered_native_stderr():
        import tensorflow as tf

        from benchmarks import recipes
        from helpers import models, training
        from helpers.config import load_config
    from tools.common import machine_info

    cfg0 = load_config()
    if cfg0.deterministic:
        tf.config.experimental.enable_op_determinism()
    out = args.out or cfg0.build_dir / "stopping.json"
    spec = models.backbone_spec(cfg0)
    rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    started = time.perf_counter()

    def save() -> dict[str, Any]:
        report = {"backbone": cfg0.backbone, "image_size": cfg0.image_size, "profile": cfg0.profile,
                  "deterministic": cfg0.deterministic, "seeds": args.seeds, "runs": args.runs,
                  "machine": machine_info(), "date": time.strftime("%Y-%m-%d"),
                  "seconds": round(time.perf_counter() - started), "rows": rows, "summary": summarise(rows),
                  "records": records}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1))
        return report

    for seed in args.seeds:
        cfg = cfg0.replace(seed=seed)
        t0 = time.perf_counter()
        base, base_weights, cache = recipes.split_cache(cfg, spec.freeze_through)
        print(f"seed {seed}: cached {len(cache['train']['y'])} training photos (and mirrors), "
              f"{len(cache['validation']['y'])} validation photos in {time.perf_counter() - t0:.0f} s", flush=True)
        n_classes = cache["train"]["y"].shape[1]
        for run in args.runs:
            run_seed = cfg.replace(run=run).training_seed
            t0 = time.perf_counter()
            head, head_history = recipes.train_head(cache, training.LABEL_SMOOTHING, models.HEAD_DROPOUT, run_seed,
                                                    cfg.transfer_epochs)
            t1 = time.perf_counter()
            constant = run_constant(top_model(base, base_weights, head, spec.freeze_through, n_classes), cache,
                                    run_seed, cfg.finetune_epochs)
            t2 = time.perf_counter()
            cosine = run_cosine(top_model(base, base_weights, head, spec.freeze_through, n_classes), cache,
                                run_seed, args.cosine_epochs)
            t3 = time.perf_counter()
            common = {"seed": seed, "run": run, "transfer_epochs": len(head_history["val_loss"])}
            for rule, result in read_rules(constant, cfg.finetune_epochs).items():
                rows.append({**common, "rule": rule, **result})
            rows.append({**common, "rule": COSINE.format(epochs=args.cosine_epochs),
                         "val_accuracy": round(cosine["val_accuracy"][-1], 4), "kept_epoch": args.cosine_epochs,
                         "epochs": args.cosine_epochs})
            records.append({**common, "head": head_history, "constant": constant, "cosine": cosine,
                            "seconds": {"head": round(t1 - t0), "constant": round(t2 - t1),
                                        "cosine": round(t3 - t2)}})
            save()
            print(f"seed {seed} run {run}: head {common['transfer_epochs']} epochs ({t1 - t0:.0f} s), constant "
                  f"{len(constant['val_loss'])} epochs ({t2 - t1:.0f} s), cosine {args.cosine_epochs} "
                  f"({t3 - t2:.0f} s)", flush=True)
            for row in rows[-len(RULES) - 1:]:
                print(f"  {row['rule']:<55} val {row['val_accuracy']:.3f} (epoch {row['kept_epoch']} of "
                      f"{row['epochs']})", flush=True)
    report = save()
    print(table(rows))
    print(f"wrote {out} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
