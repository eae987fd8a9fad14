"""The course's one configuration object.

Every lesson builds a :class:`Config` with :func:`load_config` and passes it to
the ``helpers`` functions it calls. Nothing in ``helpers`` reads the
environment anywhere else, and there is no module-level state: the
configuration is explicit.

Environment variables (all optional):

``FLOWERS_PROFILE``
    ``full`` (default): the real archive, ImageNet weights, the backbone's
    full-profile input size (299 px for InceptionV3), epochs that really
    train. ``smoke``: fully offline, a synthetic archive made by
    :mod:`helpers.synthetic`, ``weights=None``, the smallest input the
    backbone accepts (75 px for InceptionV3), one short epoch. For CI and for
    trying the course without internet.
``FLOWERS17_URL``
    Where the archive comes from. ``file://`` URLs and plain paths work.
``FLOWERS17_MD5``
    The archive's expected md5. Empty means: do not check.
``FLOWERS17_SPLITS_URL``
    Where ``datasplits.mat`` (the three official splits) comes from.
    ``file://`` URLs and plain paths work. Only ``FLOWERS_SPLIT=official1..3``
    needs the file; with the default seeded split, lesson 01 compares with it
    when it can be had and skips that comparison when it cannot.
``FLOWERS17_SPLITS_MD5``
    Its expected md5. Empty means: do not check.
``FLOWERS_SPLIT``
    ``seeded`` (default) or ``official1``, ``official2``, ``official3``.
``FLOWERS_SEED``
    The random seed (default 42). It picks the split, and the first training run's randomness.
``FLOWERS_RUN``
    Which training run of the split (default 1): run 1 trains with ``FLOWERS_SEED``
    itself, runs 2, 3, ... with seeds derived from it (:attr:`Config.training_seed`),
    so the same split can be trained again with other random starts, shuffles and
    flips. ``make accuracy REPEATS=N`` uses it to measure how far runs scatter.
``FLOWERS_DETERMINISTIC``
    ``1`` (default): training is repeatable, the same numbers on every run of one
    machine (:func:`helpers.environment.setup` turns on TensorFlow's op determinism,
    and the training generator loads its batches in order, in one thread).
    ``0``: the training batches load in two threads, ahead of the model, and the same
    seed gives other numbers each time. (Op determinism also runs ``tf.data``'s
    random maps in one thread and turns its prefetching off.)
``FLOWERS_BACKBONE``
    The pretrained network (default ``inception_v3``; see ``helpers.models.BACKBONES``).
``FLOWERS_MIXED_PRECISION``
    ``1`` to train in ``mixed_float16`` on a GPU (default off).
``FLOWERS_DATA_DIR``
    Where data lands (default: the ``data/`` folder of this repository).
``FLOWERS_BUILD_DIR``
    Where results, figures and models land (default: ``build/``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

from helpers.backbones import BACKBONES
from helpers.errors import FlowersError

PROFILES = ("full", "smoke")
SPLITS = ("seeded", "official1", "official2", "official3")

OFFICIAL_BASE_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/"
OFFICIAL_ARCHIVE_URL = OFFICIAL_BASE_URL + "17flowers.tgz"
OFFICIAL_ARCHIVE_MD5 = "b59a65d8d1a99cd66944d474e1289eab"
OFFICIAL_SPLITS_URL = OFFICIAL_BASE_URL + "datasplits.mat"
OFFICIAL_SPLITS_MD5 = "4828cddfd0d803c5abbdebcb1e148a1e"

#: The repository root when ``helpers`` is installed in editable mode (the course's way).
REPO_ROOT = Path(__file__).resolve().parents[1]


def course_home() -> Path:
    """Where ``data/`` and ``build/`` go unless FLOWERS_DATA_DIR / FLOWERS_BUILD_DIR say otherwise.

    The clone's root when ``helpers`` runs from a clone of the course; the
    working folder when it was installed from elsewhere (Colab, a copied
    notebook: each lesson's first cell installs it from FLOWERS_COURSE_SOURCE).
    """
    return REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir() \
        else Path.cwd()


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a lesson needs to know about where data lives and how to train.

    Build it with :func:`load_config`; it is frozen, so use
    :meth:`replace` to get a changed copy.
    """

    profile: str
    data_dir: Path
    build_dir: Path
    archive_url: str
    #: Expected md5 of the archive; ``None`` skips the check.
    archive_md5: str | None
    splits_url: str
    splits_md5: str | None
    split: str
    #: Images per class in train, validation and test.
    split_sizes: tuple[int, int, int]
    seed: int
    #: A key of ``helpers.models.BACKBONES``.
    backbone: str
    image_size: int
    batch_size: int
    #: ``"imagenet"`` or ``None`` (random initialisation).
    weights: str | None
    transfer_epochs: int
    finetune_epochs: int
    #: The most epochs the linear probe of lesson 05 may train (EarlyStopping usually ends it sooner).
    probe_epochs: int
    #: ``None`` means one full pass over the training set per epoch.
    steps_per_epoch: int | None
    #: Train in ``mixed_float16`` (a GPU feature; ignored with a warning on a CPU).
    mixed_precision: bool = False
    #: Which training run of this split (1, 2, ...): see :attr:`training_seed`.
    run: int = 1
    #: Repeatable training: op determinism and batches loaded in order (``FLOWERS_DETERMINISTIC``).
    deterministic: bool = True

    @property
    def training_seed(self) -> int:
        """The seed of this run's training randomness: weights of the new head, shuffles, flips, Dropout.

        Run 1 uses :attr:`seed` itself, so a plain run is what it always was; run
        ``r`` adds ``(r - 1) * 1,000,003`` (wrapped into Keras' range, 0..2**32-1).
        The split never changes with the run: it depends on :attr:`seed` alone.
        """
        return (self.seed + (self.run - 1) * RUN_SEED_STEP) % (MAX_SEED + 1)

    @property
    def work_dir(self) -> Path:
        """The profile's own folder under ``data_dir``, so synthetic and real data never mix."""
        return self.data_dir / self.profile

    @property
    def split_dir(self) -> Path:
        """Where the class folders of the current split live (``helpers.data`` writes them)."""
        return self.work_dir / "split"

    @property
    def synthetic(self) -> bool:
        """True when the archive is the project's synthetic stand-in (served over ``file://``)."""
        return self.archive_url == synthetic_archive_url(self.data_dir)

    def replace(self, **changes: object) -> Config:
        """Return a copy with some fields changed (the object itself is frozen)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """A short, aligned listing of the settings, for the top of each lesson."""
        md5 = self.archive_md5 if self.archive_md5 else "(not checked)"
        if self.synthetic and self.archive_md5 is None:
            md5 = "(synthetic archive: its md5 is recorded when it is generated)"
        rows = [
            ("profile", self.profile),
            ("backbone", self.backbone),
            ("archive", self.archive_url),
            ("archive md5", md5),
            ("split", f"{self.split} {self.split_sizes} per class, seed {self.seed}"),
            ("training", f"run {self.run}, seed {self.training_seed}, "
                         + ("repeatable (op determinism)" if self.deterministic else "not repeatable")),
            ("data folder", str(self.work_dir)),
            ("build folder", str(self.build_dir)),
            ("image size", f"{self.image_size} x {self.image_size}"),
            ("batch size", str(self.batch_size)),
            ("weights", str(self.weights)),
            ("epochs", f"at most {self.transfer_epochs} transfer + {self.finetune_epochs} fine-tune"),
            ("steps/epoch", "full pass" if self.steps_per_epoch is None else str(self.steps_per_epoch)),
        ]
        if self.mixed_precision:
            rows.append(("precision", "mixed_float16"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}} : {v}" for k, v in rows)


def as_url(value: str) -> str:
    """A URL as given, or a plain (``~``-expanded) file path turned into a ``file://`` URL."""
    if "://" in value:
        return value
    return Path(value).expanduser().resolve().as_uri()


def _md5_setting(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    """An md5 from ``env[name]``: missing means ``default``, empty means "do not check"."""
    if name not in env:
        return default
    value = env[name].strip().lower()
    if value and not re.fullmatch(r"[0-9a-f]{32}", value):
        raise FlowersError(f"{name} must be 32 hexadecimal digits (an md5), or empty to skip the "
                           f"check, not {env[name]!r}.")
    return value or None


#: The largest seed ``keras.utils.set_random_seed`` accepts (NumPy's limit): 2**32 - 1.
MAX_SEED = 2**32 - 1
#: How far apart the training seeds of two successive runs are (a prime, so runs of nearby seeds never meet).
RUN_SEED_STEP = 1_000_003
#: The values FLOWERS_DETERMINISTIC reads as on and as off.
_ON, _OFF = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _check_writable_folder(path: Path, variable: str) -> None:
    """Refuse a data or build folder that is a file, or that cannot be created or written.

    Nothing is created here: the folder may not exist yet, so the check is made
    on the nearest part of the path that does.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise FlowersError(f"{variable} must be a folder, but {existing} is a file. Point {variable} at a "
                           f"folder (it is created when missing).")
    if not os.access(existing, os.W_OK | os.X_OK):
        problem = (f"the folder {path} cannot be written" if existing == path
                   else f"{path} cannot be created, because {existing} cannot be written")
        raise FlowersError(f"{variable}: {problem}. Point {variable} at a folder you can write to.")


def synthetic_archive_url(data_dir: Path) -> str:
    """The ``file://`` URL the smoke profile downloads its synthetic archive from."""
    return (Path(data_dir).resolve() / "synthetic" / "17flowers.tgz").as_uri()


_PROFILE_DEFAULTS: dict[str, dict[str, object]] = {
    # Full: at most 30 + 40 epochs; EarlyStopping on the validation loss (patience 5, then 10)
    # ends each phase once it stops improving (lesson 06 gives the epochs it took).
    "full": dict(batch_size=32, weights="imagenet", transfer_epochs=30, finetune_epochs=40,
                 probe_epochs=300, steps_per_epoch=None),
    "smoke": dict(batch_size=16, weights=None, transfer_epochs=1, finetune_epochs=1,
                  probe_epochs=3, steps_per_epoch=2),
}


def load_config(env: Mapping[str, str] | None = None, **overrides: object) -> Config:
    """Build the configuration from environment variables and explicit overrides.

    Args:
        env: The variables to read (default: ``os.environ``).
        **overrides: Field values that win over the environment, for example
            the values of a lesson's ``parameters`` cell. ``None`` values are
            ignored, so ``profile=None`` means "whatever the environment says".

    Raises:
        FlowersError: for an unknown profile, split or backbone, a seed that is not a
            whole number in 0..2**32-1, a run below 1, a FLOWERS_DETERMINISTIC other
            than 0 or 1, an md5 that is not 32 hex digits, or a data or build folder
            that is a file or cannot be written.
    """
    env = os.environ if env is None else env
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise FlowersError(f"Unknown configuration field(s): {', '.join(sorted(unknown))}.")

    profile = str(given.pop("profile", env.get("FLOWERS_PROFILE", "full") or "full"))
    if profile not in PROFILES:
        raise FlowersError(f"FLOWERS_PROFILE must be one of {PROFILES}, not {profile!r}.")
    split = str(given.pop("split", env.get("FLOWERS_SPLIT", "seeded") or "seeded"))
    if split not in SPLITS:
        raise FlowersError(f"FLOWERS_SPLIT must be one of {SPLITS}, not {split!r}.")
    try:
        seed = int(given.pop("seed", env.get("FLOWERS_SEED", "42") or 42))
    except ValueError as exc:
        raise FlowersError(f"FLOWERS_SEED must be a whole number: {exc}") from None
    if not 0 <= seed <= MAX_SEED:
        raise FlowersError(f"FLOWERS_SEED must be between 0 and {MAX_SEED} (what Keras' seeding accepts), "
                           f"not {seed}.")

    try:
        run = int(given.pop("run", env.get("FLOWERS_RUN", "1") or 1))
    except ValueError as exc:
        raise FlowersError(f"FLOWERS_RUN must be a whole number (1 for the first training run): {exc}") from None
    if run < 1:
        raise FlowersError(f"FLOWERS_RUN counts training runs from 1, so it cannot be {run}.")
    deterministic_text = str(env.get("FLOWERS_DETERMINISTIC", "1")).strip().lower() or "1"
    if deterministic_text not in _ON | _OFF:
        raise FlowersError(f"FLOWERS_DETERMINISTIC must be 1 (repeatable training, the default) or 0, "
                           f"not {env['FLOWERS_DETERMINISTIC']!r}.")

    data_dir = Path(given.pop("data_dir", env.get("FLOWERS_DATA_DIR") or course_home() / "data"))
    build_dir = Path(given.pop("build_dir", env.get("FLOWERS_BUILD_DIR") or course_home() / "build"))
    data_dir, build_dir = data_dir.expanduser().resolve(), build_dir.expanduser().resolve()
    _check_writable_folder(data_dir, "FLOWERS_DATA_DIR")
    _check_writable_folder(build_dir, "FLOWERS_BUILD_DIR")

    if profile == "smoke":
        default_url, default_md5 = synthetic_archive_url(data_dir), None
        splits_url = (data_dir.resolve() / "synthetic" / "datasplits.mat").as_uri()
        splits_md5 = None
    else:
        default_url, default_md5 = OFFICIAL_ARCHIVE_URL, OFFICIAL_ARCHIVE_MD5
        splits_url, splits_md5 = OFFICIAL_SPLITS_URL, OFFICIAL_SPLITS_MD5
    url = as_url(str(given.pop("archive_url", env.get("FLOWERS17_URL") or default_url)))
    # The official checksum only belongs to the official URL's file... but a learner's
    # own copy of the official archive has the same bytes, so keep it unless the
    # learner says otherwise with FLOWERS17_MD5 (and likewise for datasplits.mat).
    md5 = (given.pop("archive_md5") or None) if "archive_md5" in given \
        else _md5_setting(env, "FLOWERS17_MD5", default_md5)
    splits_url = as_url(str(given.pop("splits_url", env.get("FLOWERS17_SPLITS_URL") or splits_url)))
    splits_md5 = (given.pop("splits_md5") or None) if "splits_md5" in given \
        else _md5_setting(env, "FLOWERS17_SPLITS_MD5", splits_md5)

    backbone = str(given.pop("backbone", env.get("FLOWERS_BACKBONE") or "inception_v3"))
    if backbone not in BACKBONES:
        raise FlowersError(f"FLOWERS_BACKBONE must be one of {sorted(BACKBONES)}, not {backbone!r}.")
    spec = BACKBONES[backbone]

    values: dict[str, object] = dict(_PROFILE_DEFAULTS[profile])
    values["image_size"] = spec.size_for(profile)
    values.update(
        profile=profile, data_dir=data_dir, build_dir=build_dir, archive_url=url,
        archive_md5=md5, splits_url=splits_url, splits_md5=splits_md5, split=split,
        split_sizes=(40, 20, 20), seed=seed, run=run, backbone=backbone,
        mixed_precision=env.get("FLOWERS_MIXED_PRECISION", "").strip().lower() in _ON,
        deterministic=deterministic_text in _ON,
    )
    values.update(given)
    values["split_sizes"] = tuple(int(n) for n in values["split_sizes"])  # type: ignore[union-attr]
    return Config(**values)  # type: ignore[arg-type]
