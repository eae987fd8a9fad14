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
``FLOWERS_SPLIT_SIZES``
    Photos of each species for training, validation and test, as three whole
    numbers (default ``40,20,20``). Every lesson and tool reads it, so a split
    of other sizes holds for the whole course; they add up to at most 80.
``FLOWERS_PHOTOS``
    Your own photos instead of Flowers17: a folder with one subfolder per
    class (``my_photos/roses/*.jpg``, ``my_photos/tulips/*.jpg``...). Empty
    or unset (default): Flowers17. The class names come from the folder
    names. The folder is only read: the split is made of links (or copies)
    inside the data folder (:mod:`helpers.own_split`).
``FLOWERS_SPLIT_FRACTIONS``
    How your own photos divide into training, validation and test, per class
    (default ``60,20,20``; ``0.6,0.2,0.2`` is the same split, recorded as
    percentages), with at least 3 / 1 / 1
    photos of each class. Only with ``FLOWERS_PHOTOS``: Flowers17 uses
    ``FLOWERS_SPLIT_SIZES``.
``FLOWERS_RUN``
    Which training run of the split (default 1): run 1 trains with ``FLOWERS_SEED``
    itself, runs 2, 3, ... with seeds derived from it (:attr:`Config.training_seed`),
    so the same split can be trained again with other random starts, shuffles and
    flips. ``make accuracy REPEATS=N`` uses it to measure how far runs scatter.
``FLOWERS_DETERMINISTIC``
    ``1`` (default, also ``true``, ``yes``, ``on``): training is repeatable, the same numbers on every run of one
    machine (:func:`helpers.environment.setup` turns on TensorFlow's op determinism,
    and the training generator loads its batches in order, in one thread).
    ``0`` (also ``false``, ``no``, ``off``): the training batches load in two threads, ahead of the model, and the same
    seed gives other numbers each time. (Op determinism also runs ``tf.data``'s
    random maps in one thread and turns its prefetching off.)
``FLOWERS_BACKBONE``
    The pretrained network (default ``inception_v3``; see ``helpers.models.BACKBONES``).
``FLOWERS_MIXED_PRECISION``
    ``1`` to train in ``mixed_float16`` on a GPU; ``0`` or empty (default): off.
    The same six words as ``FLOWERS_DETERMINISTIC`` are accepted, and nothing else.
``FLOWERS_DATA_DIR``
    Where data lands (default: the ``data/`` folder of the course).
``FLOWERS_BUILD_DIR``
    Where results, figures and models land (default: the course's ``build/``).

A relative ``FLOWERS_DATA_DIR`` or ``FLOWERS_BUILD_DIR`` is taken from the
course's home (:func:`course_home`: the clone's root), the same folder for the
lessons (which run in ``notebooks/``) and for the tools (which run in the root).

Any other variable whose name starts with ``FLOWERS_`` or ``FLOWERS17_`` is
refused, with the closest known name (:data:`SETTINGS` lists them): a typo such
as ``FLOWERS_BACKBONES`` would otherwise be ignored, and the lesson would train
another network than the one asked for.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

from helpers.backbones import BACKBONES
from helpers.errors import FlowersError
from helpers.flowers17 import IMAGES_PER_CLASS

PROFILES = ("full", "smoke")
SPLITS = ("seeded", "official1", "official2", "official3")
#: How your own photos divide by default: 60% training, 20% validation, 20% test of each class.
DEFAULT_FRACTIONS: tuple[float, float, float] = (60.0, 20.0, 20.0)

OFFICIAL_BASE_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/"
OFFICIAL_ARCHIVE_URL = OFFICIAL_BASE_URL + "17flowers.tgz"
OFFICIAL_ARCHIVE_MD5 = "b59a65d8d1a99cd66944d474e1289eab"
OFFICIAL_SPLITS_URL = OFFICIAL_BASE_URL + "datasplits.mat"
OFFICIAL_SPLITS_MD5 = "4828cddfd0d803c5abbdebcb1e148a1e"

#: Every environment variable the course reads, with what it sets (the module's docstring says more).
SETTINGS: dict[str, str] = {
    "FLOWERS_PROFILE": "full or smoke",
    "FLOWERS17_URL": "where the archive comes from",
    "FLOWERS17_MD5": "the archive's md5 (empty: not checked)",
    "FLOWERS17_SPLITS_URL": "where datasplits.mat comes from",
    "FLOWERS17_SPLITS_MD5": "its md5 (empty: not checked)",
    "FLOWERS_SPLIT": "seeded, official1, official2 or official3",
    "FLOWERS_SEED": "the split's seed",
    "FLOWERS_SPLIT_SIZES": "photos per species for train, validation, test",
    "FLOWERS_PHOTOS": "your own folder of class subfolders (empty: Flowers17)",
    "FLOWERS_SPLIT_FRACTIONS": "how your own photos divide into train, validation, test",
    "FLOWERS_RUN": "which training run of the split",
    "FLOWERS_DETERMINISTIC": "repeatable training, 1 or 0",
    "FLOWERS_BACKBONE": "the pretrained network",
    "FLOWERS_MIXED_PRECISION": "mixed_float16 on a GPU, 1 or 0",
    "FLOWERS_DATA_DIR": "where data lands",
    "FLOWERS_BUILD_DIR": "where results and models land",
    # Read outside this module: by each lesson's first cell, and by the test suite.
    "FLOWERS_COURSE_SOURCE": "where a lesson opened outside a clone installs helpers from",
    "FLOWERS_CHECK_STUDENT": "the test suite runs the student edition (make check-student)",
}

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
    #: Your own folder of class subfolders (``FLOWERS_PHOTOS``); ``None``: Flowers17.
    photos: Path | None = None
    #: How each class of :attr:`photos` divides into train, validation and test (``FLOWERS_SPLIT_FRACTIONS``).
    split_fractions: tuple[float, float, float] = DEFAULT_FRACTIONS

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
    def data_name(self) -> str:
        """What the course trains on, in words: ``Flowers17`` or ``your photos in /path/to/my_photos``."""
        return "Flowers17" if self.photos is None else f"your photos in {self.photos}"

    @property
    def split_name(self) -> str:
        """The split's own name: ``seeded-42-40-20-20`` (seed, then sizes), or ``official1`` .. ``official3``.

        For your own photos: ``photos-<folder>-<6 hex digits of its path>-<seed>-<fractions>``,
        such as ``photos-my-photos-3f2a1c-42-60-20-20``, so two folders of the same name never share a split.
        """
        if self.photos is not None:
            slug = re.sub(r"[^a-z0-9]+", "-", self.photos.name.lower()).strip("-") or "photos"
            where = hashlib.md5(str(self.photos).encode()).hexdigest()[:6]
            return "-".join(["photos", slug, where, str(self.seed), *(f"{f:g}" for f in self.split_fractions)])
        if self.split != "seeded":
            return self.split
        return "-".join(str(n) for n in ("seeded", self.seed, *self.split_sizes))

    @property
    def split_dir(self) -> Path:
        """Where this split's class folders live (``helpers.data`` writes them): ``splits/<split_name>``.

        Each split has its own folder, so a lesson preparing one split (lesson 01
        with another seed, in a second tab) never touches the folder another
        lesson is training from.
        """
        return self.work_dir / "splits" / self.split_name

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
        data = [("archive", self.archive_url), ("archive md5", md5),
                ("split", f"{self.split} {self.split_sizes} per class, seed {self.seed}")]
        if self.photos is not None:
            data = [("photos", str(self.photos)),
                    ("split", f"seeded, {'/'.join(f'{f:g}' for f in self.split_fractions)} of each class, "
                              f"seed {self.seed}")]
        rows = [
            ("profile", self.profile),
            ("backbone", self.backbone),
            *data,
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


def unknown_settings(env: Mapping[str, str]) -> list[str]:
    """One sentence per ``FLOWERS_*`` / ``FLOWERS17_*`` variable in ``env`` that the course does not read."""
    def bare(name: str) -> str:   # compared without the shared prefix, which would make every name "close"
        return name.split("_", 1)[1]

    known = {bare(name): name for name in SETTINGS}
    problems = []
    for name in sorted(env):
        if name.startswith(("FLOWERS_", "FLOWERS17_")) and name not in SETTINGS:
            close = [known[k] for k in difflib.get_close_matches(bare(name), known, n=1, cutoff=0.6)]
            hint = f"did you mean {close[0]} ({SETTINGS[close[0]]})?" if close else \
                f"the course's settings are {', '.join(SETTINGS)}."
            problems.append(f"{name} is not a setting of this course: {hint}")
    return problems


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A yes/no variable: 1/0, true/false, yes/no, on/off (any case); missing or empty means ``default``."""
    text = str(env.get(name, "")).strip().lower()
    if not text:
        return default
    if text not in _ON | _OFF:
        raise FlowersError(f"{name} must be 1 (on) or 0 (off), not {env[name]!r}.")
    return text in _ON


def whole_number(value: object, name: str, low: int, high: int | None = None, unit: str = "") -> int:
    """``value`` as a whole number in ``low..high``: an int, or a string of digits (a variable's text).

    ``True``, ``7.5`` or ``"seven"`` are refused by ``name``, not rounded or
    read as 1: papermill passes parameters with their Python type.

    Raises:
        FlowersError: naming ``name``, the value and the range.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    span = f"from {low:,}" + (f" to {high:,}" if high is not None else " up") + (f" {unit}" if unit else "")
    if number is None:
        raise FlowersError(f"{name} must be a whole number {span}, not {value!r}"
                           f"{f' (a {type(value).__name__})' if not isinstance(value, str) else ''}.")
    if number < low or (high is not None and number > high):
        raise FlowersError(f"{name} must be a whole number {span}, not {number}.")
    return number


def positive_number(value: object, name: str) -> float:
    """``value`` as a finite number above 0 (a learning rate); ``True`` and strings are refused by ``name``.

    Raises:
        FlowersError: naming ``name`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise FlowersError(f"{name} must be a number above 0 (such as 1e-3), not {value!r}.")
    return float(value)


def split_sizes_of(value: object, name: str = "the split sizes") -> tuple[int, int, int]:
    """Three whole numbers, each at least 1, that add up to at most 80 (Flowers17's photos per species).

    ``value`` is a sequence of three, or text such as ``"40,20,20"`` (``FLOWERS_SPLIT_SIZES``).

    Raises:
        FlowersError: saying that the sizes are the problem, and why.
    """
    parts = value.replace(",", " ").split() if isinstance(value, str) else value
    try:
        parts = list(parts)  # type: ignore[arg-type]
    except TypeError:
        parts = []
    if len(parts) != 3:
        raise FlowersError(f"{name} must be three whole numbers, the photos of each species for training, "
                           f"validation and test (such as 40, 20, 20), not {value!r}.")
    sizes = tuple(whole_number(n, f"{name} ({part})", 1) for n, part in zip(parts, ("training", "validation", "test")))
    if sum(sizes) > IMAGES_PER_CLASS:
        raise FlowersError(f"{name} {sizes} ask for {sum(sizes)} photos of each species, but Flowers17 has "
                           f"{IMAGES_PER_CLASS}: choose sizes that add up to at most {IMAGES_PER_CLASS}.")
    return sizes  # type: ignore[return-value]


def split_fractions_of(value: object, name: str = "the split fractions") -> tuple[float, float, float]:
    """Three shares above 0, train at least a tenth of their sum: ``"60,20,20"``, ``"0.6/0.2/0.2"`` or a sequence.

    The shares come back as percentages of their sum (``0.6,0.2,0.2`` and
    ``3,1,1`` give ``(60.0, 20.0, 20.0)``), so that one split is named, and
    recorded, one way however it is written.

    Raises:
        FlowersError: naming ``name`` and the value.
    """
    parts = re.sub(r"[,/]", " ", value).split() if isinstance(value, str) else value
    try:
        shares = tuple(float(p) for p in parts)  # type: ignore[union-attr]
        if isinstance(value, bool) or any(isinstance(p, bool) for p in parts):  # type: ignore[union-attr]
            raise TypeError
    except (TypeError, ValueError):
        shares = ()
    if (len(shares) != 3 or any(not math.isfinite(f) or f <= 0 for f in shares)
            or shares[0] < 0.1 * sum(shares)):
        raise FlowersError(f"{name} must be three numbers above 0, the shares of each class for training, "
                           f"validation and test, with training at least a tenth of their sum (such as 60,20,20 "
                           f"or 0.6,0.2,0.2), not {value!r}.")
    total = sum(shares)
    return tuple(round(100 * f / total, 6) for f in shares)  # type: ignore[return-value]


def _photos_setting(value: object) -> Path | None:
    """``FLOWERS_PHOTOS`` or the ``photos`` parameter: ``None`` for empty, else a folder (``~`` expanded,
    relative ones taken from :func:`course_home`). Whether it is a usable folder is checked when it is read."""
    text = str(value).strip() if value is not None else ""
    return _folder(text) if text else None


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


def _folder(value: object) -> Path:
    """A data or build folder: ``~`` expanded, a relative path taken from :func:`course_home`."""
    path = Path(str(value)).expanduser()
    return (path if path.is_absolute() else course_home() / path).resolve()


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
        FlowersError: for an unknown ``FLOWERS_*`` variable (named with the closest
            known one), an unknown profile, split or backbone, a seed that is not a
            whole number in 0..2**32-1 (``7.5`` and ``True`` included), a run, epoch
            count or batch size below 1, split sizes that are not three whole numbers
            from 1 adding up to at most 80, a yes/no variable other than its six words,
            an md5 that is not 32 hex digits, or a data or build folder that is a file
            or cannot be written.
    """
    env = os.environ if env is None else env
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise FlowersError(f"Unknown configuration field(s): {', '.join(sorted(unknown))}.")
    typos = unknown_settings(env)
    if typos:
        raise FlowersError(" ".join(typos))

    profile = str(given.pop("profile", env.get("FLOWERS_PROFILE", "full") or "full"))
    if profile not in PROFILES:
        raise FlowersError(f"FLOWERS_PROFILE must be one of {PROFILES}, not {profile!r}.")
    split = str(given.pop("split", env.get("FLOWERS_SPLIT", "seeded") or "seeded"))
    if split not in SPLITS:
        raise FlowersError(f"FLOWERS_SPLIT must be one of {SPLITS}, not {split!r}.")
    seed = whole_number(given.pop("seed"), "seed", 0, MAX_SEED) if "seed" in given else \
        whole_number(env.get("FLOWERS_SEED") or "42", "FLOWERS_SEED", 0, MAX_SEED)
    run = whole_number(given.pop("run"), "run", 1) if "run" in given else \
        whole_number(env.get("FLOWERS_RUN") or "1", "FLOWERS_RUN (training runs count from 1)", 1)
    sizes_given = "split_sizes" in given or bool(env.get("FLOWERS_SPLIT_SIZES"))
    sizes = split_sizes_of(given.pop("split_sizes")) if "split_sizes" in given else \
        split_sizes_of(env.get("FLOWERS_SPLIT_SIZES") or (40, 20, 20), "FLOWERS_SPLIT_SIZES")
    photos = _photos_setting(given.pop("photos") if "photos" in given else env.get("FLOWERS_PHOTOS"))
    fractions_given = "split_fractions" in given or bool(env.get("FLOWERS_SPLIT_FRACTIONS"))
    fractions = split_fractions_of(given.pop("split_fractions"), "split_fractions") if "split_fractions" in given \
        else split_fractions_of(env.get("FLOWERS_SPLIT_FRACTIONS") or DEFAULT_FRACTIONS, "FLOWERS_SPLIT_FRACTIONS")
    if photos is not None and sizes_given:
        raise FlowersError("FLOWERS_SPLIT_SIZES counts Flowers17's photos per species, so it does not apply to your "
                           "own photos (FLOWERS_PHOTOS). Use FLOWERS_SPLIT_FRACTIONS (such as 60,20,20) instead.")
    if photos is None and fractions_given:
        raise FlowersError("FLOWERS_SPLIT_FRACTIONS divides your own photos, and FLOWERS_PHOTOS is not set. For "
                           "Flowers17, give the photos per species with FLOWERS_SPLIT_SIZES (such as 40,20,20), or "
                           "set FLOWERS_PHOTOS to your folder.")
    if photos is not None and split != "seeded":
        raise FlowersError(f"FLOWERS_SPLIT={split} is one of Flowers17's official splits; your own photos "
                           f"(FLOWERS_PHOTOS) get a seeded split. Leave FLOWERS_SPLIT unset.")
    deterministic = _flag(env, "FLOWERS_DETERMINISTIC", True)
    mixed_precision = _flag(env, "FLOWERS_MIXED_PRECISION", False)
    for name in ("deterministic", "mixed_precision"):
        if name in given and not isinstance(given[name], bool):
            raise FlowersError(f"{name} must be True or False, not {given[name]!r}.")
    for name, low in (("transfer_epochs", 1), ("finetune_epochs", 1), ("probe_epochs", 1), ("batch_size", 1),
                      ("steps_per_epoch", 1), ("image_size", 1)):
        if name in given:
            given[name] = whole_number(given[name], name, low)

    data_dir = _folder(given.pop("data_dir", env.get("FLOWERS_DATA_DIR") or "data"))
    build_dir = _folder(given.pop("build_dir", env.get("FLOWERS_BUILD_DIR") or "build"))
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
        split_sizes=sizes, seed=seed, run=run, backbone=backbone, photos=photos, split_fractions=fractions,
        mixed_precision=mixed_precision, deterministic=deterministic,
    )
    values.update(given)
    if values["image_size"] < spec.min_size:  # type: ignore[operator]
        raise FlowersError(f"image_size must be at least {spec.min_size} for {backbone}, not {values['image_size']}.")
    return Config(**values)  # type: ignore[arg-type]


def require_flowers17(cfg: Config) -> None:
    """Stop a lesson or step that prepares Flowers17 when the run is on your own photos.

    Raises:
        FlowersError: naming the photo folder, and what to do instead.
    """
    if cfg.photos is not None:
        raise FlowersError(f"This lesson downloads and splits Flowers17, but FLOWERS_PHOTOS is set ({cfg.photos}). "
                           f"Lessons 02-09 make the split of your own photos themselves: run them, or unset "
                           f"FLOWERS_PHOTOS to run this lesson on Flowers17.")
