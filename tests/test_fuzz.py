"""Property tests on junk: the CUHK and WFLW line parsers raise only ValueError (their contract:
the readers turn it into a DataError with file and line), the list readers only DataError, and
`decode_image` only ImageError, whatever the input; what they accept is well formed. Bounded and
derandomised, so the same examples run every time, in seconds."""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from facepoints.data.cuhk import parse_cuhk_line, read_cuhk_list
from facepoints.data.wflw import (
    ATTRIBUTES,
    parse_points_line,
    parse_rect_attr_line,
    read_wflw_rect_attr,
    read_wflw_subset_lists,
)
from facepoints.errors import DataError, ImageError
from facepoints.io import decode_image

FUZZ = settings(
    max_examples=200,
    deadline=2000,  # ms per example; a hang or a slow path fails
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- generated lines -----------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-500, 500).map(lambda v: f"{v:.3f}"),
    st.sampled_from(
        ["0", "-0", "1", "1e39", "-1e39", "3.4e38", "1e-320", "nan", "-inf", "Infinity", "1e",
         "0x10", "1_000", "١٢", "+.5", ".", "-", "1,5", "9" * 400, "1e999999"]
    ),
)  # fmt: skip
PATHS = st.sampled_from(
    ["a.jpg", "sub/a.jpg", "sub\\a.jpg", "./a.jpg", "../a.jpg", "/etc/passwd", "C:\\a.jpg",
     "junk.jpg", "none.jpg", "a.jpg/", "\\\\server\\a.jpg", "..", ".", "~/a.jpg"]
)  # fmt: skip
WORDS = st.text(
    st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=12
)  # one field
TOKEN = st.one_of(NUMBERS, NUMBERS, NUMBERS, PATHS, WORDS)


PLAIN = st.floats(0, 250).map(lambda v: f"{v:.2f}")  # a plausible coordinate


def _junk(n_fields: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    """Random text (line breaks and all), or `n_fields` random fields."""
    return st.one_of(
        st.text(max_size=300),
        n_fields.flatmap(lambda n: st.lists(TOKEN, min_size=n, max_size=n)).map(" ".join),
    )


def _edited(base: list[str], redraw: bool) -> st.SearchStrategy[str]:
    """`base`'s fields with a few replaced (mostly), inserted or dropped, and with `redraw` its
    numbers drawn afresh: lines that pass the field count and test what comes after it. In
    `base`, a field starting with '#' is kept as written."""
    n = len(base)
    fresh = st.lists(PLAIN, min_size=n, max_size=n) if redraw else st.just(["50"] * n)
    edits = st.lists(
        st.tuples(st.integers(0, n - 1), st.sampled_from("rrrrrrid"), st.one_of(PLAIN, TOKEN)),
        max_size=4,
    )

    def apply(t) -> str:
        values, changes = t
        fields = [b[1:] if b.startswith("#") else v for b, v in zip(base, values, strict=True)]
        for i, op, token in changes:
            i = min(i, len(fields) - 1)
            if op == "r":
                fields[i] = token
            elif op == "i":
                fields.insert(i, token)
            elif len(fields) > 1:
                del fields[i]
        return " ".join(fields)

    return st.tuples(fresh, edits).map(apply)


# templates: '#' marks a field kept as written; the others are plausible numbers
_GRID = [f"#{v:.1f}" for v in np.linspace(20, 220, 196)]
CUHK_BASE = ["#a.jpg", "#10", "#190", "#10", "#190", *["0"] * 10]
RECT_BASE = [*_GRID, "#0", "#0", "#240", "#240", *["#0", "#1"] * 3, "#a.jpg"]
POINTS_BASE = [*_GRID, "#sub/a.jpg"]


def _mostly(a: st.SearchStrategy, b: st.SearchStrategy) -> st.SearchStrategy:
    """Three draws in four from `a`, the others from `b`."""
    return st.integers(0, 3).flatmap(lambda k: b if k == 3 else a)


def _cuhk_lines():
    return _mostly(_edited(CUHK_BASE, redraw=True), _junk(st.integers(0, 17)))


def _wflw_lines(n_numbers: int):
    base = RECT_BASE if n_numbers == 206 else POINTS_BASE
    return _mostly(_edited(base, redraw=False), _junk(st.integers(0, 6)))


def _finite_records(recs) -> None:
    assert np.isfinite(recs.points).all() and np.isfinite(recs.boxes).all()
    assert (recs.boxes[:, 2] > recs.boxes[:, 0]).all() and (
        recs.boxes[:, 3] > recs.boxes[:, 1]
    ).all()
    for b in recs.skipped:
        assert "\n" not in b.message


# --- the line parsers: ValueError or a well-formed result ---------------------------------------


@FUZZ
@given(_cuhk_lines())
def test_cuhk_line_parser(line):
    try:
        rel, box, pts = parse_cuhk_line(line)
    except ValueError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(rel, str) and rel
    assert box.shape == (4,) and pts.shape == (5, 2)
    assert np.isfinite(box).all() and np.isfinite(pts).all()
    assert box[2] > box[0] and box[3] > box[1]


@FUZZ
@given(_wflw_lines(206))
def test_wflw_rect_attr_line_parser(line):
    try:
        rel, pts, box, flags = parse_rect_attr_line(line)
    except ValueError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert pts.shape == (98, 2) and np.isfinite(pts).all() and np.isfinite(box).all()
    assert box[2] > box[0] and box[3] > box[1] and flags.dtype == bool and flags.shape == (6,)


@FUZZ
@given(_wflw_lines(196))
def test_wflw_points_line_parser(line):
    try:
        rel, pts = parse_points_line(line)
    except ValueError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert pts.shape == (98, 2) and np.isfinite(pts).all()


# --- the list readers: DataError or finite records ----------------------------------------------


@pytest.fixture(scope="module")
def root():
    """A folder with images a.jpg (250 x 250) and sub/a.jpg (100 x 60: the generated points fall
    far outside it), and junk.jpg that is not an image."""
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "sub").mkdir()
        Image.new("RGB", (250, 250)).save(d / "a.jpg")
        Image.new("RGB", (100, 60)).save(d / "sub" / "a.jpg")
        (d / "junk.jpg").write_text("no pixels here")
        yield d


ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])
PREFIX = st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"\xc3("])


