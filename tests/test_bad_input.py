"""Bad input, one table: every kind of broken image and annotation line gets the documented error
type (ImageError / DataError, both FacepointsError) with one line naming the file (and line) and
the fault, through the API and through the CLI; inputs that are odd but valid (grey, RGBA, 16-bit,
EXIF-rotated, 1x1, a BOM) are read correctly. With many inputs the good ones are processed and the
bad ones listed. Then a video cut halfway, and boxes files naming paths outside any folder.

Cases tested elsewhere, listed here so the table reads as the whole picture:

    CUHK lists (tests/test_cuhk.py): field count, short line, not a number, NaN, inf, inverted and
        empty box, missing image, '..' and absolute paths, duplicated image, latin-1 text, empty
        and missing list, a UTF-8 BOM (accepted), CRLF/LF and \\ or / separators, the CLI's one
        line for a bad list line.
    WFLW lists (tests/test_wflw.py): field count, short line, not a number, NaN, inf, inverted and
        empty box, attribute flags, missing image, '..' and absolute paths, duplicated face,
        UTF-16 bytes (not UTF-8), empty and missing list, subset and attribute list faults.
    Images through predict (tests/test_predict.py): a cut JPEG and a text file among good photos,
        one text file, a missing file, an empty folder.
    Video (tests/test_tracking.py): an MJPG AVI cut halfway; a missing and an unreadable file.

New here: the image table below (via load_image and predict), points far outside the image and
drive-letter paths (CUHK and WFLW), a BOM in a WFLW list, an mp4 cut halfway.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facepoints.cli import main
from facepoints.data.cuhk import read_cuhk_list
from facepoints.data.wflw import read_wflw_rect_attr
from facepoints.errors import DataError, FacepointsError, ImageError
from facepoints.io import MAX_PIXELS, load_image
from facepoints.models import create_model, save_model

FACE = "lfw_5590/Aaron_Eckhart_0001.jpg"  # 250 x 250, box 84 92 161 169
OTHER = "lfw_5590/Aaron_Guiel_0001.jpg"
CUHK_GOOD = (
    "{img} 84 161 92 169 106.25 107.75 146.75 112.25 125.25 142.75 105.25 157.75 139.75 161.75"
)


@dataclass
class Case:
    """One input. `make(dir, face)` writes it (face: the RGB test photo) and returns the path to
    read: an image file, or a list file inside a dataset folder. `error`: the exception type, or
    None for input that must be read; `fault`: words of the message (API and CLI); `check`: more
    assertions on what was read."""

    kind: str  # "image", "cuhk" or "wflw"
    make: Callable[[Path, np.ndarray], Path]
    error: type[FacepointsError] | None = None
    fault: str = ""
    check: Callable | None = None
    skip: str | None = None  # why this case cannot run here


# --- images ---------------------------------------------------------------------------------


def _save(path: Path, im: Image.Image, **kw) -> Path:
    im.save(path, **kw)
    return path


def _jpeg(d: Path, face) -> bytes:
    return _save(d / "full.jpg", Image.fromarray(face), quality=90).read_bytes()


def _cut_jpeg(d, face):
    data = _jpeg(d, face)
    (d / "cut.jpg").write_bytes(data[: len(data) // 2])
    return d / "cut.jpg"


def _cut_png(d, face):
    data = _save(d / "full.png", Image.fromarray(face)).read_bytes()
    (d / "cut.png").write_bytes(data[: len(data) // 2])
    return d / "cut.png"


def _junk(d, face):
    (d / "junk.png").write_bytes(np.random.default_rng(0).bytes(5000))
    return d / "junk.png"


def _text(d, face):
    (d / "notes.jpg").write_text("these are not the pixels you are looking for\n")
    return d / "notes.jpg"


def _empty(d, face):
    (d / "empty.jpg").write_bytes(b"")
    return d / "empty.jpg"


def _grey(d, face):
    return _save(d / "grey.png", Image.fromarray(face).convert("L"))


def _rgba(d, face):
    a = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    a[:10, :10, 3] = 0  # a transparent corner
    return _save(d / "rgba.png", Image.fromarray(a, "RGBA"))


def _png16(d, face):
    grey = np.asarray(Image.fromarray(face).convert("L"), dtype=np.uint16) * 257
    return _save(d / "deep.png", Image.fromarray(grey))  # mode I;16


def _exif6(d, face):
    """A landscape photo stored sideways with EXIF orientation 6 (show turned 90 deg clockwise)."""
    upright = face[35:215]  # 180 x 250: the face, not square so the turn shows in the shape
    _save(d / "upright.jpg", Image.fromarray(upright), quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # 250 x 180
    return _save(d / "exif6.jpg", Image.fromarray(stored), quality=95, exif=exif)


def _tiny(d, face):
    return _save(d / "dot.png", Image.fromarray(face[:1, :1]))


def _png_header_only(path: Path, side: int) -> Path:
    """A valid 1-bit PNG `side` x `side`, all black: kilobytes on disk, side**2 pixels decoded."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(side)) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def _bomb(d, face):
    return _png_header_only(d / "bomb.png", 20_000)  # 400 M pixels; PIL's own bomb check


