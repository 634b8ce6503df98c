"""The wheel: `python -m build` makes one quietly, and it installs into a fresh virtual environment
without the repository, where `facepoints predict --demo` runs.

The fresh environment gets facepoints from the wheel alone; its dependencies (torch and the rest,
gigabytes to download) are lent from the environment running the tests through a folder of
links that leaves facepoints itself out, and pip installs with `--no-index`, so it must find every
requirement satisfied and downloads nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what a checkout holds that is not the source: environments, outputs, caches
_NOT_SOURCE_NAMES = shutil.ignore_patterns(
    ".git", ".venv", "runs", "build", "dist", "out", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", "tests",
)  # fmt: skip


def _NOT_SOURCE(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out: the names above, and ONNX files (exports) except the shipped
    int8 models beside the weights."""
    out = set(_NOT_SOURCE_NAMES(folder, names))
    if Path(folder).resolve() != ROOT / "facepoints" / "weights":
        out |= {n for n in names if n.endswith(".onnx")}
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    """(path of the built wheel, the build's output)."""
    pytest.importorskip("build")
    src = tmp_path_factory.mktemp("src") / "facepoints"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE, symlinks=True)
    dist = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend (setuptools) of this environment, so no download
    r = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, src])
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = list(dist.glob("facepoints-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], r.stdout + r.stderr


@pytest.mark.slow
def test_build_is_quiet_and_carries_models_page_and_licence(wheel):
    import zipfile

    path, log = wheel
    assert "Deprecat" not in log and "deprecat" not in log, log  # e.g. license as a TOML table
    names = set(zipfile.ZipFile(path).namelist())
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "facepoints/weights").glob("*")}
    assert shipped and shipped <= names  # every model and its card
    fitted = {  # the analysis models' fitted files (eye CNN, ridge, pose face, smile)
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "facepoints/analysis").iterdir()
        if p.suffix in (".json", ".safetensors")
    }
    assert "facepoints/analysis/eyes_cnn.safetensors" in fitted and fitted <= names
    for f in ("facepoints/serve/static/index.html", "facepoints/inference/astronaut.jpg"):
        assert f in names
    assert not any(n.startswith("tests/") for n in names)
    meta = zipfile.ZipFile(path).read(_dist_info(names) + "METADATA").decode()
    assert "License-Expression: MIT" in meta
    assert _dist_info(names) + "licenses/LICENSE" in names


@pytest.mark.slow
def test_wheel_installs_in_fresh_venv_and_predicts_demo(wheel, tmp_path):
    path, _ = wheel
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    target_site = Path(
        _run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    )
    deps = tmp_path / "lent-deps"
    deps.mkdir()
    for site in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}:
        for entry in Path(site).iterdir():
            name = entry.name.lower()
            if name.startswith(("facepoints", "__editable__", "_facepoints")) or name.endswith(
                ".pth"
            ):
                continue
            if not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    (target_site / "lent-deps.pth").write_text(f"{deps}\n")

    work = tmp_path / "elsewhere"  # no checkout around: the package must come from the wheel
    work.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    clean["PIP_NO_INDEX"] = "1"
    r = _run(
        [sys.executable, "-m", "pip", "--python", py, "install", "--no-index", path], work, clean
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Deprecat" not in r.stdout + r.stderr

    r = _run([py, "-c", "import facepoints; print(facepoints.__file__)"], work, clean)
    assert r.returncode == 0 and Path(r.stdout.strip()).is_relative_to(env_dir), r.stdout + r.stderr

    out = work / "out"
    cli = env_dir / "bin" / "facepoints"
    r = _run([cli, "predict", "--demo", "--out", out, "--threads", "1"], work, clean)
    assert r.returncode == 0, r.stdout + r.stderr
    record = json.loads((out / "predictions.json").read_text())
    assert len(record["faces"]) >= 1 and len(record["faces"][0]["landmarks"]) == 5
    assert [p for p in out.iterdir() if p.suffix in (".jpg", ".png")], list(out.iterdir())


def _run(cmd, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _dist_info(names: set[str]) -> str:
    return next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")) + "/"
