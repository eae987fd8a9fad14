"""Lesson 08's machinery: backbones, cached features, tf.data, pretrained weights, many devices."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from support import ROOT, copy_synthetic_source, smoke_split

from helpers import backbones, features, generators, models, timing
from helpers.config import Config, load_config
from helpers.flowers17 import SPECIES

SHARED_WEIGHTS = ROOT.parent / "shared" / "weights"
MOBILENET_035 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
needs_real_weights = pytest.mark.skipif(
    not (SHARED_WEIGHTS / MOBILENET_035).exists(),
    reason=f"the real MobileNetV2 ImageNet weights are not in {SHARED_WEIGHTS} on this machine")


@pytest.fixture
def keras_home(tmp_path: Path) -> Path:
    """A KERAS_HOME whose models/ cache holds the real MobileNetV2-0.35 weights (a link)."""
    home = tmp_path / "keras"
    (home / "models").mkdir(parents=True)
    (home / "models" / MOBILENET_035).symlink_to(SHARED_WEIGHTS / MOBILENET_035)
    return home


@pytest.fixture(scope="module")
def split_cfg(tmp_path_factory: pytest.TempPathFactory, synthetic_source: Path) -> tuple[Config, Path]:
    """A smoke configuration with its split prepared once for this module."""
    return smoke_split(tmp_path_factory.mktemp("backbones"), synthetic_source)


EXPECTED_OUTPUT = {"inception_v3": (8, 8, 2048), "mobilenet_v2": (7, 7, 1280),
                   "mobilenet_v2_035": (9, 9, 1280), "efficientnet_b0": (7, 7, 1280)}


def test_the_registry_has_the_required_backbones() -> None:
    assert set(EXPECTED_OUTPUT) <= set(models.BACKBONES)
    assert models.BACKBONES["inception_v3"].image_size == 299
    assert models.BACKBONES["mobilenet_v2_035"].kwargs == {"alpha": 0.35}
    assert load_config(env={}).backbone == "inception_v3"


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT))
def test_every_backbone_builds_with_its_output_shape_cut_and_preprocessing(name: str) -> None:
    spec = models.BACKBONES[name]
    base = spec.build(None, (spec.image_size, spec.image_size, 3))
    assert tuple(base.output.shape[1:]) == EXPECTED_OUTPUT[name]
    cut = models.layer_index(base, spec.freeze_through)
    assert 0 < models.layer_index(base, spec.deeper_cut) < cut < len(base.layers) - 1
    assert len(models.block_table(base, spec.block_pattern)) >= 10
    low, high = spec.input_range
    out = spec.preprocess(np.array([0.0, 127.5, 255.0], dtype="float32"))
    assert out[0] == pytest.approx(low) and out[-1] == pytest.approx(high)


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT))
def test_the_configuration_picks_the_backbone_and_its_sizes(name: str) -> None:
    spec = models.BACKBONES[name]
    assert load_config(env={"FLOWERS_BACKBONE": name}).image_size == spec.image_size == spec.size_for("full")
    smoke = load_config(env={"FLOWERS_BACKBONE": name, "FLOWERS_PROFILE": "smoke"})
    assert smoke.image_size == spec.min_size == spec.size_for("smoke")


def test_an_unknown_backbone_is_a_clear_error() -> None:
    from helpers.errors import FlowersError

    with pytest.raises(FlowersError, match="FLOWERS_BACKBONE must be one of"):
        load_config(env={"FLOWERS_BACKBONE": "resnet9000"})


def test_cached_features_equal_a_direct_forward_pass(split_cfg: tuple[Config, Path]) -> None:
    cfg, folder = split_cfg
    plain = generators.make_generators(cfg, folder, augment_train=False)
    extractor = features.feature_extractor(models.load_base(cfg))
    cached = features.extract_features(extractor, plain.test)
    assert cached.x.shape == (340, 2048)
    assert cached.filenames == plain.test.filenames
    assert (cached.y.argmax(axis=1) == plain.test.classes).all()
    for i in (0, 3):
        batch, _ = plain.test[i]
        start = i * cfg.batch_size
        direct = np.asarray(extractor(batch, training=False))
        assert np.allclose(direct, cached.x[start:start + len(batch)], atol=1e-4)
    with pytest.raises(ValueError, match="shuffle=False"):
        features.extract_features(extractor, generators.make_generators(cfg, folder).train)


def _random_conv_base(size: int):
    """The documented backbone of the learning test: two random (untrained) convolutions.

    Random InceptionV3 features carry almost nothing at smoke size; two random
    convolutions keep the colours and shapes that tell the synthetic species apart.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(64, 3, activation="relu")(inputs)
    x = layers.Conv2D(128, 3, strides=2, activation="relu")(x)
    return keras.Model(inputs, x, name="random_convs")