def _over_limit(d, face):
    return _png_header_only(d / "big.png", 9_000)  # 81 M pixels: over MAX_PIXELS only


def _unreadable(d, face):
    p = _save(d / "locked.jpg", Image.fromarray(face))
    p.chmod(0)
    return p


def _folder(d, face):
    (d / "folder.jpg").mkdir()
    return d / "folder.jpg"


def _check_grey(rgb, face):
    assert rgb.shape == face.shape and (rgb[..., 0] == rgb[..., 2]).all()


def _check_rgba(rgb, face):
    assert rgb.shape == face.shape and (rgb[:10, :10] == 255).all()  # transparent: over white
    assert np.array_equal(rgb[20:], face[20:])


def _check_16bit(rgb, face):
    grey = np.asarray(Image.fromarray(face).convert("L"))
    assert rgb.dtype == np.uint8 and np.abs(rgb[..., 0].astype(int) - grey).max() <= 1


def _check_exif(rgb, face):
    upright = face[35:215]
    assert rgb.shape == upright.shape == (180, 250, 3)  # turned: the stored file is 250 x 180
    assert np.abs(rgb.astype(int) - upright).mean() < 4  # JPEG noise, not a 90 degree error


def _check_tiny(rgb, face):
    assert rgb.shape == (1, 1, 3)


IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

IMAGE_CASES = {
    "truncated jpeg": Case("image", _cut_jpeg, ImageError, "truncated"),
    "truncated png": Case("image", _cut_png, ImageError, "not a readable image"),
    "corrupt bytes": Case("image", _junk, ImageError, "not an image"),
    "text named .jpg": Case("image", _text, ImageError, "not an image"),
    "empty file": Case("image", _empty, ImageError, "empty file"),
    "decompression bomb": Case("image", _bomb, ImageError, "too large"),
    "over the pixel limit": Case("image", _over_limit, ImageError, f"limit {MAX_PIXELS}"),
    "unreadable": Case(
        "image",
        _unreadable,
        ImageError,
        "permission denied",
        skip="running as root: permission bits do not stop root from reading" if IS_ROOT else None,
    ),
    "a folder": Case("image", _folder, ImageError, "is a directory"),
    "grey (L)": Case("image", _grey, check=_check_grey),
    "RGBA": Case("image", _rgba, check=_check_rgba),
    "16-bit png": Case("image", _png16, check=_check_16bit),
    "EXIF orientation 6": Case("image", _exif6, check=_check_exif),
    "1x1 pixels": Case("image", _tiny, check=_check_tiny),
}

# --- annotation lists ---------------------------------------------------------------------------


def _cuhk(d: Path, bad: str) -> Path:
    """A CUHK folder: a good line (line 1), then `bad` (line 2)."""
    p = d / "trainImageList.txt"
    p.write_text(CUHK_GOOD.format(img=OTHER.replace("/", "\\")) + "\r\n" + bad + "\r\n")
    return p


def _cuhk_points(**values) -> Callable:
    """A CUHK case whose line 2 has some of its 15 fields replaced ({index: value})."""

    def make(d, face):
        f = CUHK_GOOD.format(img=FACE).split()
        for k, v in values.items():
            f[int(k[1:])] = v
        return _cuhk(d, " ".join(f))

    return make


