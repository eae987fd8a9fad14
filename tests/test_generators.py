"""Lesson 02's input pipeline: helpers.generators on a synthetic smoke split (75 px, batches of 16)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import data, flowers17, generators, timing
from helpers.config import Config, load_config
from helpers.errors import FlowersError

#: The 17 class folders, in the official order that flow_from_directory must number 0..16.
CLASS_FOLDERS = [
    "00_daffodil", "01_snowdrop", "02_lily_of_the_valley", "03_bluebell", "04_crocus",
    "05_iris", "06_tigerlily", "07_tulip", "08_fritillary", "09_sunflower", "10_daisy",
    "11_colts_foot", "12_dandelion", "13_cowslip", "14_buttercup", "15_windflower", "16_pansy",
]

# The legacy ImageDataGenerator calls SciPy through a deprecated namespace; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Please import `affine_transform`:DeprecationWarning")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory, synthetic_source: Path) -> Config:
    """The smoke profile in this module's own data/build folders (the session's synthetic archive copied in)."""
    root = tmp_path_factory.mktemp("generators")
    shutil.copytree(synthetic_source, root / "data" / "synthetic")
    return load_config(env={}, profile="smoke", data_dir=root / "data", build_dir=root / "build")


@pytest.fixture(scope="module")
def folder(cfg: Config) -> Path:
    """The smoke split (40/20/20 per class), prepared once for the module."""
    return data.ensure_split(cfg, verbose=False)


@pytest.fixture(scope="module")
def gens(cfg: Config, folder: Path) -> generators.Generators:
    """The three iterators, built once; tests only read batches by index (no epoch ends)."""
    return generators.make_generators(cfg, folder)


def batch_files(it, index: int) -> list[str]:
    """The file names batch ``index`` of a DirectoryIterator is made of (in its current order)."""
    if it.index_array is None:
        it._set_index_array()
    rows = it.index_array[index * it.batch_size:(index + 1) * it.batch_size]
    return [it.filenames[i] for i in rows]


# --------------------------------------------------------------------------- augmentation


def plain_images(cfg: Config, folder: Path, files: list[str]) -> np.ndarray:
    """The unaugmented, preprocessed pixels of ``files`` (paths under ``folder / "train"``)."""
    from tensorflow.keras.preprocessing.image import img_to_array, load_img

    size = (cfg.image_size, cfg.image_size)
    x = np.stack([img_to_array(load_img(folder / "train" / f, target_size=size, interpolation="bilinear",
                                        keep_aspect_ratio=True)) for f in files])
    return generators.preprocess_function(cfg)(x)


def test_training_batches_are_mirrored_at_random_each_fetch(cfg: Config, folder: Path,
                                                            gens: generators.Generators) -> None:
    """Every served training image is its photo or the photo's mirror, each about half of the time."""
    files = batch_files(gens.train, 0)
    plain = plain_images(cfg, folder, files)
    mirrored = plain[:, :, ::-1, :]
    assert not np.allclose(plain, mirrored), "the test needs photos that are not symmetric"
    flips = []
    for _ in range(20):
        x, _ = gens.train[0]
        assert batch_files(gens.train, 0) == files, "the iterator must not reshuffle mid-epoch"
        for served, same, mirror in zip(x, plain, mirrored):
            is_same, is_mirror = np.allclose(served, same, atol=1e-5), np.allclose(served, mirror, atol=1e-5)
            assert is_same or is_mirror, "a training image must be its photo or the photo mirrored"
            flips.append(is_mirror and not is_same)
    # 320 fair coin flips: outside 30%-70% is about 7 standard deviations away.
    assert 0.3 < np.mean(flips) < 0.7


@pytest.mark.parametrize("name", ["validation", "test"])
def test_validation_and_test_batches_are_the_same_every_time(gens: generators.Generators, name: str) -> None:
    """Evaluation sets are not augmented: fetching a batch twice gives identical pixels and labels."""
    it = getattr(gens, name)
    x1, y1 = it[0]
    x2, y2 = it[0]
    assert np.array_equal(x1, x2)
    assert np.array_equal(y1, y2)


def test_training_datagen_applies_the_augmentation(cfg: Config) -> None:
    """The training ImageDataGenerator is built from AUGMENTATION: a mirror, and no geometric change."""
    gen = generators.training_datagen(cfg)
    for name, value in generators.AUGMENTATION.items():
        assert np.all(getattr(gen, name) == value), name
    assert gen.horizontal_flip is True
    assert gen.rotation_range == 0 and gen.shear_range == 0
    assert gen.width_shift_range == 0 and gen.height_shift_range == 0
    assert list(gen.zoom_range) == [1, 1]


