"""Reliability of the commands as a careless user or a hostile file would test them: inputs never
overwritten, results written per input (and kept by a kill), bad output targets and boxes files
as one line with the documented code, names that are not UTF-8, skipped files reported, a cut
video warned about, our own messages for pixel bombs and pickles, one training per run folder,
and a resume that refuses changed settings."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from facepoints.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos(cuhk_root):
    from facepoints.data import read_dataset

    recs = read_dataset("cuhk5", "test", cuhk_root)
    return [recs.images[i] for i in (5, 40, 300)]


def run(capsys, *args):
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- inputs are never written ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["predict", "filter"])
def test_the_input_is_never_overwritten(tmp_path, capsys, photos, command, monkeypatch):
    extra = ["-f", "dog"] if command == "filter" else []
    folder = tmp_path / "x"
    folder.mkdir()
    src = folder / "photo.jpg"
    shutil.copy(photos[0], src)
    before = src.read_bytes()
    code, out, err = run(capsys, command, src, *extra, "--out", folder, "--no-progress")
    assert code == 2 and "overwrite the input" in one_line(err)
    # the default output folder: `facepoints filter runs/filter/me.jpg`
    monkeypatch.chdir(tmp_path)
    default = Path("runs") / command / "me.jpg"
    default.parent.mkdir(parents=True)
    shutil.copy(photos[0], default)
    code, out, err = run(capsys, command, default, *extra, "--no-progress")
    assert code == 2 and "overwrite the input" in one_line(err)
    assert src.read_bytes() == before and default.read_bytes() == before


def test_json_target_over_an_input_is_refused(tmp_path, capsys, photos):
    src = tmp_path / "a.jpg"
    shutil.copy(photos[0], src)
    before = src.read_bytes()
    code, _, err = run(capsys, "predict", src, "--json", src, "--out", tmp_path / "o")
    assert code == 2 and "overwrite the input" in one_line(err)
    assert src.read_bytes() == before


# --- output targets --------------------------------------------------------------------------------


def test_bad_output_targets_are_one_usage_line(tmp_path, capsys, photos):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    code, _, err = run(capsys, "predict", photos[0], "--out", a_file)
    assert code == 2 and "is a file, not a folder" in one_line(err)
    code, _, err = run(capsys, "filter", photos[0], "-f", "dog", "--out", a_file)
    assert code == 2 and "is a file, not a folder" in one_line(err)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    code, _, err = run(capsys, "predict", photos[0], "--json", folder, "--out", tmp_path / "o")
    assert code == 2 and "is a folder" in one_line(err)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, _, err = run(capsys, "predict", photos[0], "--out", locked / "sub")
        assert code == 2 and one_line(err)


def test_results_are_written_per_input_and_a_kill_keeps_them(tmp_path, photos):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(60):  # enough work that the kill lands mid-run
        shutil.copy(photos[i % len(photos)], src / f"{i:03d}.jpg")
    results = tmp_path / "out" / "results.json"
    part = results.with_name(results.name + ".part")
    cmd = [sys.executable, "-m", "facepoints", "predict", str(src), "--out", str(tmp_path / "out")]
    cmd += ["--json", str(results), "--no-save", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if part.is_file() and part.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "predict ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    if sys.platform.startswith("linux"):  # its decoding workers end with it, not left behind
        deadline = time.monotonic() + 15
        while _processes_reading(src) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _processes_reading(src), "worker processes outlived a killed predict"
    kept = [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
    assert 3 <= len(kept) < 60 and not results.exists()
    assert [r["file"] for r in kept] == [str(src / f"{i:03d}.jpg") for i in range(len(kept))]
    assert all(r["error"] is None and r["width"] == 250 for r in kept)
    # a run that ends renames the whole JSON into place and leaves no partial file
    few = tmp_path / "few"
    few.mkdir()
    for p in photos:
        shutil.copy(p, few / p.name)
    cmd[4] = str(few)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert isinstance(doc, list) and len(doc) == 3 and not part.exists()
    assert f"results in {results}" in done.stdout


def _processes_reading(folder: Path) -> list[int]:
    """The pids of live processes whose command line names `folder` (Linux: from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # ended meanwhile
            continue
        if state != "Z" and os.fsencode(folder) in cmdline:
            pids.append(int(entry.name))
    return pids


def test_a_name_that_is_not_utf8_is_processed_and_reported(tmp_path, capsys, photos):
    src = tmp_path / "in"
    src.mkdir()
    odd = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: not valid UTF-8
    shutil.copy(photos[0], src / odd)
    shutil.copy(photos[1], src / "plain.jpg")
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "predict", src, "--out", out, "--no-progress")
    assert code == 0, err
    recs = [json.loads(x) for x in (out / "predictions.jsonl").read_bytes().decode().splitlines()]
    assert len(recs) == 2 and all(r["error"] is None for r in recs)
    assert any(r["file"].endswith("caf\\xe9.jpg") for r in recs)
    assert (out / odd).is_file() and "2 annotated images" in stdout


def test_summary_names_what_was_written(tmp_path, capsys, photos):
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "predict", photos[0], "--out", out)
    assert code == 0
    assert "1 image, " in stdout and "wrote 1 annotated image in" in stdout
    assert f"results in {out / 'predictions.json'}" in stdout
    code, stdout, _ = run(capsys, "predict", photos[0], "--out", out, "--no-save")
    assert "annotated" not in stdout.splitlines()[-1] and "results in" in stdout


# --- videos ----------------------------------------------------------------------------------------


def _avi(path: Path, photo: Path, frames: int) -> Path:
    import cv2

    img = cv2.imread(str(photo))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, img.shape[1::-1])
    for i in range(frames):
        writer.write(np.roll(img, i, axis=1))
    writer.release()
    return path


