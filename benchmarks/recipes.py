"""The recipe's choices, measured on validation over several splits and training runs.

Lessons 04-06 make three choices that one training run on one split cannot
settle: Dropout in the head (lesson 04), label smoothing (lesson 05) and the
fine-tuning learning rate (lesson 06). This script measures each on the
**validation** sets of several seeded splits (default seeds 1, 2, 3), with
several training runs per split (default 2), and writes the kept epoch's
validation accuracy of every run, with the mean and spread of each setting.
The test photos are never read.

It trains exactly what the lessons train, only faster, by caching what the
frozen layers compute:

- **Head** (lessons 04-05): the frozen base's pooled features of every
  training photo *and of its mirror image*. Each epoch, every photo is shown
  as itself or mirrored, with even odds: lesson 02's augmentation (a mirror
  and nothing else), so the head sees what lesson 05's generator gives it.
  Adam at 1e-3, early stopping on the validation loss (patience 5), the best
  epoch kept: lesson 05's callbacks.
- **Fine-tuning** (lesson 06): below the cut (``BackboneSpec.freeze_through``)
  every layer is frozen and BatchNormalization runs in inference mode, so the
  activations at the cut are the same in every epoch. They are computed once
  (for the photos and their mirrors) and the layers above the cut train on
  them, from the default head trained above. Both learning rates get the same
  patience (lesson 06's, 10 epochs), so the learning rate is the only change.

Usage (the real photos and weights, offline, as ``../shared/real-run`` sets them up)::

    FLOWERS_PROFILE=full FLOWERS_BACKBONE=mobilenet_v2_035 KERAS_HOME=... FLOWERS17_URL=file://... \\
        .venv/bin/python -m benchmarks.recipes [--seeds 1 2 3] [--runs 2] [--out build/recipes.json]
    .venv/bin/python -m benchmarks.recipes --merge build/recipes-seed1.json build/recipes-seed2.json ...

Importing this module loads no TensorFlow; ``main`` loads it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

#: The head settings compared: (label smoothing, Dropout rate).
HEAD_SETTINGS: dict[str, tuple[float, float]] = {
    "smoothing 0.1, dropout 0.5 (the course)": (0.1, 0.5),
    "smoothing 0, dropout 0.5": (0.0, 0.5),
    "smoothing 0.1, no dropout": (0.1, 0.0),
    "smoothing 0, no dropout": (0.0, 0.0),
}
#: The fine-tuning learning rates compared, at the same patience.
FINETUNE_RATES: tuple[float, ...] = (1e-4, 3e-4)


def mirrored_batches(x, x_mirror, y, batch_size: int, seed: int):
    """A ``tf.data.Dataset`` that shows each example or its mirror, with even odds, reshuffled each epoch."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, x_mirror, y)).shuffle(len(y), seed=seed,
                                                                     reshuffle_each_iteration=True)
    rng = tf.random.Generator.from_seed(seed)

    def pick(a, b, label):
        return tf.where(rng.uniform(()) < 0.5, a, b), label

    return ds.map(pick).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def kept_val_accuracy(history: dict[str, list[float]]) -> tuple[float, int]:
    """The validation accuracy of the epoch early stopping keeps (lowest validation loss), and its index."""
    from helpers.training import best_epoch

    i = best_epoch(history)
    return float(history["val_accuracy"][i]), i


def cache_split(cfg, base, cut: str) -> dict[str, Any]:
    """Pooled features and activations at ``cut`` of the training photos, their mirrors, and validation."""
    import keras
    import numpy as np

    from helpers import data, generators

    folder = data.ensure_split(cfg, verbose=False)
    plain = generators.make_generators(cfg, folder, augment_train=False)
    at_cut = keras.Model(base.input, base.get_layer(cut).output)
    pool = keras.layers.GlobalAveragePooling2D()
    top = keras.Model(base.get_layer(cut).output, base.output)
    out: dict[str, Any] = {}
    for part, iterator in (("train", plain.train), ("validation", plain.validation)):
        acts, acts_mirror = [], []
        for i in range(len(iterator)):
            batch, _ = iterator[i]
            acts.append(at_cut.predict_on_batch(batch))
            if part == "train":
                acts_mirror.append(at_cut.predict_on_batch(batch[:, :, ::-1, :]))   # the mirror image
        out[part] = {"cut": np.concatenate(acts),
                     "y": keras.utils.to_categorical(iterator.classes, plain.train.num_classes)}
        if acts_mirror:
            out[part]["cut_mirror"] = np.concatenate(acts_mirror)
        for key in [k for k in out[part] if k.startswith("cut")]:
            pooled = [np.asarray(pool(top.predict_on_batch(a))) for a in np.array_split(out[part][key], 20)]
            out[part][key.replace("cut", "features")] = np.concatenate(pooled)
    return out


