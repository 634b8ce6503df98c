"""`facepoints align` and `facepoints analyse` on real photos and a short video made of one."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from facepoints.cli import main
from facepoints.io import load_image


@pytest.fixture(scope="module")
def photo(cuhk_root):
    return cuhk_root / "lfw_5590" / "Aaron_Eckhart_0001.jpg"


def test_align_writes_a_chip_per_face(photo, tmp_path, capsys):
    out = tmp_path / "chips"
    code = main(["align", str(photo), "--out", str(out), "--threads", "1"])
    assert code == 0
    chips = sorted(out.glob("*.png"))
    assert [c.name for c in chips] == ["Aaron_Eckhart_0001_0.png"]
    chip = load_image(chips[0])
    assert chip.shape == (112, 112, 3)
    # a face: the chip is not blank, and its two halves mirror each other roughly
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).astype(float)
    assert grey.std() > 20
    left, right = grey[:, :56], grey[:, 56:][:, ::-1]
    assert np.corrcoef(left.ravel(), right.ravel())[0, 1] > 0.5


def test_align_options_and_failures(photo, tmp_path, capsys):
    out = tmp_path / "chips"
    code = main(
        ["align", str(photo), str(tmp_path / "missing.jpg"), "--out", str(out)]
        + ["--template", "face", "--size", "96", "--padding", "0.1", "--threads", "1"]
    )
    assert code == 1  # the missing file fails alone
    assert load_image(out / "Aaron_Eckhart_0001_0.png").shape == (96, 96, 3)
    assert "missing.jpg" in capsys.readouterr().err
    assert main(["align", str(photo), "--template", "nope", "--out", str(out)]) == 2


def test_analyse_photo_and_video(photo, tmp_path, capsys):
    rgb = load_image(photo)
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, rgb.shape[1::-1])
    for i in range(8):  # the photo drifting a pixel a frame
        m = np.float32([[1, 0, i], [0, 1, 0]])
        writer.write(cv2.warpAffine(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), m, rgb.shape[1::-1]))
    writer.release()
    records = tmp_path / "a.jsonl"
    code = main(
        ["analyse", str(photo), str(video), "--out", str(tmp_path / "o")]
        + ["--json", str(records), "--threads", "1"]
    )
    assert code == 0
    lines = [json.loads(x) for x in records.read_text().splitlines()]
    assert len(lines) == 1 + 8
    face = lines[0]["faces"][0]
    assert abs(face["pose"]["yaw"]) < 30 and abs(face["pose"]["roll"]) < 20
    assert 0.3 < face["openness"]["left_eye"] < 1.6 and 0 <= face["smile"] <= 1
    frames = lines[1:]
    assert [f["frame"] for f in frames] == list(range(8))
    assert all(len(f["faces"]) == 1 and f["blinks"] == [] for f in frames)
    assert frames[-1]["faces"][0]["id"] == frames[0]["faces"][0]["id"]
    out = capsys.readouterr().out
    assert "face 0: yaw" in out and "8 frames, 0 blink(s)" in out
