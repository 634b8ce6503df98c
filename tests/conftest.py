"""Shared fixtures: the real datasets in ../shared/data, and a private cache folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def cuhk_root() -> Path:
    root = SHARED / "cuhk5"
    if not (root / "trainImageList.txt").is_file():
        pytest.skip(f"CUHK data not found at {root}")
    return root


@pytest.fixture(scope="session")
def wflw_root() -> Path:
    root = SHARED / "wflw_sample"
    if not (root / "WFLW_annotations").is_dir():
        pytest.skip(f"WFLW sample not found at {root}")
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test session caches crops in its own folder, never in the user's home or shared/."""
    cache = tmp_path_factory.getbasetemp() / "fp-cache"
    monkeypatch.setenv("FACEPOINTS_CACHE", str(cache))
    yield


@pytest.fixture(scope="session")
def w300_root() -> Path:
    root = SHARED / "300w"
    if not (root / "helen" / "testset").is_dir():
        pytest.skip(f"300-W data not found at {root}")
    return root