def _file(lines, ending, prefix) -> bytes:
    return prefix + ending.join(lines).encode("utf-8", "surrogatepass")


@FUZZ
@given(st.lists(_cuhk_lines(), max_size=6), ENDINGS, PREFIX, st.booleans(), st.booleans())
def test_cuhk_reader(root, lines, ending, prefix, skip_bad, check_images):
    p = root / "list.txt"
    p.write_bytes(_file(lines, ending, prefix))
    try:
        recs = read_cuhk_list(p, skip_bad=skip_bad, check_images=check_images)
    except DataError as e:
        assert e.path == str(p) and "\n" not in str(e)
        return
    _finite_records(recs)
    assert all(str(i).startswith(str(root)) for i in recs.images)  # never outside the root


@FUZZ
@given(st.lists(_wflw_lines(206), max_size=4), ENDINGS, PREFIX, st.booleans())
def test_wflw_rect_attr_reader(root, lines, ending, prefix, skip_bad):
    p = root / "rect.txt"
    p.write_bytes(_file(lines, ending, prefix))
    try:
        recs = read_wflw_rect_attr(p, root, skip_bad=skip_bad)
    except DataError as e:
        assert e.path == str(p) and "\n" not in str(e)
        return
    _finite_records(recs)
    assert all(str(i).startswith(str(root)) for i in recs.images)


@FUZZ
@given(
    st.lists(_wflw_lines(196), min_size=1, max_size=3),
    st.lists(st.lists(st.integers(0, 3), max_size=3), min_size=6, max_size=6),
    st.booleans(),
)
def test_wflw_subset_reader(root, lines, picks, skip_bad):
    """The full test list from junk, each attribute list some of its lines (or junk)."""
    d = root / "lists"
    d.mkdir(exist_ok=True)
    (d / "list_98pt_test.txt").write_text("\n".join(lines), "utf-8", "surrogatepass")
    for name, pick in zip(ATTRIBUTES, picks, strict=True):
        sub = [lines[i] if i < len(lines) else "junk line" for i in pick]
        (d / f"list_98pt_test_{name}.txt").write_text("\n".join(sub), "utf-8", "surrogatepass")
    try:
        recs = read_wflw_subset_lists(d, root, skip_bad=skip_bad)
    except DataError as e:
        assert "\n" not in str(e)
        return
    _finite_records(recs)


# --- decode_image: ImageError or an (H, W, 3) uint8 picture -------------------------------------


def _encoded(fmt: str, **kw) -> bytes:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt, **kw)
    return buf.getvalue()


SEEDS = {
    "jpeg": _encoded("JPEG", quality=80),
    "png": _encoded("PNG"),
    "gif": _encoded("GIF"),
    "bmp": _encoded("BMP"),
    "tiff": _encoded("TIFF"),
    "webp": _encoded("WEBP"),
}


def _check_decoded(data: bytes) -> None:
    try:
        rgb = decode_image(data, name="fuzz")
    except ImageError as e:
        assert e.path == "fuzz" and "\n" not in str(e)
        return
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
    assert rgb.shape[0] >= 1 and rgb.shape[1] >= 1


@FUZZ
@given(st.binary(max_size=4000))
def test_decode_random_bytes(data):
    _check_decoded(data)


@FUZZ
@given(
    st.sampled_from(sorted(SEEDS)),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4),
    st.one_of(st.none(), st.none(), st.floats(0, 1)),
)
def test_decode_mutated_images(fmt, flips, keep):
    """A real small image with some bytes replaced, and maybe cut short."""
    data = bytearray(SEEDS[fmt])
    for where, value in flips:
        data[math.floor(where * len(data))] = value
    if keep is not None:
        data = data[: math.floor(keep * len(data))]
    _check_decoded(bytes(data))