def _cuhk_drive(d, face):
    return _cuhk(d, CUHK_GOOD.format(img="C:\\lfw_5590\\Aaron_Eckhart_0001.jpg"))


WFLW_LIST = "WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_train.txt"
WFLW_IMAGE = "0--Parade/face.jpg"


def _wflw_line(points: np.ndarray | None = None, path: str = WFLW_IMAGE) -> str:
    """98 points on a 14 x 7 grid inside the test face's box, the box, six flags, the path."""
    if points is None:
        xs, ys = np.meshgrid(np.linspace(90, 155, 14), np.linspace(100, 165, 7))
        points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    nums = [f"{v:.3f}" for v in points.ravel()] + ["84", "92", "161", "169"] + ["0"] * 6
    return " ".join([*nums, path])


def _wflw(d: Path, bad: str, prefix: str = "") -> Path:
    p = d / WFLW_LIST
    p.parent.mkdir(parents=True)
    p.write_text(prefix + _wflw_line() + "\n" + bad + "\n", encoding="utf-8")
    return p


def _wflw_far(d, face):
    pts = np.array([list(map(float, _wflw_line().split()[i : i + 2])) for i in range(0, 196, 2)])
    pts[40] = (120.0, -140.0)  # 140 px above a 250 px image: more than half its height
    return _wflw(d, _wflw_line(pts))


def _wflw_drive(d, face):
    return _wflw(d, _wflw_line(path="D:/" + WFLW_IMAGE))


def _wflw_bom(d, face):
    return _wflw(d, _wflw_line().replace(" 0 0 0 0 0 0 ", " 1 0 0 0 0 0 "), prefix="\ufeff")


def _check_cuhk_border(recs, face):
    assert len(recs) == 2 and recs.points[1, 0, 0] == 370.0


def _check_wflw_bom(recs, face):
    assert len(recs) == 2 and recs.attributes["largepose"].tolist() == [False, True]


LIST_CASES = {
    # x = 376 on a 250 px image: 126 px past the right edge, just over half its width
    "cuhk point far right": Case("cuhk", _cuhk_points(f5="376"), DataError, "far outside"),
    "cuhk point far above": Case("cuhk", _cuhk_points(f8="-130"), DataError, "far outside"),
    # 120 px past the edge: a face cut by the border, kept
    "cuhk point past the border": Case("cuhk", _cuhk_points(f5="370"), check=_check_cuhk_border),
    "cuhk drive letter": Case("cuhk", _cuhk_drive, DataError, "leaves the data root"),
    "wflw point far outside": Case("wflw", _wflw_far, DataError, "point 41 at (120, -140)"),
    "wflw drive letter": Case("wflw", _wflw_drive, DataError, "leaves the data root"),
    "wflw utf-8 BOM": Case("wflw", _wflw_bom, check=_check_wflw_bom),
}

CASES = {**IMAGE_CASES, **LIST_CASES}


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def face(cuhk_root) -> np.ndarray:
    return load_image(cuhk_root / FACE)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "sun.safetensors"
    save_model(create_model("sun2013"), path, {"margin": 0.2})
    return str(path)


def _make(case: Case, tmp_path: Path, face, cuhk_root: Path) -> Path:
    if case.skip:
        pytest.skip(case.skip)
    d = tmp_path / "in"
    d.mkdir()
    if case.kind == "cuhk":  # the images the lines name
        for rel in (FACE, OTHER):
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(cuhk_root / rel, d / rel)
    if case.kind == "wflw":
        (d / "WFLW_images" / WFLW_IMAGE).parent.mkdir(parents=True)
        shutil.copy(cuhk_root / FACE, d / "WFLW_images" / WFLW_IMAGE)
    return case.make(d, face)


def _read(case: Case, path: Path):
    if case.kind == "image":
        return load_image(path)
    if case.kind == "cuhk":
        return read_cuhk_list(path)
    return read_wflw_rect_attr(path)


def _dataset_root(case: Case, path: Path) -> Path:
    return path.parent if case.kind == "cuhk" else path.parents[2]