def test_a_head_trained_on_cached_features_learns_the_synthetic_set(split_cfg: tuple[Config, Path]) -> None:
    import keras

    cfg, folder = split_cfg
    cfg = cfg.replace(image_size=64, batch_size=32)
    plain = generators.make_generators(cfg, folder, augment_train=False)
    base = _random_conv_base(64)
    cached = {p: features.extract_features(features.feature_extractor(base), it) for p, it in plain.all().items()}
    keras.utils.set_random_seed(0)
    head = features.feature_head(cached["train"].x.shape[1], len(SPECIES))
    head.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    head.fit(cached["train"].x, cached["train"].y, epochs=60, batch_size=32, verbose=0)
    _, accuracy = head.evaluate(cached["test"].x, cached["test"].y, verbose=0)
    assert accuracy >= 0.60, f"test accuracy {accuracy:.3f}"

    # ...and its weights carry over to the full model, which then predicts the same.
    model = models.add_head(base, len(SPECIES))
    features.copy_head_weights(head, model)
    batch, _ = plain.test[0]
    assert np.allclose(np.asarray(model(batch, training=False)),
                       np.asarray(head(cached["test"].x[: len(batch)], training=False)), atol=1e-4)


def test_tf_data_and_generators_agree_on_classes_and_preprocessing(split_cfg: tuple[Config, Path]) -> None:
    cfg, folder = split_cfg
    datasets = generators.make_datasets(cfg, folder)
    gens = generators.make_generators(cfg, folder)
    for part, it in gens.all().items():
        assert datasets[part].class_names == list(it.class_indices)
    # Whole passes only: abandoning a cached dataset after one batch (next(iter(ds))) can, on a
    # busy CPU, leave TensorFlow's in-memory cache holding just that batch (seen: 1 of 22 batches).
    batches = list(datasets["test"])
    x, _ = batches[0]
    assert tuple(x.shape) == (cfg.batch_size, cfg.image_size, cfg.image_size, 3)
    assert float(np.min(x)) >= -1.0 and float(np.max(x)) <= 1.0
    # The unshuffled test set lists files in the same order as the generator: same labels.
    labels = np.concatenate([np.argmax(yb, axis=1) for _, yb in batches])
    assert (labels == gens.test.classes).all()
    assert timing.measure_dataset_throughput(datasets["validation"]) > 0


def test_tf_data_augments_only_the_training_set(split_cfg: tuple[Config, Path]) -> None:
    cfg, folder = split_cfg
    datasets = generators.make_datasets(cfg, folder)
    first = [x.numpy() for x, _ in datasets["validation"]]
    second = [x.numpy() for x, _ in datasets["validation"]]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    plain = np.concatenate([x.numpy() for x, _ in generators.make_datasets(cfg, folder, augment=False)["train"]])
    augmented = np.concatenate([x.numpy() for x, _ in datasets["train"]])
    assert plain.shape == augmented.shape
    # Mirroring keeps each row's sum: find every served image's photo by its row sums.
    rows = plain.sum(axis=(2, 3))
    mirrored = []
    for x in augmented:
        photo = plain[np.argmin(np.abs(rows - x.sum(axis=(1, 2))).sum(axis=1))]
        same, mirror = np.allclose(x, photo, atol=1e-5), np.allclose(x, photo[:, ::-1], atol=1e-5)
        assert same or mirror, "a training image must be its photo or the photo mirrored"
        mirrored.append(mirror and not same)
    assert 0.3 < np.mean(mirrored) < 0.7, "about half of the 680 training images are mirrored"


