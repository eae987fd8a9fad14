"""One check for every photo the course opens: the archive's, a learner's folder, a single photo file.

:func:`photo_problem` says why a file cannot be used (``None`` when it can);
:func:`open_photo` opens one as an upright RGB image or raises
:class:`PhotoError` with that reason. Both refuse, before reading a byte:

- what is not a regular file (a named pipe would block the reader forever,
  a device would be read without end);

and after opening, for any of Pillow's errors:

- what Pillow cannot read (an HTML page or a text file saved as ``.jpg``, a
  truncated JPEG);
- an image of more than :data:`MAX_PIXELS` pixels, including Pillow's own
  ``DecompressionBombWarning`` and ``DecompressionBombError`` (an "image
  bomb": a small file that decodes to gigabytes);
- pixel modes with no agreed range of values, such as 32-bit floating point
  (``F``: 0..1 in one program, 0..255 in another) or 32-bit integers beyond
  16 bits: guessing would give a wrong photo, so they are refused by name.

The module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers.errors import FlowersError

#: The most pixels the course opens (about 50 megapixels: a large phone photo).
MAX_PIXELS = 50_000_000

#: Pillow modes converted to RGB as they are (palette, greyscale, 16-bit grey, CMYK...).
_PLAIN_MODES = {"1", "L", "P", "RGB", "RGBA", "RGBX", "LA", "PA", "La", "RGBa", "CMYK", "YCbCr", "LAB", "HSV"}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}
#: Everything Pillow raises for a file it cannot decode.
_PILLOW_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError,
                  TypeError, KeyError, Image.DecompressionBombError, Image.DecompressionBombWarning)


class PhotoError(FlowersError):
    """A file the course will not use as a photo; :attr:`reason` says why, in a few words."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} cannot be used as a photo: {reason}.")
        self.path, self.reason = Path(path), reason


def _not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` is not a regular file that can be read, or ``None`` (looked at with ``stat`` only)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "there is no such file"
    except OSError as exc:
        return f"it cannot be looked at ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "it is a folder"
    if not stat.S_ISREG(mode):
        kind = "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        return f"it is {kind}, not a file"
    return None


def _too_large(width: int, height: int) -> str | None:
    if width * height > MAX_PIXELS:
        return (f"it is {width:,} x {height:,} pixels, more than the {MAX_PIXELS:,} this course opens "
                f"(make a smaller copy)")
    return None


def _mode_problem(im: Image.Image) -> str | None:
    """Why ``im``'s pixel mode cannot be turned into a photo's RGB, or ``None``."""
    if im.mode in _PLAIN_MODES or im.mode in _SIXTEEN_BIT:
        return None
    if im.mode == "I":   # 32-bit integers: Pillow's mode for 16-bit greyscale PNGs too
        low, high = im.getextrema()
        return None if 0 <= low and high <= 65535 else (
            f"its pixels are 32-bit integers from {low} to {high}, beyond any photo's range (save it as 8-bit)")
    if im.mode == "F":
        return ("its pixels are 32-bit floating-point numbers (mode F), whose range (0..1 or 0..255?) "
                "is not recorded in the file: save it as an 8-bit JPEG or PNG")
    return f"its pixel mode {im.mode!r} is not one a photo uses: save it as an 8-bit JPEG or PNG"


def _open_checked(path: Path, draft: tuple[int, int] | None) -> Image.Image:
    """Open, size-check and fully decode ``path``; raise :class:`PhotoError` with the reason."""
    problem = _not_a_regular_file(path)
    if problem is not None:
        raise PhotoError(path, problem)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                problem = _too_large(im.width, im.height)
                if problem is None:
                    if draft is not None:
                        im.draft("RGB", draft)   # JPEG decodes at reduced size cheaply
                    im.load()                    # decodes the pixels: a truncated file fails here
                    problem = _mode_problem(im)
                    loaded = im.copy() if problem is None else None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        problem = f"it is an image bomb (far more pixels than the {MAX_PIXELS:,} this course opens)"
    except UnidentifiedImageError:
        problem = "it does not open as an image (its bytes are no format Pillow knows)"
    except _PILLOW_ERRORS as exc:
        problem = f"it does not open as an image ({type(exc).__name__}: {exc})"
    if problem is not None:
        raise PhotoError(path, problem)
    return loaded


def photo_problem(path: Path | str, draft: tuple[int, int] | None = (64, 64)) -> str | None:
    """Why the file at ``path`` cannot be used as a photo, or ``None`` when it can.

    The photo is fully decoded (at about ``draft`` pixels where the format
    allows it, as JPEG does), so a truncated file is caught here, not in the
    middle of training.
    """
    try:
        _open_checked(Path(path), draft)
    except PhotoError as exc:
        return exc.reason
    return None


def to_rgb(im: Image.Image) -> Image.Image:
    """``im`` as 8-bit RGB: 16-bit grey scaled to 0..255, transparent areas white, CMYK and palettes converted."""
    if im.mode in _SIXTEEN_BIT or im.mode == "I":   # 16-bit greyscale: 0..65535, not 0..255
        im = Image.fromarray((np.asarray(im, dtype="float64") / 257.0).clip(0, 255).astype("uint8"), "L")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return im.convert("RGB")


def open_photo(path: Path | str) -> Image.Image:
    """The photo at ``path`` as an upright 8-bit RGB image (EXIF orientation applied).

    Raises:
        PhotoError: with the reason :func:`photo_problem` would give.
    """
    path = Path(path)
    im = _open_checked(path, draft=None)
    try:
        im = ImageOps.exif_transpose(im)
    except _PILLOW_ERRORS:   # a damaged EXIF block: keep the photo as stored
        pass
    return to_rgb(im)
