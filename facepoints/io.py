"""Safe image loading (pixel limit, EXIF orientation, any mode -> RGB) and atomic writes."""

from __future__ import annotations

import contextlib
import io as _io
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from .errors import ImageError

__all__ = [
    "MAX_PIXELS",
    "load_image",
    "decode_image",
    "image_size",
    "atomic_write",
    "atomic_write_bytes",
]

MAX_PIXELS = 64_000_000  # refuse decompression bombs; ~8000 x 8000


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 RGB array, upright per its EXIF orientation.
    Raises ImageError with the path for anything that is not a readable, sane image."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageError(p, "no such file") from None
    except IsADirectoryError:
        raise ImageError(p, "is a directory, not an image") from None
    except PermissionError:
        raise ImageError(p, "permission denied") from None
    except OSError as e:
        raise ImageError(p, f"cannot read: {e.strerror or e}") from None
    return decode_image(data, name=str(p), max_pixels=max_pixels)


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image bytes (JPEG, PNG, BMP, WebP, ...) to (H, W, 3) uint8 RGB; see load_image."""
    from PIL import Image, ImageOps

    if not data:
        raise ImageError(name, "empty file")
    try:
        with warnings.catch_warnings():  # PIL's own bomb warning: our limit speaks instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(_io.BytesIO(data))
        with im:
            w, h = im.size
            if w < 1 or h < 1:
                raise ImageError(name, f"image has no pixels ({w}x{h})")
            if w * h > max_pixels:
                raise ImageError(name, f"image too large: {w}x{h} pixels (limit {max_pixels})")
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = to_rgb(im)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(name, f"image too large: over {max_pixels} pixels (the limit)") from None
    except Exception as e:  # PIL raises many types for broken files
        from PIL import UnidentifiedImageError

        if isinstance(e, UnidentifiedImageError):
            raise ImageError(name, "not an image (unknown or damaged format)") from None
        raise ImageError(name, f"not a readable image ({type(e).__name__}: {e})") from None
    return arr


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file as `load_image` would return it (upright per EXIF), from
    its header alone: no pixels are decoded. Raises ImageError when the header cannot be read."""
    from PIL import Image

    p = Path(path)
    try:
        with Image.open(p) as im:
            w, h = im.size
            if im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):  # turned by 90 degrees
                w, h = h, w
    except Exception as e:  # missing, unreadable, or a damaged header (PIL raises many types)
        raise ImageError(p, f"not a readable image ({type(e).__name__}: {e})") from None
    return int(w), int(h)


_EXIF_ORIENTATION = 0x0112


def array_to_rgb(image, color: str = "rgb", name: str = "<array>") -> np.ndarray:
    """An (H, W, 3) uint8 contiguous RGB array from a grey, grey+1, RGB(A) or BGR(A) uint8 array
    (`color` says which channel order a 3- or 4-channel array has)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ImageError(name, f"expected a uint8 image, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(name, f"expected an (H, W, 3) image, got shape {a.shape}")
    a = a[..., :3]
    if color == "bgr":
        a = a[..., ::-1]
    return np.ascontiguousarray(a)


def to_rgb(im) -> np.ndarray:
    """A PIL image of any mode as (H, W, 3) uint8 RGB (alpha over white, 16-bit scaled)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = max(float(a.max()), 1.0)
        a = (a / (65535.0 if top > 255 else 255.0) * 255.0).clip(0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        from PIL import Image

        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds, so
    readers never see a half-written file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def save_image(path: str | os.PathLike, rgb: np.ndarray, quality: int = 92) -> None:
    """Write an RGB uint8 array atomically; the format follows the suffix (.jpg, .png, ...)."""
    from PIL import Image

    p = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}.get(
        p.suffix.lower(), "PNG"
    )
    buf = _io.BytesIO()
    kw = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(buf, format=fmt, **kw)
    atomic_write_bytes(p, buf.getvalue())
