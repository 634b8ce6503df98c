"""Model cards: the Markdown file beside each shipped model's weights (`facepoints/weights/NAME.md`).

A card is written for people; two of its sections are also read by code, so they keep a fixed
shape:

- `## Test figures`: a Markdown table whose header names at least "Test set", "Faces", "NME" and
  "FR@10%" (more columns, such as "AUC@10%", are kept too); one row per test set, the first row
  the model's headline figures. `facepoints models` shows that first row.
- `## Licence`: the licence of the weights and the terms of every dataset and teacher model
  behind them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["ModelCard", "read_card", "card_paths", "TEST_FIGURES", "LICENCE"]

TEST_FIGURES = "Test figures"
LICENCE = "Licence"
_REQUIRED_COLUMNS = ("Test set", "Faces", "NME", "FR@10%")


@dataclass(frozen=True)
class ModelCard:
    """One card: its `title` (the first `# ` line) and its `## ` sections by heading."""

    path: Path
    title: str
    sections: dict[str, str]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def licence(self) -> str | None:
        """The text of the Licence section (None: the card has none)."""
        return self.sections.get(LICENCE)

    def test_figures(self) -> list[dict[str, str]]:
        """The rows of the Test figures table, each {column: cell}; [] when the card has no such
        section. A table missing one of the required columns is a ConfigError."""
        text = self.sections.get(TEST_FIGURES)
        if text is None:
            return []
        rows = _table(text)
        if not rows:
            raise ConfigError(f"{self.path}: the {TEST_FIGURES!r} section holds no table")
        missing = [c for c in _REQUIRED_COLUMNS if c not in rows[0]]
        if missing:
            raise ConfigError(f"{self.path}: the {TEST_FIGURES!r} table lacks {missing}")
        return rows


def read_card(path: str | Path) -> ModelCard:
    """Read a card from its path."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the model card ({e.strerror or e})") from None
    title, sections, current = "", {}, None
    for line in text.splitlines():
        if line.startswith("# ") and not title and current is None:
            title = line[2:].strip()
        elif line.startswith("## "):
            current = line[3:].strip()
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return ModelCard(p, title, {k: v.strip("\n") for k, v in sections.items()})


def card_paths() -> list[Path]:
    """Every card shipped in facepoints/weights/, sorted by name."""
    from .pretrained import WEIGHTS_DIR

    return sorted(Path(WEIGHTS_DIR).glob("*.md"))


# --- helpers -------------------------------------------------------------------------------------


def _table(text: str) -> list[dict[str, str]]:
    """The first Markdown pipe table in `text`, as dicts keyed by its header."""
    lines = [ln.strip() for ln in text.splitlines()]
    for i, ln in enumerate(lines[:-1]):
        if ln.startswith("|") and re.fullmatch(
            r"\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?", lines[i + 1]
        ):
            header = _cells(ln)
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                cells = _cells(row)
                cells = (cells + [""] * len(header))[: len(header)]  # short rows padded, long cut
                rows.append(dict(zip(header, cells, strict=True)))
            return rows
    return []


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]
