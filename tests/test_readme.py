"""The README and docs/ as a newcomer meets them: the API example runs as written, the first
screen shows a picture, the set-up commands and pip, links lead somewhere, the pages speak about
the product, and every model card states its licence and test figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from facepoints.models.cards import card_paths, read_card
from facepoints.models.pretrained import WEIGHTS_DIR, list_pretrained

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
_NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def _api_example() -> str:
    """The first Python block of the README."""
    m = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert m, "README.md has no ```python block"
    return m.group(1)


def test_api_example_is_five_lines_and_runs_as_written(tmp_path):
    code = _api_example()
    assert len(code.strip().splitlines()) <= 5
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines, "the example printed no face"
    numbers = [float(v) for v in re.findall(_NUMBER, lines[0])]
    assert len(numbers) == 7, lines[0]  # box (4), left_eye (2), landmark score
    x1, y1, x2, y2, ex, ey, score = numbers
    assert x1 < ex < x2 and y1 < ey < y2
    assert ex < (x1 + x2) / 2  # "left_eye" is the eye on the image's left, as the README says
    assert 0 <= score <= 1


def test_first_screen_has_pictures_set_up_commands_and_pip():
    head = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    pictures = re.findall(r'(?:src="|\]\()(docs/[^")]+\.(?:jpg|png))', head)
    assert len(pictures) >= 2 and all((ROOT / p).is_file() for p in pictures), pictures
    for command in ("./dev run predict --demo", "./dev test", "pip install"):
        assert command in head, command
    assert "```python" in head
    dev = (ROOT / "dev").read_text(encoding="utf-8")  # the two commands are what ./dev does
    assert re.search(r"^\s*run\)", dev, re.M) and re.search(r"^\s*test\)", dev, re.M)


def test_readme_states_the_point_conventions():
    text = README.read_text(encoding="utf-8")
    assert re.search(r"`left_eye` is the eye on the left of the picture", text)
    assert "(0, 0)" in text and "W - 1 - x" in text  # pixel centres, as schemes.flip_points


def test_readme_has_one_section_per_area():
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.M)
    for area in ("Detectors", "Speed", "Reliability", "Face filters", "Uses of the points",
                 "Dense models", "Licences of the models"):  # fmt: skip
        assert area in headings, area


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_local_links_and_pictures_exist(page):
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s#]+)[^)]*\)", text) + re.findall(r'src="([^"]+)"', text)
    missing = [t for t in targets if not re.match(r"[a-z]+:", t) and not (page.parent / t).exists()]
    assert not missing, f"{page.name}: {missing}"


_MAKING = [
    r"\bthe course\b",
    r"\bcase study\b",
    r"\bVM\b",
    r"\b(?:not|never) lent\b",
    r"DESIGN\.md",
    r"\btargets?\b[^.]{0,60}\bnot reached\b",
    r"\bnot reached\b[^.]{0,20}\btarget",
]


@pytest.mark.parametrize("page", PAGES + card_paths(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pages_speak_about_the_product_not_its_making(page):
    text = page.read_text(encoding="utf-8")
    found = [
        m.group(0)
        for pat in _MAKING
        for m in re.finditer(pat, text, re.I if "VM" not in pat else 0)
    ]
    assert not found, f"{page.name}: {found}"


def test_every_card_has_a_licence_section():
    cards = card_paths()
    assert cards
    for path in cards:
        licence = read_card(path).licence
        assert licence, f"{path.name}: no '## Licence' section"
        assert "weights" in licence.lower(), f"{path.name}: the licence of the weights is not named"
        assert re.search(r"\b(MIT|Apache|BSD|CC[- ]BY|GPL|research)", licence), path.name


def test_every_shipped_weights_file_has_a_card():
    cards = card_paths()
    shipped = {p.stem for p in Path(WEIGHTS_DIR).glob("*.safetensors")}
    assert shipped <= {p.stem for p in cards}, "weights without a model card"


def test_readme_licence_table_names_every_shipped_model():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Licences of the models", 1)[1].split("\n## ", 1)[0]
    for path in card_paths():
        assert f"`{path.stem}`" in section, path.stem


def test_models_command_shows_each_cards_test_figures():
    r = subprocess.run(
        [sys.executable, "-m", "facepoints", "models"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip()}
    for name in list_pretrained():
        first = read_card(Path(WEIGHTS_DIR) / f"{name}.md").test_figures()[0]
        assert first["NME"] in rows[name] and first["FR@10%"] in rows[name], rows[name]
    from facepoints.inference.quantized import int8_models

    int8_line = rows["Also"]  # the models that also ship in int8
    assert int8_models() and all(n in int8_line for n in int8_models()), int8_line
