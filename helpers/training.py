"""Lessons 05 and 06: freezing, compiling, callbacks and the two training phases.

Phase 1, **transfer learning**: the whole base is frozen and only the new head
trains (Adam, learning rate 1e-3).

Phase 2, **fine-tuning**: the top blocks (after ``mixed8`` for InceptionV3)
train too, slowly (Adam again, at a lower learning rate, 3e-4, with more
patience: 10 epochs). BatchNormalization layers stay frozen. Its optimizer
keeps a moving average of the weights (``use_ema=True``), and validation,
checkpoints and early stopping all use that average (``SwapEMAWeights``):
lesson 06 measured it as the choice that noise steers least.

Both phases keep the epoch with the lowest **validation loss**: a validation
accuracy moves in steps of one photo and ties are common, while the loss keeps
telling a better model from a worse one. Both write, under ``build/models/``
and ``build/logs/`` (:mod:`helpers.runs` names the files): that best model
(``ModelCheckpoint``, ``.keras``) and the per-epoch history (``CSVLogger``),
so results survive a kernel restart.
A run trains into unfinished files (:func:`helpers.runs.begin_phase`) that
replace the last finished model and log only when it ends
(:func:`helpers.runs.finish_phase`): a rerun never mixes two runs' states,
and an interrupted one loses nothing that had finished.
"""

from __future__ import annotations

import csv
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import layers

from helpers.config import Config
from helpers.errors import FlowersError
from helpers.locks import release
from helpers.models import layer_index
from helpers.runs import (
    begin_phase,
    check_identity,
    finish_phase,
    interrupted_note,
    log_path,
    model_path,
    phase_lesson,
    read_record,
    unfinished_path,
)


def distribution_strategy(devices: list[str] | None = None):
    """``MirroredStrategy`` over all GPUs when there are several, else the default strategy.

    Build, compile and load models inside ``strategy.scope()``. Each replica
    gets ``cfg.batch_size`` images, so the generators serve
    :func:`global_batch_size` images per step.

    Args:
        devices: The devices to mirror over (default: every visible GPU).
    """
    if devices is None:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def global_batch_size(cfg: Config, strategy) -> int:
    """Images per training step: the per-replica batch size times the number of replicas."""
    return cfg.batch_size * strategy.num_replicas_in_sync


def apply_precision(cfg: Config) -> str:
    """Set Keras' global dtype policy from the configuration and return its name.

    ``mixed_float16`` computes in float16 and keeps weights in float32; it pays
    off on GPUs with tensor cores. On a CPU it is slower, so it is refused
    with a warning. The head's output layer always computes in float32
    (see :func:`helpers.models.add_head`), which keeps the softmax stable.
    """
    policy = "float32"
    if cfg.mixed_precision:
        if tf.config.list_physical_devices("GPU"):
            policy = "mixed_float16"
        else:
            warnings.warn("FLOWERS_MIXED_PRECISION is set, but there is no GPU: training in float32.",
                          stacklevel=2)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def freeze_base(base) -> None:
    """Phase 1: make every layer of the base non-trainable (the original tutorial's ``setup_to_transfer_learning``)."""
    base.trainable = False
    for layer in base.layers:
        layer.trainable = False


def unfreeze_top(model, freeze_through: str = "mixed8", keep_batchnorm_frozen: bool = True) -> int:
    """Phase 2: freeze ``model.layers[: index(freeze_through) + 1]``, train the rest.

    BatchNormalization layers stay frozen (inference mode, statistics kept)
    unless ``keep_batchnorm_frozen`` is False. Returns the index of the cut.
    Compile again afterwards: a model that has trained keeps its training step,
    which updates the weights that were trainable when it was built.
    """
    cut = layer_index(model, freeze_through)
    set_trainable_from(model, cut + 1, keep_batchnorm_frozen)
    return cut


def set_trainable_from(model, first_trainable: int, keep_batchnorm_frozen: bool = True) -> None:
    """Freeze ``model.layers[:first_trainable]`` and unfreeze the rest (BatchNorm optionally kept frozen)."""
    model.trainable = True
    for i, layer in enumerate(model.layers):
        frozen = i < first_trainable or (keep_batchnorm_frozen and isinstance(layer, layers.BatchNormalization))
        layer.trainable = not frozen


#: Label smoothing of the cross-entropy in both phases (lesson 05 explains it).
LABEL_SMOOTHING = 0.1