# --- the table, through the API and the CLI ---------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_api(name, tmp_path, face, cuhk_root):
    case = CASES[name]
    path = _make(case, tmp_path, face, cuhk_root)
    if case.error is None:
        case.check(_read(case, path), face)
        return
    with pytest.raises(case.error) as e:
        _read(case, path)
    msg = str(e.value)
    assert isinstance(e.value, FacepointsError) and "\n" not in msg
    assert e.value.path == str(path) and case.fault in msg
    if case.kind != "image":
        assert e.value.line == 2 and msg.startswith(f"{path}:2: ")
        # --skip-bad: the good line is read, the bad one reported with its line
        reader = read_cuhk_list if case.kind == "cuhk" else read_wflw_rect_attr
        recs = reader(path, skip_bad=True)
        assert len(recs) == 1 and [b.line for b in recs.skipped] == [2]
        assert case.fault in recs.skipped[0].message


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_cli(name, tmp_path, face, cuhk_root, model, capsys):
    """One input: a bad one is exit != 0 and exactly one stderr line naming it and the fault."""
    case = CASES[name]
    path = _make(case, tmp_path, face, cuhk_root)
    if case.kind == "image":
        argv = ["predict", str(path), "--model", model, "--out", str(tmp_path / "out")]
        argv += ["--no-progress", "--min-face", "10"]
    else:
        root = _dataset_root(case, path)
        argv = ["data", "show", "--data-root", str(root), "--out", str(tmp_path / "show.jpg")]
    code = main(argv)
    out, err = capsys.readouterr()
    if case.error is None:
        assert code == 0, err
        if case.kind == "image":
            rec = json.loads((tmp_path / "out" / "predictions.json").read_text())
            assert (
                rec["error"] is None and (rec["height"], rec["width"]) == load_image(path).shape[:2]
            )
        return
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1, err
    where = f"{path}:2:" if case.kind != "image" else str(path)
    assert lines[0].startswith("facepoints: error: ") and where in lines[0]
    assert case.fault in lines[0] or (case.fault == "is a directory" and "no images" in lines[0])


def test_many_inputs_good_processed_bad_listed(tmp_path, face, cuhk_root, model, capsys):
    """Every image case in one predict call: each good one gets a result, each bad one a line."""
    paths = {}
    for name, case in IMAGE_CASES.items():
        if case.skip:
            continue
        d = tmp_path / name.replace(" ", "_")
        d.mkdir()
        paths[name] = _make(case, d, face, cuhk_root)
    out = tmp_path / "out"
    argv = ["predict", *map(str, paths.values()), "--model", model, "--out", str(out)]
    code = main([*argv, "--no-progress", "--min-face", "10"])
    stdout, err = capsys.readouterr()
    bad = [n for n in paths if IMAGE_CASES[n].error]
    good = [n for n in paths if not IMAGE_CASES[n].error]
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == len(bad)
    for n, line in zip(bad, lines, strict=True):
        assert str(paths[n]) in line
    recs = {r["file"]: r for r in map(json.loads, (out / "predictions.jsonl").open())}
    assert len(recs) == len(paths)
    for n in good:
        r = recs[str(paths[n])]
        assert r["error"] is None and r["annotated"] and Path(r["annotated"]).is_file()
        assert (r["height"], r["width"]) == load_image(paths[n]).shape[:2]
    for n in bad:
        assert recs[str(paths[n])]["error"] and recs[str(paths[n])]["faces"] == []
    assert f"{len(good)} images" in stdout and f"{len(bad)} errors" in stdout