def split_cache(cfg, cut: str) -> tuple[Any, list, dict[str, Any]]:
    """``(base, its ImageNet weights, cache_split(...))`` for ``cfg``'s split, in a fresh Keras session."""
    import keras

    from helpers import models

    keras.backend.clear_session()
    base = models.load_base(cfg)
    return base, base.get_weights(), cache_split(cfg, base, cut)


def train_head(cache: dict[str, Any], smoothing: float, dropout: float, seed: int, epochs: int):
    """Lesson 05's transfer phase on cached features with mirroring; returns the head and its history."""
    import keras

    from helpers import features

    keras.utils.set_random_seed(seed)
    train, val = cache["train"], cache["validation"]
    head = features.feature_head(train["features"].shape[1], train["y"].shape[1], dropout=dropout)
    head.compile(optimizer=keras.optimizers.Adam(1e-3),
                 loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing), metrics=["accuracy"])
    history = head.fit(mirrored_batches(train["features"], train["features_mirror"], train["y"], 32, seed),
                       epochs=epochs, verbose=0, validation_data=(val["features"], val["y"]),
                       callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=5,
                                                                restore_best_weights=True)])
    return head, dict(history.history)


def finetune_top(base, base_weights: list, head, cache: dict[str, Any], cut: str, learning_rate: float,
                 seed: int, epochs: int, patience: int) -> dict[str, list[float]]:
    """Lesson 06's fine-tuning of the layers above ``cut`` (BatchNorm frozen), on cached activations."""
    import keras

    from helpers import features, models, training

    keras.utils.set_random_seed(seed)
    base.set_weights(base_weights)              # every run starts from the ImageNet weights
    model = models.add_head(base, cache["train"]["y"].shape[1])
    features.copy_head_weights(head, model)
    training.set_trainable_from(model, models.layer_index(model, cut) + 1)
    top = keras.Model(model.get_layer(cut).output, model.output)
    training.compile_finetune(top, learning_rate)
    train, val = cache["train"], cache["validation"]
    history = top.fit(mirrored_batches(train["cut"], train["cut_mirror"], train["y"], 32, seed),
                      epochs=epochs, verbose=0, validation_data=(val["cut"], val["y"]),
                      callbacks=[*([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)]
                                   if training.averages_weights(top) else []),   # lesson 06 averages the weights
                                 keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                               restore_best_weights=True)])
    return dict(history.history)


