"""The setup cell every lesson starts with.

:func:`setup` builds the lesson's :class:`~helpers.config.Config`, seeds the
random number generators, and prints what a learner (or an instructor reading
a learner's notebook) needs to know first: versions, profile, seed, and
whether a GPU is there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from helpers.config import Config, load_config, positive_number, require_flowers17
from helpers.disk import check_writable, disk_error, is_disk_error
from helpers.flowers17 import ARCHIVE_BYTES

#: Versions the course is tested with: ``(lowest, first unsupported)``.
SUPPORTED: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "Python": ((3, 11), (3, 14)),
    "TensorFlow": ((2, 16), (2, 22)),
    "Keras": ((3, 0), (4, 0)),
}

#: Warnings that are known to be harmless in this course, matched by message.
HARMLESS_WARNINGS: tuple[str, ...] = (
    # TensorFlow's ImageDataGenerator iterators predate Keras 3's PyDataset checks.
    r"Your `PyDataset` class should call `super\(\).__init__",
    # Loading a saved model to predict with (lessons 07 and 10): the optimizer's saved state is not
    # needed, and Keras says it skipped it when the model's fresh optimizer has a different layout.
    r"Skipping variable loading for optimizer",
)


#: Lines TensorFlow's C++ core writes to stderr on every start, matched by message.
#: They describe this machine (no CUDA driver, CPU instructions), not a problem.
HARMLESS_TF_LOG_LINES: tuple[str, ...] = (
    r"All log messages before absl::InitializeLog\(\) is called",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"failed call to cuInit",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
)


@contextlib.contextmanager
def filtered_native_stderr(patterns: tuple[str, ...] = HARMLESS_TF_LOG_LINES) -> Iterator[None]:
    """Hide TensorFlow's known-harmless C++ start-up lines; pass every other line through.

    TensorFlow's C++ core writes straight to file descriptor 2, below Python's
    ``warnings``, so Python filters cannot reach it. This captures that
    descriptor while the block runs and re-emits the lines that match none of
    ``patterns``.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            keep = [line for line in text.splitlines()
                    if line.strip() and not any(re.search(p, line) for p in patterns)]
            if keep:
                print("\n".join(keep), file=sys.stderr)


def import_tensorflow():
    """Import TensorFlow (and Keras) without its known-harmless start-up noise.

    Also hides TensorFlow's C++ INFO messages for the rest of the session
    (``TF_CPP_MIN_LOG_LEVEL=1``, unless you set it yourself); warnings and
    errors still show.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    # Imported here, not at the top of the module: the variable above and the
    # stderr filter must be in place before TensorFlow loads, or the setup cell
    # shows TensorFlow's start-up noise. The other imports of this module follow.
    with filtered_native_stderr():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # the CUDA probe logs here on GPU-less machines
    return tf


def _as_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_versions(versions: dict[str, str]) -> list[str]:
    """Return one readable problem per package whose version is outside :data:`SUPPORTED`."""
    problems = []
    for name, version in versions.items():
        if name not in SUPPORTED:
            continue
        low, high = SUPPORTED[name]
        v = _as_tuple(version)
        if not low <= v[: len(low)] < high:
            problems.append(
                f"{name} {version} is outside the range this course is tested with "
                f"(>= {'.'.join(map(str, low))}, < {'.'.join(map(str, high))}). "
                f"Lessons may fail: install the pinned versions with `make venv` "
                f"(or `pip install -r requirements.txt`)."
            )
    return problems


def installed_versions() -> dict[str, str]:
    """Python, TensorFlow and Keras versions of this kernel."""
    import keras
    import tensorflow as tf

    return {"Python": platform.python_version(), "TensorFlow": tf.__version__,
            "Keras": keras.__version__}


#: The registered backbone that trains fastest on a CPU (``make bench`` and lesson 08 measure them).
FASTEST_ON_CPU = "mobilenet_v2_035"


def gpu_advice(n_gpus: int, cfg: Config) -> str:
    """One line about the accelerator, with advice for the chosen backbone when there is none."""
    if n_gpus:
        return f"GPU: {n_gpus} found. Training will use it."
    if cfg.profile == "smoke":
        return "GPU: none found. That is fine for the smoke profile, which is sized for a CPU."
    advice = f"GPU: none found. The full profile trains {cfg.backbone} on the CPU, at {cfg.image_size} px. "
    if cfg.backbone == FASTEST_ON_CPU:
        advice += "It is the fastest registered backbone on a CPU. "
    else:
        advice += (f"That is slower than FLOWERS_BACKBONE={FASTEST_ON_CPU}, the fastest registered "
                   f"backbone on a CPU (lesson 08 measures by how much). ")
    return advice + "For a quick look, run with FLOWERS_PROFILE=smoke."


def repeatability_line(cfg: Config) -> str:
    """One line for the setup cell: whether this run's training gives the same numbers when run again."""
    if cfg.deterministic:
        return ("Repeatable: yes. Op determinism is on and the training batches load in order, so this lesson "
                "run again from the top (restart the kernel, run all) gives the same numbers on this machine "
                "(FLOWERS_DETERMINISTIC=0 turns it off).")
    return ("Repeatable: no (FLOWERS_DETERMINISTIC=0). Batches load ahead in two threads, but the same seed gives "
            "other numbers on every run.")