def test_exif_rotated_photo_gives_upright_landmarks(tmp_path, face, model, capsys):
    """The same photo upright and stored sideways with EXIF orientation 6, the same face box:
    the landmarks agree, in the upright frame (a sideways reading would put them far apart)."""
    _exif6(tmp_path, face)
    boxes = tmp_path / "boxes.txt"
    box = "84 57 161 134"  # the face box, in the upright 250 x 180 photo
    boxes.write_text(f"upright.jpg {box}\nexif6.jpg {box}\n")
    out = tmp_path / "out"
    code = main(
        ["predict", str(tmp_path / "upright.jpg"), str(tmp_path / "exif6.jpg"), "--model", model,
         "--out", str(out), "--boxes-from", str(boxes), "--no-progress"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    a, b = map(json.loads, (out / "predictions.jsonl").open())
    assert (a["width"], a["height"]) == (b["width"], b["height"]) == (250, 180)
    pa, pb = np.array(a["faces"][0]["landmarks"]), np.array(b["faces"][0]["landmarks"])
    assert np.abs(pa - pb).max() < 2.0
    assert np.abs(pa - pa.mean(0)).max() > 0  # points, not all one spot


def test_one_pixel_image_through_the_landmarker(model):
    """A 1x1 image: the detector finds nothing, and a given box still gives finite points."""
    from facepoints.inference.landmarker import FaceLandmarker

    lm = FaceLandmarker(model, threads=1)
    dot = np.zeros((1, 1, 3), np.uint8)
    assert lm.detect(dot) == []
    (f,) = lm.detect(dot, boxes=[[0, 0, 1, 1]])
    assert f.landmarks.shape == (5, 2) and np.isfinite(f.landmarks).all()


# --- video: an mp4 cut halfway ------------------------------------------------------------------


def _faststart(data: bytes) -> bytes:
    """The mp4 with its index (moov) moved before the media (mdat), as web-ready files have it,
    so a file cut short still opens: every chunk offset in the index moves by the index's size."""
    top = _atoms(data, 0, len(data))
    (moov,) = [a for a in top if a[0] == b"moov"]
    (mdat,) = [a for a in top if a[0] == b"mdat"]
    assert moov[1] > mdat[1], "already fast-start"
    index = bytearray(data[moov[1] : moov[2]])
    _shift_offsets(index, 8, len(index), len(index))
    out = bytearray()
    for kind, start, end in top:
        if kind == b"mdat":
            out += index
        if kind != b"moov":
            out += data[start:end]
    return bytes(out)


def _atoms(buf, start: int, end: int) -> list[tuple[bytes, int, int]]:
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", buf[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = end - pos
        out.append((bytes(kind), pos, pos + size))
        pos += size
    return out


def _shift_offsets(buf: bytearray, start: int, end: int, shift: int) -> None:
    for kind, s, e in _atoms(buf, start, end):
        if kind in (b"trak", b"mdia", b"minf", b"stbl"):
            _shift_offsets(buf, s + 8, e, shift)
        elif kind in (b"stco", b"co64"):
            n = struct.unpack(">I", buf[s + 12 : s + 16])[0]
            fmt, width = (">I", 4) if kind == b"stco" else (">Q", 8)
            for i in range(n):
                p = s + 16 + i * width
                buf[p : p + width] = struct.pack(
                    fmt, struct.unpack(fmt, buf[p : p + width])[0] + shift
                )


def test_mp4_cut_halfway_ends_cleanly_with_what_was_processed(tmp_path, face, model):
    import cv2

    from facepoints.inference.detectors import Detection
    from facepoints.inference.landmarker import FaceLandmarker
    from facepoints.inference.video import process_video

    n, (h, w) = 30, face.shape[:2]
    src = tmp_path / "full.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    for k in range(n):
        m = np.float32([[1, 0, 4 * np.sin(k / 5)], [0, 1, 0]])
        writer.write(cv2.cvtColor(cv2.warpAffine(face, m, (w, h)), cv2.COLOR_RGB2BGR))
    writer.release()
    data = _faststart(src.read_bytes())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])

    class FixedBox:
        def detect(self, rgb):
            b = np.array([84, 92, 161, 169], np.float32)
            return [Detection(box=b, raw_box=b, score=1.0)]

    lm = FaceLandmarker(model, detector=FixedBox(), threads=1)
    out, jl = tmp_path / "out" / "cut.mp4", tmp_path / "out" / "cut.jsonl"
    from facepoints.errors import FacepointsWarning

    with pytest.warns(FacepointsWarning, match=f"of the {n} frames"):  # said, not silent
        s = process_video(lm, cut, out, jl, progress=False)
    assert 0 < s["frames"] < n and s["stopped"] == "end"
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(s["frames"]))
    assert all(len(x["faces"]) == 1 for x in lines)
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == s["frames"]
    cap.release()
    assert sorted(p.name for p in out.parent.iterdir()) == ["cut.jsonl", "cut.mp4"]


