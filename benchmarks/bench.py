"""The course's speed claims, measured in one run on one machine.

The lessons make four claims about training speed on a CPU. This script times
everything those claims rest on, in a single process, so that every ratio
compares numbers taken on the same machine under the same load:

1. **Input pipeline** (images per second at 299 px, batches of 32): the
   augmented ``ImageDataGenerator`` with 1 and with 2 loader threads, the same
   generator without augmentation, and the ``tf.data`` pipeline
   (``helpers.generators.make_datasets``) with and without augmentation.
   ``tf.data`` caches decoded images in memory, so its first pass (every JPEG
   decoded and resized) and its cached pass are reported separately; the
   first pass is the honest cost of epoch one.
2. **Transfer phase**: one epoch through the frozen InceptionV3 base with
   augmentation (``model.fit``, 680 training and 340 validation images)
   against the cached-features route: the frozen base run once over all
   1,360 images without augmentation, then one epoch of the head on the
   2,048-d feature vectors.
3. **Fine-tuning step**: a training step with the course's cut (everything
   through ``mixed8``, InceptionV3's ``BackboneSpec.freeze_through``, frozen;
   BatchNorm frozen) against the original tutorial's
   cut (only ``layers[:18]`` frozen, BatchNorm trainable).
4. **Backbone forward pass** of every network in ``helpers.backbones.BACKBONES``
   at its full-profile input size (``BackboneSpec.image_size``).

From these it computes four ratios, each checked against its target and
reported PASS or FAIL. A missed target is a finding, not an error: the script
exits 0 either way. It prints Markdown tables (ready to paste into a README)
and writes every number, the date and the machine to ``build/bench.json``.

Weights do not change speed, so every network is built with
``weights=None`` and nothing is downloaded. The images are the project's
synthetic flowers drawn at the real photos' size (short side 500 px), in a
data folder of their own (``data/bench/``); they are generated once and reused.
The first call of a compiled Keras function traces it into a graph; every
timing below starts after a warm-up call, so tracing is never counted. The
timers are the lessons' own, from ``helpers.timing``.

``--quick`` runs the same code at toy sizes (64 px photos, 75 px inputs,
batches of 8, 4/2/2 images per class, a couple of batches per measurement) in
well under two minutes; the test suite uses it so that this script cannot
rot. Its numbers mean nothing.

Usage::

    .venv/bin/python -m benchmarks.bench            # or: make bench
    .venv/bin/python -m benchmarks.bench --quick --out /tmp/bench.json --data-dir /tmp/bench-data

Importing this module loads no TensorFlow (``--help`` is quick); ``main``
loads it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import io
import json
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# None of these loads TensorFlow. The helpers that do (features, generators, models,
# timing, training) are imported inside the functions, after main's import_tensorflow().
from helpers import data, synthetic
from helpers.backbones import BACKBONES
from helpers.config import Config, load_config
from helpers.environment import HARMLESS_WARNINGS, import_tensorflow
from helpers.files import write_text_atomic
from tools.common import ROOT, machine_info

#: Section titles of the printed report (the test checks that each one is printed).
SECTIONS: tuple[str, ...] = ("Input pipeline", "Transfer phase", "Fine-tuning step",
                             "Backbone forward pass", "Targets")

#: The synthetic archive's seed (the same drawings as the smoke profile's, only bigger).
ARCHIVE_SEED = 0
#: Records what the bench archive was drawn with, so a change regenerates it.
SOURCE_MARKER = "bench-source.json"
#: Where the data lives unless ``--data-dir`` says otherwise.
DEFAULT_DATA_DIRS = {"full": ROOT / "data" / "bench", "quick": ROOT / "data" / "bench-quick"}
DEFAULT_OUT = ROOT / "build" / "bench.json"

#: Fine-tuning cuts: the course's (InceptionV3's spec: through ``mixed8``) and the original tutorial's.
FINETUNE_FREEZE_THROUGH = BACKBONES["inception_v3"].freeze_through
ORIGINAL_FIRST_TRAINABLE = 18
#: How many transfer epochs the "ten epochs" claim is about.
TRANSFER_EPOCHS = 10


@dataclass(frozen=True)
class Settings:
    """The sizes of one benchmark run."""

    mode: str
    #: Short side of the synthetic photos, in pixels (real Flowers17 photos: 500).
    short_side: int
    #: InceptionV3's input side for the pipeline, transfer and fine-tuning measurements.
    image_size: int
    batch_size: int
    #: Generator batches timed per input-pipeline measurement (after one warm-up batch).
    pipeline_batches: int
    #: Images per class in train, validation and test (the course's split: 40/20/20).
    split_sizes: tuple[int, int, int]
    #: Timed ``train_on_batch`` calls per fine-tuning cut.
    finetune_steps: int
    #: Timed forward batches per backbone.
    forward_batches: int
    #: Backbones at their smoke-profile (smallest) input side (quick) instead of their full-profile one.
    backbone_min_size: bool


FULL = Settings(mode="full", short_side=500, image_size=299, batch_size=32, pipeline_batches=10,
                split_sizes=(40, 20, 20), finetune_steps=5, forward_batches=3, backbone_min_size=False)
QUICK = Settings(mode="quick", short_side=64, image_size=75, batch_size=8, pipeline_batches=2,
                 split_sizes=(4, 2, 2), finetune_steps=2, forward_batches=1, backbone_min_size=True)


@dataclass(frozen=True)
class Target:
    """One claim: ``key`` must reach at least ``target``."""

    key: str
    description: str
    target: float


TARGETS: tuple[Target, ...] = (
    Target("cached_head_epoch_vs_augmented_epoch",
           "Cached head epoch vs augmented transfer epoch (x faster)", 50.0),
    Target("ten_transfer_epochs_cached_vs_augmented",
           "10 transfer epochs: extraction + 10 cached head epochs vs 10 augmented epochs (x faster)", 5.0),
    Target("best_augmented_input_vs_finetune_step",
           "Best augmented input pipeline vs mixed8 fine-tune step (images/s ratio)", 1.5),
    Target("finetune_mixed8_vs_original_cut",
           "Fine-tune step: mixed8 cut vs the original tutorial's layers[:18] cut (x faster)", 2.0),
)


# --------------------------------------------------------------------------- small tools


_T0 = time.perf_counter()


def log(message: str) -> None:
    """Progress goes to stderr (with seconds since start), so stdout holds only the report."""
    print(f"[bench {time.perf_counter() - _T0:6.1f} s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Swallow Keras' "Found N images belonging to 17 classes." lines."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class _NoRetracingWarning(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warning.

    This script builds several models on purpose, and each one traces its
    own functions once; that is what the warning counts.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def warm_up_predict(model, batch: tuple) -> None:
    """Trace ``model.predict`` for iterator input, for full and for partial batches.

    ``predict`` traces once for the first batch shape it sees and once more
    (for any batch size) when a batch of another size arrives, such as a
    split's last, partial batch. Two batches of different sizes, served the
    way an iterator serves them, trigger both traces before the clock starts.
    """
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self, items: list[tuple]) -> None:
            super().__init__()
            self.items = items

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, index: int) -> tuple:
            return self.items[index]

    x, y = batch
    model.predict(Batches([(x, y), (x[:1], y[:1])]), verbose=0)


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


# --------------------------------------------------------------------------- data


def prepare_data(data_dir: Path, settings: Settings, build_dir: Path) -> tuple[Config, Path]:
    """The bench's own smoke-profile data folder, with photo-sized synthetic images; return ``(cfg, split)``.

    ``data_dir/synthetic/`` gets a synthetic ``17flowers.tgz`` drawn with a
    short side of ``settings.short_side`` pixels, its ``.md5`` and
    ``datasplits.mat``. The configuration then "downloads" it over
    ``file://`` and splits it (``settings.split_sizes`` per class) through the course's own
    ``helpers.data.ensure_split``. Everything is reused on the next run; a
    different short side regenerates it.
    """
    source = data_dir / "synthetic"
    marker = source / SOURCE_MARKER
    wanted = {"seed": ARCHIVE_SEED, "short_side": settings.short_side}
    if (source / "17flowers.tgz").exists() and not marker.exists():
        raise SystemExit(f"{data_dir} holds a synthetic archive that bench.py did not make "
                         f"(the course's own data folder?). Pick another --data-dir.")
    current = json.loads(marker.read_text()) if marker.exists() else None
    if current != wanted:  # another short side: drop the archive, its download and split (work_dir)
        for stale in (source, data_dir / "smoke"):
            shutil.rmtree(stale, ignore_errors=True)
    if synthetic.recorded_md5(source) is None:
        log(f"drawing 1,360 synthetic photos (short side {settings.short_side} px) into {source} ...")
    synthetic.ensure_synthetic_source(source, seed=ARCHIVE_SEED, short_side=settings.short_side)
    marker.write_text(json.dumps(wanted) + "\n")
    cfg = load_config(env={}, profile="smoke", data_dir=data_dir, build_dir=build_dir,
                      backbone="inception_v3", image_size=settings.image_size,
                      batch_size=settings.batch_size, split_sizes=settings.split_sizes,
                      deterministic=False)   # speed, not repeatability: loaders in threads, as it always measured
    # None-valued overrides are ignored by load_config, so set these on the result.
    cfg = cfg.replace(weights=None, steps_per_epoch=None)
    assert cfg.synthetic, "the bench data must be the synthetic archive"
    with quiet_stdout():  # get_file's "Downloading data from file://..." and progress bar
        folder = data.ensure_split(cfg, verbose=False)
    return cfg, folder


# --------------------------------------------------------------------------- 1. input pipeline


def bench_input_pipeline(cfg: Config, folder: Path, settings: Settings) -> dict[str, float]:
    """Images per second of every input option over the training images (see the module docstring).

    Each ``tf.data`` pass is a whole epoch (a cache is only kept once a pass
    has read everything); its first batch is a warm-up and is not timed.
    """
    from helpers import generators, timing

    out: dict[str, float] = {}
    n = settings.pipeline_batches
    with quiet_stdout():
        augmented = generators.make_generators(cfg, folder).train
    log("input pipeline: ImageDataGenerator ...")
    out["generator_augmented_1_worker"] = timing.measure_throughput(augmented, n, workers=1)
    out["generator_augmented_2_workers"] = timing.measure_throughput(augmented, n, workers=2)
    with quiet_stdout():
        plain = generators.make_generators(cfg, folder, workers=2, augment_train=False).train
    out["generator_plain_2_workers"] = timing.measure_throughput(plain, n, workers=2)

    log("input pipeline: tf.data (two whole passes each) ...")
    for augment, name in ((True, "augmented"), (False, "plain")):
        train = generators.make_datasets(cfg, folder, augment=augment)["train"]
        first = timing.measure_dataset_throughput(train, warm_up=True)
        cached = timing.measure_dataset_throughput(train, warm_up=True)
        out[f"tf_data_{name}_first_pass"] = first
        out[f"tf_data_{name}_cached_pass"] = cached
        del train
        gc.collect()  # the cache holds every decoded training image
    return out


# --------------------------------------------------------------------------- 2. transfer phase


def bench_transfer(cfg: Config, folder: Path) -> tuple[dict[str, Any], Any, tuple]:
    """Augmented transfer epoch vs feature extraction + cached head epoch.

    Returns the measurements, the InceptionV3 model (reused for fine-tuning)
    and one fixed augmented training batch ``(x, y)``.
    """
    from helpers import features, generators, models, timing, training

    with quiet_stdout():
        gens = generators.make_generators(cfg, folder, workers=2)
    n_train, n_val = gens.train.samples, gens.validation.samples
    spec = BACKBONES["inception_v3"]
    base = spec.build(None, (cfg.image_size, cfg.image_size, 3))
    training.freeze_base(base)
    model = models.add_head(base, gens.train.num_classes)   # one output per class folder
    training.compile_transfer(model)

    log(f"transfer: warm-up, then one augmented epoch ({n_train} + {n_val} images) ...")
    # A one-step fit traces the train and test functions exactly as fit calls them.
    model.fit(gens.train, epochs=1, steps_per_epoch=1, validation_data=gens.validation,
              validation_steps=1, verbose=0)
    epoch_s = timing.seconds_of(model.fit, gens.train, epochs=1, validation_data=gens.validation, verbose=0)

    log("transfer: feature extraction over train + validation + test ...")
    extractor = features.feature_extractor(base)
    with quiet_stdout():
        plain = generators.make_generators(cfg, folder, workers=2, augment_train=False)
    warm_up_predict(extractor, plain.train[0])
    cached: dict[str, Any] = {}
    extraction_s = timing.seconds_of(
        lambda: cached.update({part: features.extract_features(extractor, it) for part, it in plain.all().items()}))

    log("transfer: head epochs on cached features ...")
    train_f, val_f = cached["train"], cached["validation"]
    head = features.feature_head(train_f.x.shape[1], train_f.y.shape[1])
    training.compile_transfer(head)
    fit_head = dict(x=train_f.x, y=train_f.y, batch_size=cfg.batch_size, epochs=1,
                    validation_data=(val_f.x, val_f.y), verbose=0)
    head.fit(**fit_head)  # warm-up epoch (tracing)
    head_epoch_s = timing.seconds_of(head.fit, **fit_head)

    fixed_batch = gens.train[0]
    result = {
        "augmented_epoch_s": epoch_s, "augmented_epoch_train_images": n_train,
        "augmented_epoch_validation_images": n_val,
        "feature_extraction_s": extraction_s,
        "feature_extraction_images": sum(len(f.x) for f in cached.values()),
        "feature_dim": int(train_f.x.shape[1]),
        "cached_head_epoch_s": head_epoch_s, "cached_head_epoch_train_images": len(train_f.x),
        "cached_head_epoch_validation_images": len(val_f.x),
    }
    return result, model, fixed_batch


# --------------------------------------------------------------------------- 3. fine-tuning


def bench_finetune(model, batch: tuple, settings: Settings) -> dict[str, dict[str, float]]:
    """Training-step speed of the course's mixed8 cut and of the original tutorial's ``layers[:18]`` cut.

    The input is one fixed batch, so only the step itself is timed.
    """
    from helpers import models, timing, training

    out: dict[str, dict[str, float]] = {}
    log(f"fine-tune: cut after {FINETUNE_FREEZE_THROUGH} (BatchNorm frozen) ...")
    cut = training.unfreeze_top(model, FINETUNE_FREEZE_THROUGH)
    training.compile_finetune(model)
    out["mixed8"] = {"first_trainable_layer": cut + 1,
                     "trainable_params": models.parameter_counts(model)["trainable"],
                     "images_per_s": timing.train_steps_per_second(model, *batch, steps=settings.finetune_steps)}
    log(f"fine-tune: original cut layers[:{ORIGINAL_FIRST_TRAINABLE}] (BatchNorm trainable) ...")
    training.set_trainable_from(model, ORIGINAL_FIRST_TRAINABLE, keep_batchnorm_frozen=False)
    training.compile_finetune(model)
    out["original_layers18"] = {"first_trainable_layer": ORIGINAL_FIRST_TRAINABLE,
                            "trainable_params": models.parameter_counts(model)["trainable"],
                            "images_per_s": timing.train_steps_per_second(model, *batch, steps=settings.finetune_steps)}
    return out


# --------------------------------------------------------------------------- 4. backbones


def bench_backbones(settings: Settings) -> dict[str, dict[str, float]]:
    """Forward images per second of each registered backbone (base only) on a fixed random batch."""
    import keras

    from helpers import timing

    out: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(0)
    for name, spec in BACKBONES.items():
        size = spec.size_for("smoke" if settings.backbone_min_size else "full")
        log(f"backbone forward: {name} at {size} px ...")
        base = spec.build(None, (size, size, 3))
        x = rng.uniform(-1.0, 1.0, (settings.batch_size, size, size, 3)).astype("float32")
        out[name] = {"input_size": size, "params": int(base.count_params()),
                     "images_per_s": timing.forward_per_second(base, x, batches=settings.forward_batches)}
        del base
        keras.backend.clear_session()
        gc.collect()
    return out


# --------------------------------------------------------------------------- ratios and report


def compute_ratios(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The four claims, from the measurements ``m`` of this run."""
    t, pipe, ft = m["transfer"], m["input_pipeline"], m["finetune"]
    augmented_inputs = {k: v for k, v in pipe.items() if "augmented" in k}
    best_input = max(augmented_inputs, key=augmented_inputs.get)
    values = {
        "cached_head_epoch_vs_augmented_epoch": (t["augmented_epoch_s"] / t["cached_head_epoch_s"], {}),
        "ten_transfer_epochs_cached_vs_augmented": (
            TRANSFER_EPOCHS * t["augmented_epoch_s"]
            / (t["feature_extraction_s"] + TRANSFER_EPOCHS * t["cached_head_epoch_s"]), {}),
        "best_augmented_input_vs_finetune_step": (
            augmented_inputs[best_input] / ft["mixed8"]["images_per_s"],
            # Fine-tuning trains on augmented images, so only augmented pipelines count.
            {"best_input": best_input}),
        "finetune_mixed8_vs_original_cut": (
            ft["mixed8"]["images_per_s"] / ft["original_layers18"]["images_per_s"], {}),
    }
    out = {}
    for target in TARGETS:
        value, extra = values[target.key]
        out[target.key] = {"description": target.description, "value": value, "target": target.target,
                           "passed": bool(value >= target.target), **extra}
    return out


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """A Markdown table; columns after the first are right-aligned."""
    align = "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|"
    lines = ["| " + " | ".join(header) + " |", align]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    """The printed report: one Markdown table per section."""
    s, m, mach = report["settings"], report["measurements"], report["machine"]
    pipe, t, ft = m["input_pipeline"], m["transfer"], m["finetune"]
    px, bs = s["image_size"], s["batch_size"]
    labels = {
        "generator_augmented_1_worker": "ImageDataGenerator, augmented, 1 worker",
        "generator_augmented_2_workers": "ImageDataGenerator, augmented, 2 workers",
        "generator_plain_2_workers": "ImageDataGenerator, no augmentation, 2 workers",
        "tf_data_augmented_first_pass": "tf.data, augmented, first pass (decodes JPEGs)",
        "tf_data_augmented_cached_pass": "tf.data, augmented, cached pass",
        "tf_data_plain_first_pass": "tf.data, no augmentation, first pass (decodes JPEGs)",
        "tf_data_plain_cached_pass": "tf.data, no augmentation, cached pass",
    }
    parts = [
        f"## Benchmark ({report['mode']} mode, {report['date']})",
        f"{mach['cpu_model']}, {mach['usable_cpus']} CPUs, TensorFlow {mach['tensorflow']}, "
        f"Keras {mach['keras']}; synthetic photos, short side {s['short_side']} px; "
        f"load average before/after: {report['load_average_start']} / {report['load_average_end']}.",
        f"### {SECTIONS[0]} ({px} px, batches of {bs})",
        _table(("option", "images/s"), [(labels.get(k, k), f"{v:,.1f}") for k, v in pipe.items()]),
        f"### {SECTIONS[1]} (frozen InceptionV3, {px} px)",
        _table(("step", "images", "seconds"), [
            ("one augmented epoch (fit: train + validation)",
             t["augmented_epoch_train_images"] + t["augmented_epoch_validation_images"],
             f"{t['augmented_epoch_s']:.2f}"),
            ("feature extraction, once (train + validation + test)", t["feature_extraction_images"],
             f"{t['feature_extraction_s']:.2f}"),
            (f"one head epoch on cached {t['feature_dim']}-d features",
             t["cached_head_epoch_train_images"] + t["cached_head_epoch_validation_images"],
             f"{t['cached_head_epoch_s']:.3f}"),
        ]),
        f"### {SECTIONS[2]} (InceptionV3, {px} px, batches of {bs})",
        _table(("cut", "trainable parameters", "images/s"), [
            (f"after {FINETUNE_FREEZE_THROUGH}, BatchNorm frozen", f"{ft['mixed8']['trainable_params']:,}",
             f"{ft['mixed8']['images_per_s']:,.1f}"),
            (f"original tutorial: layers[:{ORIGINAL_FIRST_TRAINABLE}] frozen, BatchNorm trainable",
             f"{ft['original_layers18']['trainable_params']:,}", f"{ft['original_layers18']['images_per_s']:,.1f}"),
        ]),
        f"### {SECTIONS[3]} (base only, batches of {bs})",
        _table(("backbone", "input px", "parameters", "images/s"), [
            (name, b["input_size"], f"{b['params']:,}", f"{b['images_per_s']:,.1f}")
            for name, b in m["backbones"].items()]),
        f"### {SECTIONS[4]}",
        _table(("claim", "measured", "target", "result"), [
            (r["description"] + (f" [{labels.get(r['best_input'], r['best_input'])}]" if "best_input" in r else ""),
             f"{r['value']:,.2f}x", f">= {r['target']:g}x", "PASS" if r["passed"] else "FAIL")
            for r in report["ratios"].values()]),
    ]
    if report["mode"] == "quick":
        parts.append("_Quick mode: toy sizes to check that the script runs; the numbers mean nothing._")
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="toy sizes (75 px, batches of 8) to check that the script runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="bench data folder (default data/bench, or data/bench-quick with --quick)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure everything, print the report, write the JSON; always 0 unless something crashes."""
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    data_dir = (args.data_dir or DEFAULT_DATA_DIRS[settings.mode]).expanduser().resolve()
    out = args.out.expanduser().resolve()
    start = time.perf_counter()
    import_tensorflow()  # before any helper loads TensorFlow: it hides TensorFlow's start-up noise
    import keras

    for message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    warnings.filterwarnings("ignore", message="Please import `affine_transform`", category=DeprecationWarning)
    logging.getLogger("tensorflow").addFilter(_NoRetracingWarning())

    load_start = load_average()
    cfg, folder = prepare_data(data_dir, settings, build_dir=out.parent)
    keras.utils.set_random_seed(cfg.seed)
    log(f"data ready: {folder}")

    measurements: dict[str, Any] = {"input_pipeline": bench_input_pipeline(cfg, folder, settings)}
    measurements["transfer"], model, batch = bench_transfer(cfg, folder)
    measurements["finetune"] = bench_finetune(model, batch, settings)
    del model
    keras.backend.clear_session()
    gc.collect()
    measurements["backbones"] = bench_backbones(settings)

    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": settings.mode,
        "machine": machine_info(frameworks=True),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "settings": {**asdict(settings), "data_dir": str(data_dir),
                     "transfer_epochs_compared": TRANSFER_EPOCHS},
        "measurements": measurements,
        "ratios": compute_ratios(measurements),
    }
    report["wall_s"] = time.perf_counter() - start
    print(format_report(report))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(report, indent=2) + "\n")
    log(f"wrote {out} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