def _compile(model, learning_rate: float, average_weights: bool = False) -> None:
    """Adam at ``learning_rate`` (keeping a moving average of the weights if asked), cross-entropy with label
    smoothing, accuracy: both phases' settings."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, use_ema=average_weights),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING),
                  metrics=["accuracy"])


def compile_transfer(model, learning_rate: float = 1e-3) -> None:
    """Compile for phase 1: Adam at 1e-3, cross-entropy with label smoothing, accuracy."""
    _compile(model, learning_rate)


#: Phase 2's learning rate (lesson 06 explains the measurement behind it).
FINETUNE_LEARNING_RATE = 3e-4


def compile_finetune(model, learning_rate: float = FINETUNE_LEARNING_RATE) -> None:
    """Compile for phase 2: the same Adam and loss, at a lower learning rate (3e-4), averaging the weights.

    The optimizer keeps an exponential moving average of the weights
    (``use_ema=True``, Keras' default momentum 0.99: roughly the last 100
    steps). The average does not steer the training; :func:`make_callbacks`
    with ``average_weights=True`` makes validation, the checkpoint and early
    stopping use the average, and :func:`fit_phase` does so by itself.
    """
    _compile(model, learning_rate, average_weights=True)


#: Epochs without a lower validation loss before EarlyStopping ends the transfer phase.
PATIENCE = 5
#: The same for fine-tuning, whose validation loss improves in smaller steps (lesson 06).
FINETUNE_PATIENCE = 10


def make_callbacks(cfg: Config, phase: str, patience: int = PATIENCE,
                   average_weights: bool = False) -> list[object]:
    """ModelCheckpoint and EarlyStopping on the validation loss (best weights restored), CSVLogger.

    With ``average_weights`` (for an optimizer with ``use_ema=True``, as
    :func:`compile_finetune` makes it), ``SwapEMAWeights(swap_on_epoch=True)``
    comes first: every epoch is validated with the averaged weights, and the
    callbacks after it save, keep and restore the averaged weights. The
    restore matters: when ``fit`` ends, the optimizer writes its average slots
    into the model, and those hold the weights themselves while the average
    is swapped in, so ``EarlyStopping(restore_best_weights=True)`` is what
    leaves the kept average in the model. For the same reason a saved
    checkpoint's optimizer state is swapped: evaluate and predict with it,
    but do not resume training from it.

    They write the unfinished files of the run :func:`helpers.runs.begin_phase`
    started; :func:`helpers.runs.finish_phase` puts them in place.
    """
    checkpoint, log = unfinished_path(model_path(cfg, phase)), unfinished_path(log_path(cfg, phase))
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    averaging = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if average_weights else []
    return [
        *averaging,
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        keras.callbacks.CSVLogger(str(log)),
    ]


def averages_weights(model) -> bool:
    """Whether ``model``'s optimizer keeps a moving average of its weights (``use_ema=True``)."""
    optimizer = getattr(model, "optimizer", None)
    return bool(getattr(optimizer, "use_ema", False))


def best_epoch(history: dict[str, list[float]]) -> int:
    """The index of the epoch the callbacks keep: the lowest validation loss (first one on a tie)."""
    losses = history["val_loss"]
    return min(range(len(losses)), key=losses.__getitem__)


@dataclass
class PhaseResult:
    """What one call of :func:`fit_phase` did."""

    phase: str
    history: dict[str, list[float]]
    initial_epoch: int
    epochs_run: int
    seconds: float

    @property
    def best_val_accuracy(self) -> float:
        """The validation accuracy of the kept epoch (the lowest validation loss)."""
        return self.history["val_accuracy"][best_epoch(self.history)]


def fit_phase(cfg: Config, model, gens, phase: str, epochs: int, initial_epoch: int = 0,
              patience: int = PATIENCE, verbose: int | str = "auto",
              class_weight: dict[int, float] | None = None) -> PhaseResult:
    """Train ``model`` for ``epochs`` more epochs, numbered from ``initial_epoch``.

    Validation covers the whole validation set each epoch. ``steps_per_epoch``
    is the configuration's (``None``: a full pass, ``ceil(samples / batch)``).
    When the model's optimizer averages its weights (:func:`compile_finetune`),
    validation and the kept model use the average (:func:`make_callbacks`).
    The run trains into unfinished files, which replace the phase's last
    finished ones when it ends (:func:`helpers.runs.begin_phase`,
    :func:`helpers.runs.finish_phase`). It holds the build folder's lock
    meanwhile, and gives it back when ``fit`` stops with an error or an interrupt.
    ``class_weight`` (``{class index: weight}``) goes to ``fit`` as it is.
    """
    begin_phase(cfg, phase)
    start = time.perf_counter()
    try:
        history = model.fit(
            gens.train, epochs=initial_epoch + epochs, initial_epoch=initial_epoch,
            steps_per_epoch=cfg.steps_per_epoch, validation_data=gens.validation,
            callbacks=make_callbacks(cfg, phase, patience, average_weights=averages_weights(model)),
            verbose=verbose, class_weight=class_weight,
        )
    except BaseException:
        release(cfg.build_dir)   # an interrupted run ends here: other lessons need not wait for this kernel
        raise
    seconds = time.perf_counter() - start
    finish_phase(cfg, phase)
    return PhaseResult(phase, dict(history.history), initial_epoch, len(history.epoch), seconds)