def test_video_summary_and_a_cut_avi_warns(tmp_path, capsys, photos):
    clip = _avi(tmp_path / "clip.avi", photos[0], 20)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "predict", clip, "--out", out, "--no-progress")
    assert code == 0, err
    last = stdout.strip().splitlines()[-1]
    assert "1 video (20 frames" in last and "wrote 1 video result" in last
    assert "warning" not in err
    cut = tmp_path / "cut.avi"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    code, stdout, err = run(capsys, "predict", cut, "--out", out, "--no-progress")
    assert code == 0
    assert "facepoints: warning:" in err and "of the 20 frames" in err


# --- files that are reported, not skipped silently -------------------------------------------------


def test_skipped_gif_and_image_named_folders_are_reported(tmp_path, capsys, photos):
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photos[0], src / "a.jpg")
    Image.open(photos[1]).save(src / "b.gif")
    (src / "c.jpg").mkdir()
    code, _, err = run(capsys, "predict", src, "--out", tmp_path / "o", "--no-progress")
    assert code == 0
    line = one_line(err)
    assert line.startswith("facepoints: warning:") and "b.gif" in line and "c.jpg" in line


def test_a_folder_gives_its_videos_to_commands_that_read_videos(tmp_path, capsys, photos):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(photos[0], src / "a.jpg")
    _avi(src / "sub" / "clip.avi", photos[1], 6)
    out = tmp_path / "o"
    code, stdout, err = run(capsys, "predict", src, "--recursive", "--out", out, "--no-progress")
    assert code == 0, err
    assert "1 image" in stdout and "1 video (6 frames" in stdout
    assert (out / "a.jpg").is_file() and (out / "sub" / "clip.mp4").is_file()
    assert len((out / "sub" / "clip.jsonl").read_text().splitlines()) == 6
    # align makes chips of photos only: the video is named as skipped, not dropped in silence
    code, _, err = run(capsys, "align", src, "--recursive", "--out", tmp_path / "c")
    assert code == 0
    line = one_line(err)
    assert line.startswith("facepoints: warning:") and "clip.avi" in line


@pytest.mark.parametrize("command", ["analyse", "align"])
def test_analyse_and_align_name_a_bad_file_as_predict_does(tmp_path, capsys, photos, command):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    code, _, err = run(capsys, command, photos[0], bad, "--out", tmp_path / "o")
    assert code == 1
    assert err.strip().splitlines() == [
        f"facepoints: error: {bad}: not an image (unknown or damaged format)"
    ]


# --- boxes files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"file": "a.jpg", "faces": [{"score": 1}]}',
        b'{"file": "a.jpg", "faces": 5}',
        b'{"file": "a.jpg", "faces": [{"box": [1, 2, "x", 4]}]}',
        bytes(range(256)) * 4,
        b"a.jpg 1 2 3\n",
    ],
    ids=["no-box", "faces-number", "bad-number", "binary", "short-line"],
)
def test_bad_boxes_file_is_one_line_exit_3(tmp_path, capsys, photos, content):
    boxes = tmp_path / "boxes.json"
    boxes.write_bytes(content)
    code, _, err = run(capsys, "predict", photos[0], "--boxes-from", boxes, "-o", tmp_path / "o")
    assert code == 3 and str(boxes) in one_line(err)


# --- our own messages ------------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels in a few hundred bytes (a pixel bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 30_000])  # above PIL's warning, above its error
def test_pixel_bomb_is_our_one_line(tmp_path, capsys, side):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(side, side))
    code, _, err = run(capsys, "predict", bomb, "-o", tmp_path / "o", "--no-progress")
    line = one_line(err)  # no DecompressionBombWarning before it
    assert code == 1 and "image too large" in line and "64000000" in line
    assert "89478485" not in line and "PIL" not in line


def test_pickled_checkpoint_is_refused_in_our_words(tmp_path, capsys, photos):
    import torch

    bad = tmp_path / "evil.pt"
    torch.save({"model": Path("x"), "model_config": {}}, bad)  # a pickled object
    code, _, err = run(capsys, "predict", photos[0], "--model", bad, "-o", tmp_path / "o")
    line = one_line(err)
    assert code == 6 and "refused" in line and "weights_only" not in line


# --- training: one writer per run folder, resume keeps its settings --------------------------------


def test_a_run_folder_is_locked_while_a_run_writes_it(tmp_path, capsys):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from facepoints.training.runlock import run_lock\n"
            f"with run_lock({str(run_dir)!r}):\n"
            "    print('held', flush=True); time.sleep(60)\n",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run(capsys, "train", "--out", run_dir, "--epochs", "1")
        assert code == 7 and "another training" in one_line(err)
    finally:
        holder.kill()
        holder.wait(10)
    assert not (run_dir / "config.json").exists()  # the refused run wrote nothing


def test_resume_refuses_changed_settings_unless_told(tmp_path, capsys):
    from facepoints.training import TrainConfig

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(TrainConfig(out=str(run_dir), epochs=3).to_json())
    code, _, err = run(
        capsys, "train", "--resume", "--out", run_dir, "--lr", "0.5", "--epochs", "4"
    )
    line = one_line(err)
    assert code == 2 and "lr 0.001 -> 0.5" in line and "epochs 3 -> 4" in line
    # runtime settings may change; with the override the check passes (and training then
    # finds no last.pt to resume: exit 6, not 2)
    code, _, err = run(capsys, "train", "--resume", "--out", run_dir, "--threads", "1")
    assert code == 6 and "nothing to resume" in err
    code, _, err = run(
        capsys, "train", "--resume", "--out", run_dir, "--lr", "0.5", "--override-settings"
    )
    assert code == 6 and "warning: resuming" in err and "lr 0.5 (saved 0.001)" in err
