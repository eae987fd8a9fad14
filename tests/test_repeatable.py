"""Repeatable training: the same seed and run give the same weights in two processes; another run does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import copy_synthetic_source

#: What a lesson does, cut short: the setup cell, lesson 02's generators, lesson 04's model, two epochs of
#: fit; for each run named on the command line, in that order, in one process. A run named with a trailing
#: "-" is set up but not trained: its starting weights and its first training batch are what differ.
TRAIN = """
import hashlib, sys
import numpy as np
from helpers.environment import setup
from helpers import data, generators, models, training
def digest(arrays):
    return hashlib.md5(b"".join(np.asarray(a).tobytes() for a in arrays)).hexdigest()
for run in sys.argv[1:]:
    cfg = setup(run=int(run.rstrip("-")))
    gens = generators.make_generators(cfg, data.ensure_split(cfg, verbose=False))
    model, base = models.build_model(cfg, gens.train.num_classes)
    print("RESULT start", digest(model.get_weights()), digest(gens.train[0]))   # random starts, shuffle, flips
    if run.endswith("-"):
        continue
    training.compile_transfer(model)          # the whole model trains: convolutions' gradients too
    from tensorflow.python.framework import config as tf_config   # no public way to ask
    print("RESULT mechanism", tf_config.is_op_determinism_enabled(), gens.train.workers)
    history = model.fit(gens.train, epochs=2, steps_per_epoch=cfg.steps_per_epoch,
                        validation_data=gens.validation, verbose=0)
    print("RESULT weights", digest(model.get_weights()))
    print("RESULT val_loss", repr(history.history["val_loss"]))
"""


def train(tmp_path: Path, process: str, *runs: str) -> list[list[str]]:
    """Set up (and train, see :data:`TRAIN`) each of ``runs`` in turn, in one new Python process.

    Returns each run's RESULT lines, less the mechanism line (checked here).
    """
    env = {**os.environ, "FLOWERS_PROFILE": "smoke", "FLOWERS_BACKBONE": "mobilenet_v2_035",
           "FLOWERS_DATA_DIR": str(tmp_path / "data"), "FLOWERS_BUILD_DIR": str(tmp_path / f"build-{process}"),
           "FLOWERS_SEED": "3", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("FLOWERS_DETERMINISTIC", None)
    env.pop("FLOWERS_RUN", None)
    done = subprocess.run([sys.executable, "-c", TRAIN, *runs], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Repeatable: yes") == len(runs), "the setup cell says that training is repeatable"
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    each: list[list[str]] = []
    for line in lines:
        if line.startswith("RESULT start"):
            each.append([])
        each[-1].append(line)
    assert len(each) == len(runs)
    for run, results in zip(runs, each):
        if not run.endswith("-"):
            assert results[1] == "RESULT mechanism True 1", \
                "op determinism on, one loader thread for the training batches"
            del results[1]
    return each


def test_two_processes_with_the_same_seed_and_run_train_the_same_weights(
        tmp_path: Path, synthetic_source: Path) -> None:
    copy_synthetic_source(synthetic_source, tmp_path / "data")
    first, run_2 = train(tmp_path, "a", "1", "2-")   # run 2 set up after run 1, in the same process
    [again] = train(tmp_path, "b", "1")              # run 1 again, in a fresh process
    assert first == again, "the same seed and run gave other starting weights, batches or trained weights"
    start_1, start_2 = first[0].split(), run_2[0].split()
    assert start_1[2] != start_2[2], "run 2 must start from other random weights"
    assert start_1[3] != start_2[3], "run 2 must shuffle and flip its training photos otherwise"