def summarise(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation and count of the kept validation accuracy per setting."""
    out = {}
    for setting in dict.fromkeys(r[key] for r in rows):
        values = [r["val_accuracy"] for r in rows if r[key] == setting]
        out[str(setting)] = {"mean": statistics.fmean(values),
                             "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}
    return out


def per_seed_table(rows: list[dict[str, Any]], key: str) -> str:
    """A Markdown table: one row per setting, the mean over runs for each seed, then the mean and std of all runs."""
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| setting | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | std | runs |",
             "|---|" + "---:|" * (len(seeds) + 3)]
    for setting, s in summarise(rows, key).items():
        cells = [statistics.fmean(r["val_accuracy"] for r in rows if str(r[key]) == setting and r["seed"] == seed)
                 for seed in seeds]
        lines.append(f"| {setting} | " + " | ".join(f"{c:.3f}" for c in cells)
                     + f" | {s['mean']:.3f} | {s['std']:.3f} | {s['n']} |")
    return "\n".join(lines)


def merge(paths: list[Path]) -> dict[str, Any]:
    """The rows of several reports (one per seed, say), with their summaries recomputed."""
    reports = [json.loads(Path(p).read_text()) for p in paths]
    head = [row for r in reports for row in r["head"]["rows"]]
    finetune = [row for r in reports for row in r["finetune"]["rows"]]
    return {"merged_from": [str(p) for p in paths],
            "head": {"rows": head, "summary": summarise(head, "setting")},
            "finetune": {"rows": finetune, "summary": summarise(finetune, "learning_rate")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--runs", type=int, default=2, help="training runs per split and setting")
    parser.add_argument("--out", type=Path, default=None, help="default: build/recipes.json")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="combine these reports (runs of single seeds, say) into --out and print the tables")
    args = parser.parse_args(argv)
    if args.merge:
        report = merge(args.merge)
        if args.out:
            args.out.write_text(json.dumps(report, indent=1))
        print(per_seed_table(report["head"]["rows"], "setting"), end="\n\n")
        print(per_seed_table(report["finetune"]["rows"], "learning_rate"))
        return 0

    from helpers.environment import filtered_native_stderr

    with filtered_native_stderr():

        from helpers import models, training
        from helpers.config import load_config
    from tools.common import machine_info

    cfg0 = load_config()
    out = args.out or cfg0.build_dir / "recipes.json"
    spec = models.backbone_spec(cfg0)
    head_rows: list[dict[str, Any]] = []
    finetune_rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    def save() -> dict[str, Any]:
        """Write what has been measured so far (an interrupted run keeps its rows)."""
        report = {
            "backbone": cfg0.backbone, "image_size": cfg0.image_size, "profile": cfg0.profile,
            "seeds": args.seeds, "runs": args.runs, "machine": machine_info(),
            "seconds": round(time.perf_counter() - started), "date": time.strftime("%Y-%m-%d"),
            "head": {"rows": head_rows, "summary": summarise(head_rows, "setting")},
            "finetune": {"patience": training.FINETUNE_PATIENCE, "rows": finetune_rows,
                         "summary": summarise(finetune_rows, "learning_rate")},
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1))
        return report

    for seed in args.seeds:
        cfg = cfg0.replace(seed=seed)
        base, base_weights, cache = split_cache(cfg, spec.freeze_through)
        print(f"seed {seed}: cached {len(cache['train']['y'])} training photos (and mirrors), "
              f"{len(cache['validation']['y'])} validation photos", flush=True)
        for run in range(args.runs):
            run_seed = 1000 * seed + run
            default_head = None
            for name, (smoothing, dropout) in HEAD_SETTINGS.items():
                head, history = train_head(cache, smoothing, dropout, run_seed, cfg.transfer_epochs)
                acc, epoch = kept_val_accuracy(history)
                head_rows.append({"seed": seed, "run": run, "setting": name, "val_accuracy": acc,
                                  "kept_epoch": epoch + 1, "epochs": len(history["val_loss"])})
                save()
                print(f"  run {run} head {name:<42} val {acc:.3f} (epoch {epoch + 1})", flush=True)
                if default_head is None:
                    default_head = head
            for rate in FINETUNE_RATES:
                start = time.perf_counter()
                history = finetune_top(base, base_weights, default_head, cache, spec.freeze_through, rate, run_seed,
                                       cfg.finetune_epochs, training.FINETUNE_PATIENCE)
                acc, epoch = kept_val_accuracy(history)
                finetune_rows.append({"seed": seed, "run": run, "learning_rate": rate, "val_accuracy": acc,
                                      "kept_epoch": epoch + 1, "epochs": len(history["val_loss"]),
                                      "seconds": round(time.perf_counter() - start)})
                save()
                print(f"  run {run} fine-tune at {rate:g} (patience {training.FINETUNE_PATIENCE})"
                      f"{'':<14} val {acc:.3f} (epoch {epoch + 1} of {len(history['val_loss'])}, "
                      f"{finetune_rows[-1]['seconds']} s)", flush=True)
    report = save()
    for part in ("head", "finetune"):
        for setting, s in report[part]["summary"].items():
            print(f"{part:<8} {setting:<42} {s['mean']:.3f} ± {s['std']:.3f} (n={s['n']})")
    print(f"wrote {out} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
