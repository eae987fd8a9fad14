"""Single-file prediction handles any image; results.json keeps its schema."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import evaluation, images, results, runs
from helpers.config import load_config


@pytest.fixture
def cfg(tmp_path: Path):
    return load_config(env={}, profile="smoke", data_dir=tmp_path / "data", build_dir=tmp_path / "build")


def _photo(size: tuple[int, int] = (120, 90)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("kind", ["png_alpha", "greyscale", "large_jpeg", "palette_transparent", "cmyk", "tiny"])
def test_any_image_file_becomes_one_preprocessed_batch(kind: str, tmp_path: Path, cfg) -> None:
    photo = _photo()
    path = tmp_path / f"{kind}.img"
    if kind == "png_alpha":
        rgba = photo.convert("RGBA")
        rgba.putalpha(128)
        rgba.save(path, format="PNG")
    elif kind == "greyscale":
        photo.convert("L").save(path, format="JPEG")
    elif kind == "large_jpeg":
        photo.resize((3000, 2000)).save(path, format="JPEG")
    elif kind == "palette_transparent":
        pal = photo.convert("P")
        pal.info["transparency"] = 0
        pal.save(path, format="PNG", transparency=0)
    elif kind == "cmyk":
        photo.convert("CMYK").save(path, format="JPEG")
    else:
        photo.resize((7, 5)).save(path, format="PNG")
    x = evaluation.load_image_for_model(path, cfg)
    assert x.shape == (1, cfg.image_size, cfg.image_size, 3)
    assert x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0


def test_transparent_areas_become_white(tmp_path: Path, cfg) -> None:
    clear = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    clear.save(tmp_path / "clear.png")
    x = evaluation.load_image_for_model(tmp_path / "clear.png", cfg)
    assert np.allclose(x, 1.0), "white is +1 after InceptionV3 preprocessing"


def test_a_wide_photo_is_cropped_to_its_centre_like_the_generators(tmp_path: Path, cfg) -> None:
    """Red sides, a blue middle square: the model sees only blue, and the same pixels as flow_from_directory."""
    from tensorflow.keras.preprocessing.image import img_to_array, load_img

    wide = Image.new("RGB", (300, 100), (255, 0, 0))
    wide.paste((0, 0, 255), (100, 0, 200, 100))
    wide.save(tmp_path / "wide.png")
    x = evaluation.load_image_for_model(tmp_path / "wide.png", cfg)[0]
    inside = x[:, 2:-2]   # bilinear resizing blends the outermost columns with their neighbours
    assert np.allclose(inside[..., 2], 1.0) and np.allclose(inside[..., 0], -1.0), "only the blue centre is left"
    size = (cfg.image_size, cfg.image_size)
    keras_way = img_to_array(load_img(tmp_path / "wide.png", target_size=size, interpolation="bilinear",
                                      keep_aspect_ratio=True))
    assert np.allclose(x, keras_way / 127.5 - 1.0, atol=1e-5)


def test_predict_file_returns_the_top_three_in_order(tmp_path: Path, cfg) -> None:
    import keras

    _photo().save(tmp_path / "p.jpg")
    probs = np.array([[0.1, 0.5, 0.05, 0.35]], dtype="float32")
    model = keras.Sequential([keras.Input((cfg.image_size, cfg.image_size, 3)),
                              keras.layers.Lambda(lambda t: keras.ops.zeros((keras.ops.shape(t)[0], 4)) + probs)])
    top = evaluation.predict_file(model, tmp_path / "p.jpg", cfg, ("a", "b", "c", "d"))
    assert [name for name, _ in top] == ["b", "d", "a"]
    assert top[0][1] == pytest.approx(0.5)


def test_results_merge_and_schema(cfg) -> None:
    results.update_results(cfg, {"backbone": "inception_v3", "image_size": 75,
                                 "phases": {"transfer": {"epochs": 1, "seconds": 2.0, "best_val_accuracy": 0.1}}})
    partial = results.read_results(cfg)
    assert "test_accuracy" in results.missing_keys(partial)
    assert "phases.finetune.epochs" in results.missing_keys(partial)
    merged = results.update_results(cfg, {"chosen": "finetune", "test_accuracy": 0.5, "phases": {"finetune": {
        "epochs": 1, "seconds": 3.0, "best_val_accuracy": 0.2}}})
    assert merged["phases"]["transfer"]["epochs"] == 1, "merging must keep the other phase"
    assert results.missing_keys(merged) == []
    assert results.read_results(cfg) == merged


def _a_complete_run(cfg) -> dict:
    for phase in runs.PHASES:                 # the lessons record each phase before writing its numbers
        runs.start_clean(cfg, phase)
    return results.update_results(cfg, {
        "chosen": "finetune", "test_accuracy": 0.9, "test_images": 340, "lessons": {"05_transfer_learning": 9},
        "phases": {"probe": {"val_accuracy": 0.8}, "transfer": {"epochs": 3, "val_accuracy": 0.85},
                   "finetune": {"epochs": 2, "val_accuracy": 0.9}}})


def test_numbers_of_another_run_are_never_read_and_a_new_record_alone_retires_nothing_else(cfg) -> None:
    """Results follow the phase records: a record written again retires its phase, nothing more."""
    before = _a_complete_run(cfg)
    assert results.read_results(cfg) == before
    assert results.read_results(cfg.replace(seed=7)) == {}                  # another run: nothing
    runs.start_clean(cfg, "final")                                          # lesson 07 again
    left = results.read_results(cfg)
    assert set(left["phases"]) == {"probe", "transfer", "finetune"} and "chosen" not in left
    assert left["lessons"] == {"05_transfer_learning": 9}


@pytest.mark.parametrize(("phase", "kept"), [("probe", {"transfer", "finetune"}), ("transfer", {"probe"}),
                                             ("finetune", {"probe", "transfer"}),
                                             ("final", {"probe", "transfer", "finetune"})])
def test_a_phase_that_starts_again_retires_its_numbers_and_the_choice(cfg, phase: str, kept: set) -> None:
    """Re-running lesson 05 or 06 without 07 must not leave the old choice and test score in results.json."""

    _a_complete_run(cfg)
    runs.start_clean(cfg, phase)
    left = results.read_results(cfg)
    assert set(left["phases"]) == kept
    assert not {"chosen", "test_accuracy", "test_images"} & set(left)
    assert left["lessons"] == {"05_transfer_learning": 9}


def test_lesson_08_s_own_phase_leaves_the_results_alone(cfg) -> None:

    before = _a_complete_run(cfg)
    runs.start_clean(cfg, "finetune_from_cache")
    assert results.read_results(cfg) == before


@pytest.mark.parametrize("change", [{"profile": "full"}, {"seed": 7}, {"backbone": "mobilenet_v2"},
                                    {"split": "official1"}, {"image_size": 96}])
def test_results_of_another_run_identity_are_replaced(cfg, change: dict) -> None:
    """results.json never mixes two runs: another profile, seed, backbone, split or size starts it afresh."""
    results.update_results(cfg, {"test_accuracy": 0.9, "phases": {"transfer": {"epochs": 3}}})
    assert results.read_results(cfg)["identity"] == runs.run_identity(cfg)
    other = cfg.replace(**change)
    fresh = results.update_results(other, {"phases": {"finetune": {"epochs": 2}}})
    assert fresh == {"profile": other.profile, "phases": {"finetune": {"epochs": 2}},
                     "identity": runs.run_identity(other)}
    assert fresh["identity"] != runs.run_identity(cfg)
    kept = results.update_results(other, {"test_accuracy": 0.8})
    assert kept["phases"] == {"finetune": {"epochs": 2}}, "the same identity merges"


# --------------------------------------------------------------------------- any photo a learner tries


def test_a_missing_path_a_folder_and_a_text_file_each_get_one_sentence(tmp_path: Path, cfg) -> None:
    from helpers.errors import FlowersError

    (tmp_path / "notes.txt").write_text("not a photo\n")
    cases = {tmp_path / "nope.jpg": "There is no file at", tmp_path: "is a folder",
             tmp_path / "notes.txt": "does not open as an image"}
    for path, words in cases.items():
        with pytest.raises(FlowersError, match=words) as info:
            evaluation.load_image_for_model(path, cfg)
        assert "\n" not in str(info.value)


def test_an_image_over_the_pixel_limit_is_refused(tmp_path: Path, cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.errors import FlowersError

    _photo((120, 90)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 80)
    with pytest.raises(FlowersError, match=r"120 x 90 pixels, more than the 8,000"):
        evaluation.load_image_for_model(tmp_path / "big.png", cfg)


def test_a_bomb_a_pipe_and_a_float_tiff_each_get_one_sentence(tmp_path: Path, cfg) -> None:
    """The single-photo path goes through helpers.images' check: refused by name, never a hang or a white square."""
    from support import bomb_png

    from helpers.errors import FlowersError

    (tmp_path / "bomb.png").write_bytes(bomb_png(30000, 30000))
    os.mkfifo(tmp_path / "pipe.jpg")
    Image.fromarray(np.full((20, 20), 0.5, dtype=np.float32), "F").save(tmp_path / "float.tif")
    for name, words in (("bomb.png", "image bomb"), ("pipe.jpg", "named pipe"), ("float.tif", "floating-point")):
        with pytest.raises(FlowersError, match=words) as info:
            evaluation.load_image_for_model(tmp_path / name, cfg)
        assert "\n" not in str(info.value) and "Give a JPEG, PNG or similar photo." in str(info.value)


