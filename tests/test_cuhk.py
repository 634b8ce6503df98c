"""The CUHK list reader on both real list files and on every kind of malformed line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from facepoints.data import detect_dataset, read_dataset
from facepoints.data.cuhk import read_cuhk_list
from facepoints.errors import DataError
from facepoints.schemes import CUHK5

GOOD = (
    "lfw_5590\\Aaron_Eckhart_0001.jpg 84 161 92 169 106.250000 107.750000 146.750000 "
    "112.250000 125.250000 142.750000 105.250000 157.750000 139.750000 161.750000"
)


@pytest.mark.parametrize(
    "split,n,lfw,net", [("train", 10_000, 4_151, 5_849), ("test", 3_466, 1_439, 2_027)]
)
def test_reads_both_real_lists(cuhk_root, split, n, lfw, net):
    r = read_dataset("cuhk5", split, data_root=cuhk_root)
    assert len(r) == n and r.scheme is CUHK5
    assert r.points.shape == (n, 5, 2) and r.boxes.shape == (n, 4)
    assert r.sources.count("lfw") == lfw and r.sources.count("net") == net
    assert all(p.is_file() for p in r.images[:50])
    # every point lies inside its box (the shared README's promise), boxes are x1 y1 x2 y2
    x1, y1, x2, y2 = (r.boxes[:, i, None] for i in range(4))
    inside = (r.points[..., 0] >= x1) & (r.points[..., 0] <= x2)
    inside &= (r.points[..., 1] >= y1) & (r.points[..., 1] <= y2)
    assert inside.all()
    # named indices: the image-left eye is left of the image-right eye, eyes above the mouth
    le, re_, lm = CUHK5.index("left_eye"), CUHK5.index("right_eye"), CUHK5.index("left_mouth")
    assert (r.points[:, le, 0] < r.points[:, re_, 0]).mean() > 0.99
    assert (r.points[:, le, 1] < r.points[:, lm, 1]).mean() > 0.99


def test_first_line_values(cuhk_root):
    r = read_dataset("cuhk5", "train", data_root=cuhk_root)
    assert r.images[0].name == "Aaron_Eckhart_0001.jpg"
    np.testing.assert_allclose(r.boxes[0], [84, 92, 161, 169])  # left top right bottom
    np.testing.assert_allclose(r.points[0, 0], [106.25, 107.75])
    np.testing.assert_allclose(r.points[0, 4], [139.75, 161.75])


def test_detects_layout(cuhk_root):
    assert detect_dataset(cuhk_root) == "cuhk5"
    assert len(read_dataset(split="test", data_root=cuhk_root)) == 3466


@pytest.fixture
def mini_root(tmp_path, cuhk_root):
    (tmp_path / "lfw_5590").mkdir()
    shutil.copy(cuhk_root / "lfw_5590" / "Aaron_Eckhart_0001.jpg", tmp_path / "lfw_5590")
    shutil.copy(cuhk_root / "lfw_5590" / "Aaron_Guiel_0001.jpg", tmp_path / "lfw_5590")
    return tmp_path


def _write(root, text: str, name="list.txt", encoding="utf-8"):
    p = root / name
    p.write_bytes(text.encode(encoding))
    return p


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
@pytest.mark.parametrize("sep", ["\\", "/"])
def test_line_ends_and_separators(mini_root, eol, sep):
    line = GOOD.replace("\\", sep)
    p = _write(mini_root, line + eol + line.replace("Eckhart", "Guiel") + eol)
    r = read_cuhk_list(p)
    assert len(r) == 2 and r.images[0].name == "Aaron_Eckhart_0001.jpg"


def test_utf8_bom_is_accepted(mini_root):
    p = _write(mini_root, "\ufeff" + GOOD + "\r\n")
    assert len(read_cuhk_list(p)) == 1


def _bad(fields_change) -> str:
    f = GOOD.split()
    fields_change(f)
    return " ".join(f)


BAD_LINES = {
    "field count": (GOOD + " 1.0", "expected 15 fields"),
    "short line": (" ".join(GOOD.split()[:10]), "expected 15 fields"),
    "not a number": (_bad(lambda f: f.__setitem__(6, "abc")), "field 7 is not a number"),
    "nan": (_bad(lambda f: f.__setitem__(7, "nan")), "not finite"),
    "inf": (_bad(lambda f: f.__setitem__(8, "inf")), "not finite"),
    "inverted box": (_bad(lambda f: f.__setitem__(1, "170")), "inverted box"),
    "empty box": (_bad(lambda f: f.__setitem__(3, "169")), "inverted box"),
    "missing image": (GOOD.replace("Eckhart", "Nobody"), "image not found"),
    "path escapes root": (GOOD.replace("lfw_5590\\", "..\\..\\"), "leaves the data root"),
    "absolute path": (GOOD.replace("lfw_5590\\", "/etc/"), "leaves the data root"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_line_names_file_line_and_fault(mini_root, case):
    bad, message = BAD_LINES[case]
    good2 = GOOD.replace("Eckhart", "Guiel")
    p = _write(mini_root, good2 + "\r\n" + bad + "\r\n")
    with pytest.raises(DataError) as e:
        read_cuhk_list(p)
    assert e.value.line == 2 and e.value.path == str(p)
    assert message in str(e.value) and f"{p}:2:" in str(e.value)
    # --skip-bad: the good line survives, the bad one is reported
    r = read_cuhk_list(p, skip_bad=True)
    assert len(r) == 1 and r.images[0].name == "Aaron_Guiel_0001.jpg"
    assert len(r.skipped) == 1 and r.skipped[0].line == 2 and message in r.skipped[0].message


def test_duplicate_image_is_an_error(mini_root):
    p = _write(mini_root, GOOD + "\n" + GOOD + "\n")
    with pytest.raises(DataError, match="duplicate image"):
        read_cuhk_list(p)


def test_wrong_encoding_and_empty_file(mini_root):
    p = _write(mini_root, GOOD.replace("Aaron", "Aar\xf3n") + "\n", encoding="latin-1")
    with pytest.raises(DataError, match="not UTF-8"):
        read_cuhk_list(p)
    with pytest.raises(DataError, match="no faces"):
        read_cuhk_list(_write(mini_root, "\r\n", name="empty.txt"))
    with pytest.raises(DataError, match="cannot read"):
        read_cuhk_list(mini_root / "nope.txt")


def test_cli_reports_bad_line_and_exits_nonzero(mini_root, capsys):
    from facepoints.cli import main

    bad, _ = BAD_LINES["not a number"]
    _write(mini_root, bad + "\r\n", name="trainImageList.txt")
    code = main(["data", "show", "--data-root", str(mini_root), "--out", str(mini_root / "g.jpg")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1
    assert "trainImageList.txt:1:" in err[0] and "not a number" in err[0]
