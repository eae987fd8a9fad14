"""helpers.images: the one check every photo goes through (archive, learner's folder, single photo)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import bomb_png

from helpers import images
from helpers.errors import FlowersError


def test_a_real_photo_passes_and_opens_as_rgb(tmp_path: Path) -> None:
    Image.new("CMYK", (30, 20), (0, 255, 255, 0)).save(tmp_path / "print.jpg")
    assert images.photo_problem(tmp_path / "print.jpg") is None
    rgb = images.open_photo(tmp_path / "print.jpg")
    assert rgb.mode == "RGB" and rgb.size == (30, 20)
    assert rgb.getpixel((5, 5))[0] > 200 > rgb.getpixel((5, 5))[1], "CMYK's red is still red"


@pytest.mark.parametrize("size, words", [((30000, 30000), "image bomb"),          # Pillow's DecompressionBombError
                                         ((10000, 10000), "image bomb"),          # Pillow's warning only
                                         ((8000, 7000), "8,000 x 7,000 pixels, more than the 50,000,000")])
def test_an_image_bomb_is_refused_without_decoding_it(tmp_path: Path, size: tuple[int, int], words: str) -> None:
    path = tmp_path / "image_0005.jpg"
    path.write_bytes(bomb_png(*size))
    assert path.stat().st_size < 200
    problem = images.photo_problem(path)
    assert problem is not None and words in problem
    with pytest.raises(images.PhotoError, match=words) as info:
        images.open_photo(path)
    assert isinstance(info.value, FlowersError) and "\n" not in str(info.value)


def test_a_named_pipe_is_refused_without_reading_it(tmp_path: Path) -> None:
    """Opening a pipe blocks until someone writes: the check must not try."""
    pipe = tmp_path / "photo.jpg"
    os.mkfifo(pipe)
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(problem=images.photo_problem(pipe)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the check blocked on the pipe"
    assert result["problem"] == "it is a named pipe, not a file"
    assert images.photo_problem(tmp_path) == "it is a folder"
    assert images.photo_problem(tmp_path / "nope.jpg") == "there is no such file"


def test_pixels_with_no_agreed_range_are_refused_by_name(tmp_path: Path) -> None:
    """32-bit float (a scientific TIFF) would become an all-white square if converted blindly."""
    Image.fromarray(np.full((20, 20), 0.5, dtype=np.float32), "F").save(tmp_path / "float.tif")
    problem = images.photo_problem(tmp_path / "float.tif")
    assert problem is not None and "32-bit floating-point" in problem and "mode F" in problem
    Image.fromarray(np.full((20, 20), 1_000_000, dtype=np.int32), "I").save(tmp_path / "int32.tif")
    assert "32-bit integers from 1000000 to 1000000" in (images.photo_problem(tmp_path / "int32.tif") or "")
    # A 16-bit grey PNG is a photo: Pillow may open it as mode I, with values up to 65535.
    Image.fromarray(np.full((20, 20), 32768, dtype=np.uint16)).save(tmp_path / "grey16.png")
    assert images.photo_problem(tmp_path / "grey16.png") is None
    assert images.open_photo(tmp_path / "grey16.png").getpixel((3, 3)) == (127, 127, 127)


def test_what_is_not_an_image_says_so(tmp_path: Path) -> None:
    (tmp_path / "page.jpg").write_text("<html><body>Save as...</body></html>")
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 48), (10, 200, 10)).save(good, quality=90)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:200])
    for name in ("page.jpg", "cut.jpg"):
        problem = images.photo_problem(tmp_path / name)
        assert problem is not None and problem.startswith("it does not open as an image"), (name, problem)
