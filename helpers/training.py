"""Lessons 05 and 06: freezing, compiling, callbacks and the two training phases.

Phase 1, **transfer learning**: the whole base is frozen and only the new head
trains (Adam, learning rate 1e-3).

Phase 2, **fine-tuning**: the top blocks (after ``mixed8`` for InceptionV3)
train too, slowly (Adam again, at a lower learning rate, 3e-4, with more
patience: 10 epochs). BatchNormalization layers stay frozen.

Both phases keep the epoch with the lowest **validation loss**: on 340
validation photos the accuracy moves in steps of 0.3% and ties are common,
while the loss keeps telling a better model from a worse one. Both write,
under ``build/models/`` and ``build/logs/``: that best model
(``ModelCheckpoint``, ``.keras``) and the per-epoch history (``CSVLogger``),
so results survive a kernel restart.
A phase always starts clean: it deletes its own old checkpoint and log first,
so a rerun never mixes two runs' states.
"""

from __future__ import annotations

import csv
import json
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf
from keras import layers

from helpers import data
from helpers.config import Config
from helpers.errors import FlowersError
from helpers.files import write_text_atomic
from helpers.models import layer_index
from helpers.results import forget_results


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


def model_path(cfg: Config, phase: str) -> Path:
    """The best model of ``phase`` (``probe``, ``transfer``, ``finetune``, ``final``) for this profile and backbone."""
    return cfg.build_dir / "models" / f"{phase}_{cfg.profile}_{cfg.backbone}.keras"


def log_path(cfg: Config, phase: str) -> Path:
    """The CSV history of ``phase`` for this profile and backbone."""
    return cfg.build_dir / "logs" / f"{phase}_{cfg.profile}_{cfg.backbone}.csv"


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


def _compile(model, learning_rate: float) -> None:
    """Adam at ``learning_rate``, cross-entropy with label smoothing, accuracy: both phases' settings."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING),
                  metrics=["accuracy"])


def compile_transfer(model, learning_rate: float = 1e-3) -> None:
    """Compile for phase 1: Adam at 1e-3, cross-entropy with label smoothing, accuracy."""
    _compile(model, learning_rate)


#: Phase 2's learning rate (lesson 06 explains the measurement behind it).
FINETUNE_LEARNING_RATE = 3e-4


def compile_finetune(model, learning_rate: float = FINETUNE_LEARNING_RATE) -> None:
    """Compile for phase 2: the same Adam and loss, at a lower learning rate (3e-4)."""
    _compile(model, learning_rate)


#: Epochs without a lower validation loss before EarlyStopping ends the transfer phase.
PATIENCE = 5
#: The same for fine-tuning, whose validation loss improves in smaller steps (lesson 06).
FINETUNE_PATIENCE = 10


def make_callbacks(cfg: Config, phase: str, patience: int = PATIENCE) -> list[object]:
    """ModelCheckpoint and EarlyStopping on the validation loss (best weights restored), CSVLogger."""
    checkpoint, log = model_path(cfg, phase), log_path(cfg, phase)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    return [
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        keras.callbacks.CSVLogger(str(log)),
    ]


def best_epoch(history: dict[str, list[float]]) -> int:
    """The index of the epoch the callbacks keep: the lowest validation loss (first one on a tie)."""
    losses = history["val_loss"]
    return min(range(len(losses)), key=losses.__getitem__)


#: The phases built one on another, in order (lesson 05's linear probe stands alone).
PHASE_ORDER: tuple[str, ...] = ("transfer", "finetune", "final")
#: What lesson 07 records about its choice; any phase of PHASE_LESSON that starts again retires them.
CHOICE_RESULTS: tuple[str, ...] = ("chosen", "test_accuracy", "test_images")
#: The lesson that makes each phase's files.
PHASE_LESSON: dict[str, str] = {"probe": "05", "transfer": "05", "finetune": "06", "final": "07"}


def identity_path(cfg: Config, phase: str) -> Path:
    """The record of what ``phase``'s model and log were made from (next to the model)."""
    return model_path(cfg, phase).with_suffix(".json")


def _describe(identity: dict[str, object]) -> str:
    return (f"the {identity.get('split')} split with seed {identity.get('seed')} "
            f"({identity.get('split_sizes')} per class), {identity.get('backbone')} at "
            f"{identity.get('image_size')} px, {identity.get('profile')} profile, archive md5 "
            f"{identity.get('archive_md5')}")


def start_clean(cfg: Config, phase: str) -> list[Path]:
    """Start ``phase`` afresh: delete its old files and those of every later phase; record this run.

    The later phases were built on this one's old files, so they are retired
    too (re-running lesson 05 retires lesson 06's model), and so are their
    numbers in ``results.json``, with lesson 07's choice and test score
    (:data:`CHOICE_RESULTS`), which came from the old candidates (a phase outside
    :data:`PHASE_LESSON`, such as lesson 08's, leaves the results alone). The phase's record
    (:func:`identity_path`) then names this run's settings and split, and for
    a phase built on an earlier one, the earlier one's record, so that
    :func:`check_identity` can refuse a model of another split or run.
    Returns the files that were deleted.
    """
    later = PHASE_ORDER[PHASE_ORDER.index(phase) + 1:] if phase in PHASE_ORDER else ()
    candidates = [model_path(cfg, phase), log_path(cfg, phase), identity_path(cfg, phase)]
    for other in later:
        candidates += [model_path(cfg, other), log_path(cfg, other), identity_path(cfg, other)]
    gone = [p for p in candidates if p.exists()]
    for path in gone:
        path.unlink()
    if phase in PHASE_LESSON:        # a candidate of lesson 07 or a phase one is built on (not lesson 08's)
        forget_results(cfg, [*(f"phases.{p}" for p in (phase, *later)), *CHOICE_RESULTS])
    started_from = None
    if phase in PHASE_ORDER[1:]:
        previous = PHASE_ORDER[PHASE_ORDER.index(phase) - 1]
        if identity_path(cfg, previous).exists():
            started_from = json.loads(identity_path(cfg, previous).read_text())
    record = {"phase": phase, "run": uuid.uuid4().hex, "identity": data.run_identity(cfg),
              "started_from": started_from}
    path = identity_path(cfg, phase)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    return [p for p in gone if p != identity_path(cfg, phase)]