def check_folders(cfg: Config) -> None:
    """Stop at setup when a folder the lessons write cannot be written, or the data folder lacks room.

    The data folder (``work_dir`` and its ``downloads/``) and the build folder
    with its ``models/`` and ``logs/`` are made if missing and tried with a
    small temporary file. Until the archive has been extracted, the full
    profile's data folder needs room for the archive and its photos. A run on
    your own photos (:attr:`Config.photos`) downloads nothing, so it needs no
    ``downloads/`` and no room for the archive: its split is hard links
    to your photos (copies only where the disk cannot link).

    Raises:
        helpers.disk.DiskError: naming the folder and what to do.
    """
    if cfg.photos is None:
        extracted = cfg.work_dir / "downloads" / "17flowers_extracted" / ".complete"
        needs = 0 if cfg.synthetic or extracted.exists() else 2 * ARCHIVE_BYTES
        check_writable(cfg.work_dir / "downloads", "data folder", needs)
    check_writable(cfg.work_dir, "data folder")
    for folder in (cfg.build_dir, cfg.build_dir / "models", cfg.build_dir / "logs"):
        check_writable(folder, "build folder")


#: The errors the lesson cells' handler shows as a full or read-only disk: only ever met while writing.
#: (A permission error can come from reading too, a learner's photo folder say; it keeps IPython's display.)
WRITE_ONLY_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def disk_error_display(cfg: Config) -> Callable[..., object]:
    """An IPython exception handler that shows a full or read-only disk in any lesson cell as one message.

    A full disk met inside Keras (``ModelCheckpoint`` saving a model during
    ``fit``, ``CSVLogger``, ``savefig``) is an ``OSError`` with a long
    traceback. This handler, which :func:`setup` installs with
    ``set_custom_exc``, shows it as a :class:`helpers.disk.DiskError` instead:
    the folder (the file's own, or else ``cfg.build_dir``) and what to do.
    Every other exception is shown as IPython always shows it.
    """
    def show(shell: object, etype: type, value: BaseException, tb: object, tb_offset: int | None = None) -> object:
        if not (is_disk_error(value) and value.errno in WRITE_ONLY_DISK_ERRORS):
            return shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        filename = getattr(value, "filename", None)
        path = Path(os.fsdecode(filename)) if isinstance(filename, (str, bytes, os.PathLike)) else None
        folder = path.parent if path is not None else cfg.build_dir
        step = f"write {path.name}" if path is not None else "write the lesson's files"
        message = disk_error(value, folder, step, kept="A training run cut off here leaves the last finished "
                                                       "model in place.")
        return shell.showtraceback((type(message), message, None))
    return show


def _install_disk_error_display(cfg: Config) -> None:
    """In a Jupyter kernel (or IPython), show disk errors with :func:`disk_error_display`; elsewhere nothing."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        shell.set_custom_exc((OSError,), disk_error_display(cfg))


def setup(learning_rate: float | None = None, flowers17_only: bool = False, **overrides: object) -> Config:
    """Build the configuration, seed everything, make training repeatable, and print the lesson's starting facts.

    Seeds Keras with :attr:`Config.training_seed` and, unless
    ``cfg.deterministic`` is off, turns on ``tf.config.experimental.enable_op_determinism()``.
    Every parameter is checked here, before any work: a wrong one stops the
    lesson at its setup cell, not minutes into training.

    Args:
        learning_rate: The lesson's learning rate, when it has one: checked to be
            a number above 0, not kept (the lesson uses its own variable).
        flowers17_only: The lesson is about Flowers17 itself (lesson 01), so it
            stops, saying why, when ``FLOWERS_PHOTOS`` names your own photos.
        **overrides: The lesson's ``parameters`` (``None`` = keep the environment's value),
            checked by :func:`helpers.config.load_config`.

    Returns:
        The :class:`Config` the rest of the lesson uses.
    """
    if learning_rate is not None:
        positive_number(learning_rate, "learning_rate")
    cfg = load_config(**overrides)   # checked before TensorFlow loads: a wrong setting stops at once
    if flowers17_only:
        require_flowers17(cfg)
    check_folders(cfg)
    _install_disk_error_display(cfg)
    tf = import_tensorflow()
    import keras

    for message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    keras.utils.set_random_seed(cfg.training_seed)   # Python's, NumPy's and TensorFlow's generators
    if cfg.deterministic:   # TensorFlow has no public way back: it stays on until the kernel restarts
        tf.config.experimental.enable_op_determinism()

    versions = installed_versions()
    print("  ".join(f"{k} {v}" for k, v in versions.items()))
    for problem in check_versions(versions):
        warnings.warn(problem, stacklevel=2)
    print(f"Profile: {cfg.profile}   seed: {cfg.seed}   training run: {cfg.run}")
    print(repeatability_line(cfg))
    print(gpu_advice(len(tf.config.list_physical_devices("GPU")), cfg))
    print()
    print(cfg.describe())
    sys.stdout.flush()
    return cfg
