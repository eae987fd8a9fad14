"""The timers: warm-up left out, the median of compiled calls, the same method as the lessons that teach it."""

from __future__ import annotations

import numpy as np
import pytest
from support import lesson_cell, run_cell

from helpers import timing


class ScriptedClock:
    """``time.perf_counter`` that advances by the given step durations, one per timed call."""

    def __init__(self, durations: list[float]) -> None:
        self.durations, self.now, self.calls = list(durations), 0.0, 0

    def tick(self) -> None:  # one call of the timed function
        self.now += self.durations[self.calls]
        self.calls += 1

    def __call__(self) -> float:
        return self.now


class FakeModel:
    """A model whose every train or predict call takes the next scripted duration."""

    def __init__(self, clock: ScriptedClock) -> None:
        self.clock, self.trained, self.predicted = clock, 0, 0

    def train_on_batch(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.trained += 1
        self.clock.tick()

    def predict_on_batch(self, images: np.ndarray) -> None:
        self.predicted += 1
        self.clock.tick()

    def compile(self, **settings: object) -> None:
        """Lesson 06 compiles its timing copy inline; compiling takes no scripted time."""


# The warm-up (100 s, a first call that builds the step) and one slow step (9 s) do not count:
# the median of the timed 0.5, 0.5, 9, 0.4, 0.5 is 0.5 s, so a batch of 8 images runs at 16 images/s.
DURATIONS = [100.0, 0.5, 0.5, 9.0, 0.4, 0.5]


def test_train_steps_per_second_is_the_median_step_after_a_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ScriptedClock(DURATIONS)
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    model = FakeModel(clock)
    assert timing.train_steps_per_second(model, np.zeros((8, 2)), np.zeros((8, 17)), steps=5) == 16.0
    assert model.trained == 6


def test_forward_per_second_is_the_median_call_after_a_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ScriptedClock(DURATIONS)
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    model = FakeModel(clock)
    assert timing.forward_per_second(model, np.zeros((8, 2)), batches=5) == 16.0
    assert model.predicted == 6


def test_lesson_06_times_a_step_the_way_train_steps_per_second_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lesson 06's inline timing, run on a fake model, gives the helper's number."""
    import time

    import keras

    from helpers import training

    clock = ScriptedClock(DURATIONS + DURATIONS)
    monkeypatch.setattr(time, "perf_counter", clock)
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    fake = FakeModel(clock)
    monkeypatch.setattr(keras.models, "clone_model", lambda model: fake)
    batch = (np.zeros((8, 2)), np.zeros((8, 17)))
    source = lesson_cell("06", "def images_per_second(").split("if compare_speed:")[0]
    ns = run_cell(source, {"keras": keras, "gens": type("G", (), {"train": [batch]})(), "training": training,
                           "learning_rate": training.FINETUNE_LEARNING_RATE})
    lesson = ns["images_per_second"](None, steps=5)
    helper = timing.train_steps_per_second(fake, *batch, steps=5)
    assert lesson == helper == 16.0


def test_lesson_08_times_a_forward_pass_the_way_forward_per_second_does(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    clock = ScriptedClock(DURATIONS + DURATIONS)
    monkeypatch.setattr(time, "perf_counter", clock)
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    fake = FakeModel(clock)

    class Spec:
        image_size = 2

        def build(self, weights: object, shape: tuple[int, int, int]) -> FakeModel:
            return fake

        def preprocess(self, x: np.ndarray) -> np.ndarray:
            return x

    source = lesson_cell("08", "def forward_images_per_second(").split("if compare_backbones:")[0]
    ns = run_cell(source, {"np": np, "time": time})
    lesson = ns["forward_images_per_second"](Spec(), batch_size=8, batches=5)
    helper = timing.forward_per_second(fake, np.zeros((8, 2, 2, 3)), batches=5)
    assert lesson == helper == 16.0


def test_the_epoch_timer_records_each_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 1.5, 2.0, 2.25])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = timing.EpochTimer()
    for epoch in range(2):
        timer.on_epoch_begin(epoch)
        timer.on_epoch_end(epoch)
    assert timer.seconds == [1.5, 0.25]