def read_record(cfg: Config, phase: str) -> dict[str, object]:
    """The record :func:`start_clean` wrote for ``phase`` (its run id, identity and origin); ``{}`` if none."""
    try:
        return json.loads(identity_path(cfg, phase).read_text())
    except (OSError, ValueError):
        return {}


def check_identity(cfg: Config, phase: str) -> None:
    """Refuse ``phase``'s files when they were made from another split, setting or run.

    Raises:
        FlowersError: naming the difference and the lesson to run again.
    """
    lesson = PHASE_LESSON.get(phase, "08")
    path = identity_path(cfg, phase)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        raise FlowersError(f"The {phase} files in {path.parent} have no readable record of the split and "
                           f"settings they were made with, so they could have seen this run's test photos. "
                           f"Run lesson {lesson} again.") from None
    saved, now = record.get("identity", {}), data.run_identity(cfg)
    if saved != now:
        changed = ", ".join(f"{key} {saved.get(key)!r} -> {now[key]!r}" for key in now if saved.get(key) != now[key])
        raise FlowersError(f"The {phase} model was trained on {_describe(saved)}; this run uses "
                           f"{_describe(now)} ({changed}). Its training photos may be this run's test "
                           f"photos: run lesson {lesson} again.")
    base = record.get("started_from")
    if base is not None:
        earlier = identity_path(cfg, base.get("phase", ""))
        try:
            current = json.loads(earlier.read_text())
        except (OSError, ValueError):
            current = None
        if current is None or current.get("run") != base.get("run"):
            raise FlowersError(f"The {phase} model was built on an earlier {base.get('phase')} model, which "
                               f"has been trained again since: run lesson {lesson} again.")


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
              patience: int = PATIENCE, verbose: int | str = "auto") -> PhaseResult:
    """Train ``model`` for ``epochs`` more epochs, numbered from ``initial_epoch``.

    Validation covers the whole validation set each epoch. ``steps_per_epoch``
    is the configuration's (``None``: a full pass, ``ceil(samples / batch)``).
    The phase starts clean (:func:`start_clean`).
    """
    start_clean(cfg, phase)
    start = time.perf_counter()
    history = model.fit(
        gens.train, epochs=initial_epoch + epochs, initial_epoch=initial_epoch,
        steps_per_epoch=cfg.steps_per_epoch, validation_data=gens.validation,
        callbacks=make_callbacks(cfg, phase, patience), verbose=verbose,
    )
    seconds = time.perf_counter() - start
    return PhaseResult(phase, dict(history.history), initial_epoch, len(history.epoch), seconds)


def read_log(cfg: Config, phase: str) -> dict[str, list[float]]:
    """The CSV history of ``phase`` as ``{"epoch": [...], "accuracy": [...], ...}``.

    Raises:
        FlowersError: when the phase has not been run yet, its log is damaged,
            or it belongs to another split or run (:func:`check_identity`).
    """
    path = log_path(cfg, phase)
    if not path.exists():
        lesson = "05" if phase == "transfer" else "06"
        raise FlowersError(f"No {phase} history at {path}. Run lesson {lesson} first.")
    check_identity(cfg, phase)
    lesson = PHASE_LESSON.get(phase, "05")
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


def load_phase_model(cfg: Config, phase: str):
    """Load the best model ``phase`` saved, checking it fits the configuration.

    A model saved without compile settings (lesson 05's linear probe, which is
    never trained again) is compiled for ``evaluate``: cross-entropy and accuracy.

    Raises:
        FlowersError: naming the lesson to run first when the model is missing,
            damaged, made from another split or run (:func:`check_identity`),
            or trained for another input size.
    """
    path = model_path(cfg, phase)
    lesson = PHASE_LESSON[phase]
    if not path.exists():
        raise FlowersError(f"This lesson needs the {phase} model ({path}), which does not exist yet. "
                           f"Run lesson {lesson} first.")
    check_identity(cfg, phase)
    try:
        model = keras.models.load_model(path)
    except Exception as exc:
        raise FlowersError(f"The saved {phase} model {path} cannot be read ({type(exc).__name__}); it is "
                           f"probably damaged, by an interrupted run for example. Run lesson {lesson} "
                           f"again.") from None
    if tuple(model.input.shape[1:3]) != (cfg.image_size, cfg.image_size):
        raise FlowersError(f"The saved {phase} model expects {model.input.shape[1]} px images, but this "
                           f"configuration uses {cfg.image_size} px. Run lesson {lesson} again.")
    if not model.compiled:
        model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    return model