def read_log(cfg: Config, phase: str) -> dict[str, list[float]]:
    """The CSV history of ``phase`` as ``{"epoch": [...], "accuracy": [...], ...}``.

    Raises:
        FlowersError: when the phase has not been run yet, its log is damaged,
            or it belongs to another split or run (:func:`helpers.runs.check_identity`).
    """
    path, lesson = log_path(cfg, phase), phase_lesson(phase)
    if not path.exists():
        raise FlowersError(f"No {phase} history at {path}. Run lesson {lesson} first.")
    check_identity(cfg, phase)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise FlowersError(f"The {phase} history at {path} is empty (an interrupted run?). "
                           f"Run lesson {lesson} again.")
    try:
        return {key: [float(r[key]) for r in rows] for key in rows[0]}
    except (TypeError, ValueError):  # a short last row gives None, a cut number ""
        raise FlowersError(f"The {phase} history at {path} is damaged: a row is incomplete (an interrupted "
                           f"run?). Run lesson {lesson} again.") from None


@contextmanager
def phase_model_help(cfg: Config, phase: str) -> Iterator[dict[str, object]]:
    """Wrap the ``keras.models.load_model`` call of ``phase``'s saved model: one clear message when it cannot be used.

    Lesson 06 wraps its own ``load_model`` call in it; :func:`load_phase_model` does too.
    Before the call it stops when the model is missing or belongs to another
    split or run (:func:`helpers.runs.check_identity`); a file the call cannot
    read (cut off by an interrupted run, say) becomes a message too. When a
    run of the phase started and has not finished, a sentence says that the
    last finished model is the one loaded.

    Yields:
        the model's record (:func:`helpers.runs.read_record`), read with the
        model: what a phase built on it records as its origin
        (:func:`helpers.runs.begin_phase`).

    Raises:
        FlowersError: for those cases, naming the lesson to run (again), and
            when another run put a new model in place while this one was read.
    """
    path, lesson = model_path(cfg, phase), phase_lesson(phase)
    note = interrupted_note(cfg, phase)
    if note is not None:
        print(note)
    if not path.exists():
        raise FlowersError(f"This lesson needs the {phase} model ({path}), which does not exist yet. "
                           f"Run lesson {lesson} first.")
    check_identity(cfg, phase)
    record = read_record(cfg, phase)
    try:
        yield record
    except FlowersError:
        raise
    except Exception as exc:
        raise FlowersError(f"The saved {phase} model {path} cannot be read ({type(exc).__name__}); it is "
                           f"probably damaged, by an interrupted run for example. Run lesson {lesson} "
                           f"again.") from None
    if read_record(cfg, phase).get("run") != record.get("run"):
        raise FlowersError(f"Lesson {lesson} put a new {phase} model in place while this cell was loading "
                           f"the earlier one: run this cell again.")


def load_phase_model(cfg: Config, phase: str):
    """Load the best model ``phase`` saved, checking it fits the configuration.

    A model saved without compile settings (lesson 05's linear probe, which is
    never trained again) is compiled for ``evaluate``: cross-entropy and accuracy.

    Raises:
        FlowersError: naming the lesson to run first when the model is missing,
            damaged, made from another split or run (:func:`helpers.runs.check_identity`),
            or trained for another input size.
    """
    path, lesson = model_path(cfg, phase), phase_lesson(phase)
    with phase_model_help(cfg, phase):
        model = keras.models.load_model(path)
    if tuple(model.input.shape[1:3]) != (cfg.image_size, cfg.image_size):
        raise FlowersError(f"The saved {phase} model expects {model.input.shape[1]} px images, but this "
                           f"configuration uses {cfg.image_size} px. Run lesson {lesson} again.")
    if not model.compiled:
        model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    return model
