"""How fast: images per second through an input pipeline, a training step or a forward pass.

Lesson 02 times the ``ImageDataGenerator`` iterators, lesson 06 a fine-tuning
step, lesson 08 the ``tf.data`` pipeline, a forward pass and an epoch of the
cached-features head; ``python -m benchmarks.bench`` times all of them in one
run. The loaders' timers count every image over a stretch of batches (the
iterator's after a first, untimed batch; the ``tf.data`` one over one whole
pass, so that a cache's first and later passes can be told apart, optionally
after that pass's first, untimed batch). The model
timers leave out a warm-up call (it builds the compiled step) and report the
**median** of repeated compiled calls, which one slow step cannot move.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keras
import numpy as np


def measure_throughput(iterator, batches: int = 10, workers: int = 1) -> float:
    """Images per second that ``iterator`` delivers, loading ``workers`` batches at a time.

    It fetches batches the way ``model.fit`` does with ``iterator.workers``
    threads. The first batch is fetched before the clock starts (warm-up).
    """
    n = len(iterator)
    iterator[0]
    indices = [i % n for i in range(1, batches + 1)]
    start = time.perf_counter()
    if workers <= 1:
        images = sum(len(iterator[i][0]) for i in indices)
    else:
        with ThreadPoolExecutor(workers) as pool:
            images = sum(len(batch[0]) for batch in pool.map(iterator.__getitem__, indices))
    return images / (time.perf_counter() - start)


def measure_dataset_throughput(dataset, warm_up: bool = False) -> float:
    """Images per second over one full pass of a ``tf.data.Dataset``.

    Whole passes only: a cached dataset fills its cache during the first
    pass (decoding every JPEG) and reads from memory afterwards, so call it
    twice to see both speeds. With ``warm_up``, the pass's first batch is
    fetched before the clock starts and its images are not counted.
    """
    batches = iter(dataset)
    if warm_up:
        next(batches, None)
    start = time.perf_counter()
    images = sum(int(x.shape[0]) for x, _ in batches)
    return images / (time.perf_counter() - start)


def seconds_of(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """Seconds one call of ``fn(*args, **kwargs)`` takes, its result dropped.

    One call, no warm-up: make a warm-up call first when the first one builds
    a compiled function (``model.fit`` traces its steps on its first call).
    """
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def _median_rate(call, images: int, repeats: int) -> float:
    """``images`` divided by the median time of ``repeats`` calls of ``call``, after one warm-up call."""
    call()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return images / float(np.median(seconds))


def train_steps_per_second(model, images: np.ndarray, labels: np.ndarray, steps: int = 10) -> float:
    """Lesson 06's timing: images per second of ``model.train_on_batch`` on one batch (median of ``steps``).

    The warm-up step builds the training step; it changes the weights, so time
    a throwaway copy (``keras.models.clone_model``) when the weights matter.
    """
    return _median_rate(lambda: model.train_on_batch(images, labels), len(images), steps)


def forward_per_second(model, images: np.ndarray, batches: int = 10) -> float:
    """Lesson 08's timing: images per second of ``model.predict_on_batch`` (median of ``batches`` calls)."""
    return _median_rate(lambda: model.predict_on_batch(images), len(images), batches)


class EpochTimer(keras.callbacks.Callback):
    """A callback that records each epoch's wall time in ``.seconds`` (a list).

    The first epoch includes building the training step, so compare the later
    ones (or the median) when you want the cost of one epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