def _served_epoch(dataset) -> tuple[list[str], set[frozenset[str]]]:
    """One pass: the photos in the order served, and the batches as sets of photos.

    A photo is known by a fingerprint its mirror image shares (the image plus
    its mirror), so the random flips do not hide which photo was served.
    """
    order, batches = [], set()
    for x, _ in dataset:
        x = x.numpy()
        keys = [hashlib.sha1(np.round(both, 3).tobytes()).hexdigest() for both in x + x[:, :, ::-1, :]]
        order += keys
        batches.add(frozenset(keys))
    return order, batches


def test_tf_data_serves_every_training_photo_once_per_epoch_in_new_order_and_batches(
        split_cfg: tuple[Config, Path]) -> None:
    """Two epochs of the cached training set: each photo once per epoch, and the epochs differ.

    Caching *after* ``image_dataset_from_directory(shuffle=True)`` fails this:
    the cache keeps epoch 1's batches, and every later epoch replays them.
    """
    cfg, folder = split_cfg
    train = generators.make_datasets(cfg, folder)["train"]
    n_photos = sum(1 for _ in (folder / "train").rglob("*.jpg"))
    (first, first_batches), (second, second_batches) = _served_epoch(train), _served_epoch(train)
    assert len(first) == len(set(first)) == n_photos, "epoch 1 serves every training photo exactly once"
    assert len(second) == n_photos and set(second) == set(first), "epoch 2 serves the same photos, once each"
    assert first != second, "epoch 2 serves the photos in a new order"
    assert first_batches != second_batches, "epoch 2 groups the photos into new batches"


