"""Repeatable training: the same seed and run give the same weights in two processes; another run does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import copy_synthetic_source

#: What a lesson does, cut short: the setup cell, lesson 02's generators, lesson 04's model, two epochs of fit.
TRAIN = """
import hashlib
import numpy as np
from helpers.environment import setup
from helpers import data, generators, models, training
cfg = setup()
gens = generators.make_generators(cfg, data.ensure_split(cfg, verbose=False))
model, base = models.build_model(cfg, gens.train.num_classes)
training.compile_transfer(model)          # the whole model trains: convolutions' gradients too
from tensorflow.python.framework import config as tf_config   # no public way to ask
print("RESULT mechanism", tf_config.is_op_determinism_enabled(), gens.train.workers)
history = model.fit(gens.train, epochs=2, steps_per_epoch=cfg.steps_per_epoch, validation_data=gens.validation,
                    verbose=0)
print("RESULT weights", hashlib.md5(b"".join(np.asarray(w).tobytes() for w in model.get_weights())).hexdigest())
print("RESULT val_loss", repr(history.history["val_loss"]))
"""


def train(tmp_path: Path, run: int) -> list[str]:
    env = {**os.environ, "FLOWERS_PROFILE": "smoke", "FLOWERS_BACKBONE": "mobilenet_v2_035",
           "FLOWERS_DATA_DIR": str(tmp_path / "data"), "FLOWERS_BUILD_DIR": str(tmp_path / f"build-{run}"),
           "FLOWERS_SEED": "3", "FLOWERS_RUN": str(run), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("FLOWERS_DETERMINISTIC", None)
    done = subprocess.run([sys.executable, "-c", TRAIN], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert "Repeatable: yes" in done.stdout, "the setup cell says that training is repeatable"
    assert len(lines) == 3
    assert lines[0] == "RESULT mechanism True 1", "op determinism on, one loader thread for the training batches"
    return lines[1:]


def test_two_processes_with_the_same_seed_and_run_train_the_same_weights(
        tmp_path: Path, synthetic_source: Path) -> None:
    copy_synthetic_source(synthetic_source, tmp_path / "data")
    first, again, run_2 = train(tmp_path, 1), train(tmp_path, 1), train(tmp_path, 2)
    assert first == again, "the same seed and run gave other weights"
    assert first[0] != run_2[0], "run 2 must train from other random starts, shuffles and flips"