def test_iterators_crop_instead_of_squashing(gens: generators.Generators) -> None:
    """All three iterators keep the photos' aspect ratio (centred square crop)."""
    assert all(it.keep_aspect_ratio is True for it in gens.all().values())


def test_evaluation_datagen_does_not_augment(cfg: Config) -> None:
    """The validation/test ImageDataGenerator only preprocesses: every augmentation is off."""
    gen = generators.evaluation_datagen(cfg)
    assert gen.rotation_range == 0
    assert gen.width_shift_range == 0 and gen.height_shift_range == 0
    assert gen.shear_range == 0
    assert list(gen.zoom_range) == [1, 1]
    assert gen.horizontal_flip is False and gen.vertical_flip is False
    assert gen.preprocessing_function is generators.preprocess_function(cfg)


# --------------------------------------------------------------------------- order and classes


def test_test_iterator_is_not_shuffled(gens: generators.Generators) -> None:
    """The test batches follow file order, so predictions line up with ``.classes``."""
    assert gens.test.shuffle is False
    _, labels = gens.test[0]
    n = len(labels)
    assert n == gens.test.batch_size
    np.testing.assert_array_equal(labels.argmax(axis=1), gens.test.classes[:n])
    # ... and the same holds for a batch further in, which spans a class boundary.
    _, labels = gens.test[1]
    np.testing.assert_array_equal(labels.argmax(axis=1), gens.test.classes[n:2 * n])


def test_training_iterator_is_shuffled(gens: generators.Generators) -> None:
    """Training batches mix classes (shuffled, seeded), unlike the file order."""
    assert gens.train.shuffle is True
    _, labels = gens.train[0]
    assert len(set(labels.argmax(axis=1).tolist())) > 1


def test_all_three_number_the_classes_in_the_official_order(gens: generators.Generators) -> None:
    """``class_indices`` is the same for train, validation and test: 00_daffodil=0 ... 16_pansy=16."""
    expected = {name: i for i, name in enumerate(CLASS_FOLDERS)}
    for it in gens.all().values():
        assert it.class_indices == expected
        assert list(it.class_indices) == CLASS_FOLDERS


def test_make_generators_numbers_folders_like_the_data_module(gens: generators.Generators) -> None:
    """The folder names come from ``flowers17.class_folder``, so both modules agree."""
    assert [flowers17.class_folder(i) for i in range(17)] == CLASS_FOLDERS
    assert list(gens.train.class_indices) == CLASS_FOLDERS


# --------------------------------------------------------------------------- pixels, shapes, sizes


@pytest.mark.parametrize("name", ["train", "test"])
def test_preprocessing_scales_pixels_to_minus_one_one(gens: generators.Generators, name: str) -> None:
    """Pixels are in [-1, 1] and use the range (not left at 0..255 or squeezed into 0..1)."""
    x, _ = getattr(gens, name)[0]
    assert x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x.min() < -0.5 and x.max() > 0.5


def test_batches_have_the_configured_image_and_batch_size(cfg: Config, gens: generators.Generators) -> None:
    """Images are cfg.image_size square, RGB, cfg.batch_size per batch; labels are one-hot over 17."""
    assert (cfg.image_size, cfg.batch_size) == (75, 16)
    for it in gens.all().values():
        x, y = it[0]
        assert x.shape == (cfg.batch_size, cfg.image_size, cfg.image_size, 3)
        assert y.shape == (cfg.batch_size, 17)
        np.testing.assert_array_equal(y.sum(axis=1), np.ones(cfg.batch_size))
        assert it.target_size == (cfg.image_size, cfg.image_size)
        assert it.batch_size == cfg.batch_size


def test_image_and_batch_size_follow_the_config(cfg: Config, folder: Path) -> None:
    """A config with another size and batch gives iterators with that size and batch."""
    other = generators.make_generators(cfg.replace(image_size=80, batch_size=5), folder)
    x, _ = other.validation[0]
    assert x.shape == (5, 80, 80, 3)


def test_split_sizes_are_40_20_20_per_class(gens: generators.Generators) -> None:
    """680 training, 340 validation and 340 test images."""
    assert (gens.train.samples, gens.validation.samples, gens.test.samples) == (680, 340, 340)


def test_workers_are_set_on_every_iterator(cfg: Config, folder: Path, gens: generators.Generators) -> None:
    """Keras 3 reads the loader threads from the iterator: make_generators sets them (default 2).

    With repeatable training (the default) the augmented training iterator gets one: its flips
    draw from NumPy's global generator, which threads would share in a changing order.
    """
    assert cfg.deterministic
    assert (gens.train.workers, gens.validation.workers, gens.test.workers) == (1, 2, 2)
    free = generators.make_generators(cfg.replace(deterministic=False), folder)
    assert all(it.workers == 2 for it in free.all().values())
    one = generators.make_generators(cfg.replace(deterministic=False), folder, workers=1)
    assert all(it.workers == 1 for it in one.all().values())
    plain = generators.make_generators(cfg, folder, augment_train=False)
    assert plain.train.workers == 2, "without augmentation nothing random is drawn: two threads are safe"