# --- boxes files never name files to open -------------------------------------------------------


def test_boxes_file_paths_outside_are_only_lookup_keys(tmp_path, cuhk_root, model, capsys):
    """--boxes-from names images only to match the inputs given on the command line: '..',
    absolute and drive-letter names are never opened, never processed, never an error."""
    photo = tmp_path / "in" / "face.jpg"
    photo.parent.mkdir()
    shutil.copy(cuhk_root / FACE, photo)
    secret = tmp_path / "secret.jpg"  # outside the input folder
    shutil.copy(cuhk_root / OTHER, secret)
    boxes = tmp_path / "in" / "boxes.txt"
    boxes.write_text(
        f"../secret.jpg 1 1 50 50\n{secret} 1 1 50 50\n/etc/passwd 1 1 2 2\n"
        f"C:\\Windows\\win.ini 1 1 2 2\nface.jpg 84 92 161 169\n"
    )
    out = tmp_path / "out"
    code = main(
        ["predict", str(photo), "--model", model, "--out", str(out), "--boxes-from", str(boxes),
         "--no-progress"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0 and err == ""
    rec = json.loads((out / "predictions.json").read_text())
    assert rec["file"] == str(photo) and [f["box"] for f in rec["faces"]] == [[84, 92, 161, 169]]
    assert sorted(p.name for p in out.iterdir()) == ["face.jpg", "predictions.json"]


# --- untrusted model files: loading one runs no code -------------------------------------------


class _Payload:
    """Unpickling this opens (creates) the marker file: code running on load."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def evil_pt(tmp_path) -> tuple[Path, Path]:
    """A training checkpoint that looks right but carries a pickle payload."""
    marker = tmp_path / "pwned"
    m = create_model("sun2013")
    state = {"model": m.state_dict(), "model_config": m.config, "extra": _Payload(marker)}
    path = tmp_path / "run" / "last.pt"
    path.parent.mkdir()
    torch.save(state, path)
    assert not marker.exists()
    return path, marker


def test_checkpoint_with_a_pickle_payload_is_refused_everywhere(evil_pt, cuhk_root, capsys):
    from facepoints.errors import CheckpointError
    from facepoints.models.pretrained import resolve_model
    from facepoints.training.checkpoint import load_checkpoint

    path, marker = evil_pt
    for load in (load_checkpoint, resolve_model):
        with pytest.raises(CheckpointError, match="refused"):
            load(path)
    with pytest.raises(CheckpointError, match="refused"):
        resolve_model(path.parent)  # a run folder: its last.pt
    out = path.parent.parent / "out"
    for argv in (
        ["eval", str(path), "--data-root", str(cuhk_root), "--max-faces", "4", "--out", str(out)],
        ["predict", "--demo", "--model", str(path), "--out", str(out)],
        ["train", "--resume", "--out", str(path.parent)],
    ):
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 6 and len(err) == 1 and "refused" in err[0], (argv, err)
    assert not marker.exists()


def test_safetensors_with_a_corrupt_header(tmp_path, model, capsys):
    from facepoints.errors import CheckpointError
    from facepoints.models import load_model, read_metadata
    from facepoints.models.pretrained import resolve_model

    data = Path(model).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])  # the JSON header's length
    bad = {
        "huge length": struct.pack("<Q", 2**60) + data[8:],
        "length past the end": struct.pack("<Q", len(data)) + data[8:],
        "broken json": data[:8] + b"{" * n + data[8 + n :],
        "cut in the header": data[: 8 + n // 2],
        "not safetensors": b"PK\x03\x04 zip, not safetensors",
    }
    for name, blob in bad.items():
        p = tmp_path / f"{name.replace(' ', '_')}.safetensors"
        p.write_bytes(blob)
        for load in (load_model, read_metadata, resolve_model):
            with pytest.raises(CheckpointError) as e:
                load(p)
            assert str(p) in str(e.value) and "\n" not in str(e.value), name
        code = main(["predict", "--demo", "--model", str(p), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 6 and len(err) == 1 and str(p) in err[0], (name, err)