@needs_real_weights
def test_real_pretrained_features_beat_random_ones(tmp_path: Path, keras_home: Path,
                                                   synthetic_source: Path) -> None:
    """ImageNet weights, loaded through Keras' own weights="imagenet" path, help clearly."""
    copy_synthetic_source(synthetic_source, tmp_path / "data")
    script = textwrap.dedent(f"""
        import json, keras
        from helpers import data, features, generators, models
        from helpers.config import load_config
        cfg = load_config(env={{}}, profile="smoke", data_dir={str(tmp_path / "data")!r},
                          build_dir={str(tmp_path / "build")!r}, backbone="mobilenet_v2_035",
                          image_size=224, batch_size=32)
        folder = data.ensure_split(cfg, verbose=False)
        plain = generators.make_generators(cfg, folder, augment_train=False)
        out = {{}}
        for weights in ("imagenet", None):
            keras.utils.set_random_seed(0)
            extractor = features.feature_extractor(models.load_base(cfg.replace(weights=weights)))
            cached = {{p: features.extract_features(extractor, it) for p, it in plain.all().items()}}
            keras.utils.set_random_seed(0)
            head = features.feature_head(cached["train"].x.shape[1], cached["train"].y.shape[1])
            head.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
            head.fit(cached["train"].x, cached["train"].y, epochs=30, batch_size=32, verbose=0)
            out[str(weights)] = head.evaluate(cached["test"].x, cached["test"].y, verbose=0)[1]
        print("RESULT", json.dumps(out))
    """)
    env = {**os.environ, "KERAS_HOME": str(keras_home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.split("RESULT", 1)[1])
    assert result["imagenet"] >= 0.60, result
    assert result["imagenet"] >= result["None"] + 0.30, result


def test_build_quiets_only_keras_note_about_the_weights_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """MobileNetV2's note that it loads its 224-px weights is expected; any other warning still shows."""
    import keras

    def fake_constructor(**kwargs: object) -> dict[str, object]:
        warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in [96, 128, 160, 192, 224]. "
                      "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2)
        warnings.warn("some other problem", UserWarning, stacklevel=2)
        return kwargs

    monkeypatch.setattr(keras.applications, "MobileNetV2", fake_constructor)
    spec = models.BACKBONES["mobilenet_v2_035"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = spec.build("imagenet", (288, 288, 3))
    assert made == {"include_top": False, "weights": "imagenet", "input_shape": (288, 288, 3), "alpha": 0.35}
    assert [str(w.message) for w in caught] == ["some other problem"]


class WeightsRequested(Exception):
    """Raised by the stand-in for Keras' download, so no test goes to the network."""


def test_keras_own_weights_size_warning_is_the_one_quieted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras' real text (not a copy) matches the filter; the 288-px model asks for the 224-px file."""
    import keras
    from keras.src.utils import file_utils  # what keras.applications.MobileNetV2 downloads through

    requested: list[str] = []

    def no_download(name: str, *args: object, **kwargs: object) -> str:
        requested.append(name)
        raise WeightsRequested(name)

    monkeypatch.setattr(file_utils, "get_file", no_download)
    spec = models.BACKBONES["mobilenet_v2_035"]
    size = spec.size_for("full")
    with warnings.catch_warnings(record=True) as bare, pytest.raises(WeightsRequested):
        warnings.simplefilter("always")
        keras.applications.MobileNetV2(include_top=False, weights="imagenet", alpha=0.35,
                                       input_shape=(size, size, 3))
    assert any(re.match(backbones.WEIGHTS_SIZE_WARNING, str(w.message), re.I) for w in bare), \
        [str(w.message) for w in bare]
    with warnings.catch_warnings(record=True) as ours, pytest.raises(WeightsRequested):
        warnings.simplefilter("always")
        spec.build("imagenet", (size, size, 3))
    assert not any(re.match(backbones.WEIGHTS_SIZE_WARNING, str(w.message), re.I) for w in ours)
    assert requested == [MOBILENET_035, MOBILENET_035]


@needs_real_weights
def test_the_224_px_weights_load_at_the_full_profile_size(keras_home: Path) -> None:
    """mobilenet_v2_035 runs at 288 px with Keras' 224-px ImageNet file, and says nothing about it."""
    script = textwrap.dedent("""
        import json, sys, warnings
        import h5py
        from helpers import models
        from helpers.config import load_config
        cfg = load_config(env={}, profile="full", backbone="mobilenet_v2_035")
        with warnings.catch_warnings(record=True) as ours:
            warnings.simplefilter("always")
            base = models.load_base(cfg)
        kernel = base.get_layer("Conv1").get_weights()[0]
        with h5py.File(sys.argv[1], "r") as f:    # the weights file Keras loaded
            stored = f["Conv1"]["Conv1"]["kernel:0"][()]
        print("RESULT", json.dumps({"size": cfg.image_size, "shape": list(base.output.shape[1:]),
                                    "same_kernel": bool((kernel == stored).all()),
                                    "ours": [str(w.message) for w in ours]}))
    """)
    env = {**os.environ, "KERAS_HOME": str(keras_home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-c", script, str(keras_home / "models" / MOBILENET_035)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.split("RESULT", 1)[1])
    assert result["size"] == 288 and result["shape"] == [9, 9, 1280], result
    assert result["same_kernel"], "the 288-px model must hold the 224-px file's weights"
    assert not any("rows" in m for m in result["ours"]), result["ours"]


def test_mirrored_strategy_builds_trains_one_step_and_saves(tmp_path: Path) -> None:
    """The multi-device path, on two logical CPU devices (a fresh process, so TensorFlow can split the CPU)."""
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from helpers import models, runs, training
        from helpers.config import load_config
        cfg = load_config(env={{}}, profile="smoke", build_dir={str(tmp_path)!r})
        strategy = training.distribution_strategy(["/cpu:0", "/cpu:1"])
        assert isinstance(strategy, tf.distribute.MirroredStrategy), type(strategy)
        assert strategy.num_replicas_in_sync == 2
        assert training.global_batch_size(cfg, strategy) == 2 * cfg.batch_size
        with strategy.scope():
            inputs = keras.Input((32, 32, 3))
            base = keras.Model(inputs, keras.layers.Conv2D(8, 3)(inputs))
            model = models.add_head(base, 17)
            training.compile_transfer(model)
        x = np.random.default_rng(0).normal(size=(training.global_batch_size(cfg, strategy), 32, 32, 3))
        y = np.eye(17)[np.arange(len(x)) % 17]
        before = [w.copy() for w in model.get_weights()]
        model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
        path = runs.model_path(cfg, "transfer")
        path.parent.mkdir(parents=True)
        model.save(path)
        assert keras.models.load_model(path).count_params() == model.count_params()
        print("OK")
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "OK" in run.stdout, run.stderr[-3000:]


def test_lesson_08_several_devices_cell_keeps_the_replicas_equal(tmp_path: Path, synthetic_source: Path) -> None:
    """Lesson 08's MirroredStrategy cell, run on two logical CPU devices, trains one step with two equal replicas."""
    script = textwrap.dedent(f"""
        import sys
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from pathlib import Path
        import keras
        from support import lesson_cell, run_cell, smoke_split
        from helpers import generators, models, training
        cfg, folder = smoke_split(Path({str(tmp_path)!r}), Path({str(synthetic_source)!r}))
        cfg = cfg.replace(backbone="mobilenet_v2_035", image_size=32, batch_size=4)
        plain = generators.make_generators(cfg, folder, augment_train=False)
        ns = run_cell(lesson_cell("08", "tf.distribute.MirroredStrategy(devices)"),
                      dict(cfg=cfg, folder=folder, plain=plain, devices=["/cpu:0", "/cpu:1"], tf=tf, keras=keras,
                           models=models, training=training, generators=generators, verbose=0))
        assert ns["strategy"].num_replicas_in_sync == 2 and ns["global_batch"] == 8
        model = ns["gpu_model"]
        assert model.optimizer.iterations.numpy() == 1, "one step"
        trained = [v for v in model.trainable_variables]
        assert trained
        for v in trained:
            replicas = [np.asarray(r) for r in v.value.values]
            assert len(replicas) == 2, (v.path, len(replicas))
            assert all(np.array_equal(replicas[0], r) for r in replicas[1:]), v.path
        assert keras.mixed_precision.global_policy().name == "float32"
        print("OK")
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "OK" in run.stdout, run.stderr[-3000:]


def test_one_device_uses_the_default_strategy() -> None:
    import tensorflow as tf

    from helpers import training

    strategy = training.distribution_strategy([])
    assert strategy is tf.distribute.get_strategy()
    assert training.global_batch_size(load_config(env={}), strategy) == 32


def test_mixed_precision_is_a_switch_refused_on_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from helpers import training

    cfg = load_config(env={"FLOWERS_MIXED_PRECISION": "1"})
    assert cfg.mixed_precision
    try:
        with pytest.warns(UserWarning, match="no GPU"):
            assert training.apply_precision(cfg) == "float32"
        import tensorflow as tf

        monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
        assert training.apply_precision(cfg) == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        tiny = keras.Model(*(lambda i: (i, keras.layers.Conv2D(4, 3)(i)))(keras.Input((16, 16, 3))))
        head = models.add_head(tiny, len(SPECIES))
        assert head.layers[-1].dtype_policy.compute_dtype == "float32", "the output layer stays float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