# --------------------------------------------------------------------------- steps


@pytest.mark.parametrize(("samples", "batch", "steps"), [
    (680, 32, 22), (680, 16, 43), (64, 64, 1), (65, 64, 2), (340, 16, 22), (1, 64, 1),
])
def test_steps_for_rounds_up(samples: int, batch: int, steps: int) -> None:
    """One epoch is ceil(samples / batch) steps: the last, smaller batch counts too."""
    assert generators.steps_for(samples, batch) == steps


def test_steps_for_matches_the_iterators_length(cfg: Config, gens: generators.Generators) -> None:
    """steps_for agrees with len() of each iterator, which is what model.fit iterates over."""
    for it in gens.all().values():
        assert generators.steps_for(it.samples, cfg.batch_size) == len(it)
    assert len(gens.train) == 43


# --------------------------------------------------------------------------- undo and throughput


def test_undo_preprocessing_maps_minus_one_one_to_zero_one() -> None:
    """-1 -> 0, 0 -> 0.5, 1 -> 1, and values outside are clipped into 0..1."""
    out = generators.undo_preprocessing(np.array([-1.0, 0.0, 1.0, -0.5, 0.5, -3.0, 2.5]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 0.25, 0.75, 0.0, 1.0])


def test_undo_preprocessing_inverts_preprocess_input(cfg: Config) -> None:
    """Preprocessing 0..255 pixels and undoing it gives the pixels / 255 back."""
    pixels = np.array([0.0, 51.0, 127.5, 204.0, 255.0])
    back = generators.undo_preprocessing(generators.preprocess_function(cfg)(pixels.copy()))
    np.testing.assert_allclose(back, pixels / 255.0, atol=1e-6)


class BatchesOf:
    """A stand-in iterator whose batches hold 4, 5 and 3 images; it records what was fetched."""

    sizes = (4, 5, 3)

    def __init__(self) -> None:
        self.fetched: list[int] = []

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> tuple[np.ndarray, None]:
        self.fetched.append(i)
        return np.zeros((self.sizes[i], 2, 2, 3)), None


@pytest.mark.parametrize("workers", [1, 2])
def test_measure_throughput_counts_every_image_it_fetches_after_the_warm_up(
        workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four timed batches after a warm-up batch: 5 + 3 + 4 + 5 = 17 images in 2 s is 8.5 images/s."""
    iterator = BatchesOf()
    clock = iter([10.0, 12.0])                   # start and stop of the timed part
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    assert timing.measure_throughput(iterator, batches=4, workers=workers) == 8.5
    assert iterator.fetched[0] == 0 and sorted(iterator.fetched[1:]) == [0, 1, 1, 2]


def test_measure_throughput_of_the_real_iterator_is_positive(gens: generators.Generators) -> None:
    rate = timing.measure_throughput(gens.train, batches=2, workers=2)
    assert np.isfinite(rate) and rate > 0


def test_the_tf_data_augmentation_is_built_from_the_one_constant() -> None:
    """AUGMENTATION (a mirror) gives one RandomFlip layer; other settings give their own layers."""
    (flip,) = generators.augmentation_layers(seed=1).layers
    assert type(flip).__name__ == "RandomFlip" and flip.mode == "horizontal"
    original = {"horizontal_flip": True, "rotation_range": 30, "width_shift_range": 0.2,
                "height_shift_range": 0.1, "zoom_range": 0.2}
    built = {type(layer).__name__: layer for layer in generators.augmentation_layers(settings=original).layers}
    assert list(built) == ["RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom"]
    assert built["RandomRotation"].factor == pytest.approx((-30 / 360, 30 / 360))
    assert built["RandomTranslation"].height_factor == 0.1 and built["RandomTranslation"].width_factor == 0.2
    assert built["RandomZoom"].height_factor == pytest.approx((-0.2, 0.2))
    zoom_in = generators.augmentation_layers(settings={"zoom_range": [0.8, 1.0]}).layers[0]
    assert zoom_in.height_factor == pytest.approx((-0.2, 0.0)), "ImageDataGenerator's 0.8 zooms in, like -0.2"
    with pytest.raises(FlowersError, match=r"no Keras layer for \['shear_range'\]"):
        generators.augmentation_layers(settings={"shear_range": 0.2})