def test_a_16_bit_greyscale_png_keeps_its_greys(tmp_path: Path, cfg) -> None:
    """Mid-grey in 16 bits (32768) must come out mid-grey, not white."""
    grey = Image.fromarray(np.full((40, 40), 32768, dtype=np.uint16))
    grey.save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    x = evaluation.load_image_for_model(tmp_path / "grey16.png", cfg)
    assert np.allclose(x, 0.0, atol=0.01), "127.5 of 255 is 0 after InceptionV3's preprocessing"


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path: Path, cfg) -> None:
    """Stored wide (red left, blue right) with orientation 6: shown tall, red on top, blue below."""
    stored = Image.new("RGB", (80, 40), (255, 0, 0))
    stored.paste((0, 0, 255), (40, 0, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    red = evaluation.load_image_for_model(tmp_path / "phone.jpg", cfg)[0, ..., 0]
    rows, columns = red.mean(axis=1), red.mean(axis=0)
    assert rows.max() - rows.min() > 1.5, "upright: the colour changes from top to bottom"
    assert columns.max() - columns.min() < 0.2, "not sideways: no change from left to right"


def test_an_http_url_is_fetched_with_get_file(tmp_path: Path, cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local web server on 127.0.0.1 stands in for the internet."""
    for name in ("no_proxy", "NO_PROXY"):  # never route the local URL through a proxy
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    import functools
    import http.server
    import threading

    served = tmp_path / "web"
    served.mkdir()
    _photo().save(served / "flower.png")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/flower.png"
        x = evaluation.load_image_for_model(url, cfg)
        assert np.allclose(x, evaluation.load_image_for_model(served / "flower.png", cfg))
        from helpers.errors import FlowersError

        with pytest.raises(FlowersError, match="Could not download the photo"):
            evaluation.load_image_for_model(url.replace("flower.png", "missing.png"), cfg)
    finally:
        server.shutdown()
        server.server_close()


def test_results_of_another_run_are_not_read(cfg) -> None:
    """Lesson 08 compares with lesson 05's numbers only when they come from the same settings and split."""
    results.update_results(cfg, {"phases": {"transfer": {"epochs": 3}}})
    assert results.read_results(cfg)["phases"] == {"transfer": {"epochs": 3}}
    assert results.read_results(cfg.replace(seed=7)) == {}
    results.results_path(cfg).write_text('{"phases": {"transf')       # damaged by hand
    assert results.read_results(cfg) == {}
    assert results.update_results(cfg, {"test_accuracy": 0.5})["test_accuracy"] == 0.5
