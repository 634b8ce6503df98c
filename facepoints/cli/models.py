"""`facepoints models`: the model families and the shipped pretrained models with the test
figures of their cards."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("models", help="list model architectures and shipped models")
    p.set_defaults(handler=_models)


def _models(a: argparse.Namespace) -> int:
    from ..evaluation.report import format_table
    from ..models import list_models
    from ..models.cards import read_card
    from ..models.pretrained import WEIGHTS_DIR, list_pretrained, resolve_model

    rows = list_models()
    cols = [
        ("name", "Name", None),
        ("family", "Family", None),
        ("input_size", "Input", "d"),
        ("in_channels", "Ch", "d"),
        ("params", "Params", ","),
        ("description", "Description", None),
    ]
    print("Architectures (facepoints train --model NAME):")
    print(format_table(rows, cols))
    shipped = []
    for name in list_pretrained():
        lm = resolve_model(name)
        card = WEIGHTS_DIR / f"{name}.md"
        figures = read_card(card).test_figures() if card.is_file() else []
        first = figures[0] if figures else {}
        shipped.append(
            {
                "name": name,
                "arch": lm.model.config.get("name", "?"),
                "points": _points(lm.scheme),
                "test_set": first.get("Test set", "-"),
                "faces": first.get("Faces", "-"),
                "nme": first.get("NME", "-"),
                "fr": first.get("FR@10%", "-"),
                "card": f"facepoints/weights/{card.name}" if card.is_file() else "-",
            }
        )
    print("\nShipped models (use by name anywhere a model is asked for):")
    if shipped:
        print(
            format_table(
                shipped,
                [
                    ("name", "Name", None),
                    ("arch", "Architecture", None),
                    ("points", "Points", None),
                    ("test_set", "Test set", None),
                    ("faces", "Faces", None),
                    ("nme", "NME", None),
                    ("fr", "FR@10%", None),
                    ("card", "Model card", None),
                ],
            )
        )
        print("NME: mean point error / eye distance; FR@10%: share of faces with NME over 10%.")
        from ..inference.quantized import int8_models

        int8 = int8_models()
        if int8:
            print(
                f"Also in int8 (--precision int8, precision='int8'; docs/speed.md): "
                f"{', '.join(int8)}."
            )
    else:
        print("  none")
    return 0


def _points(scheme) -> str:
    """The points a model gives: its own count, or a composite's, first block first ("98, 68, 5")."""
    parts = [p for p in scheme.name.split("+")]
    if len(parts) == 1:
        return str(scheme.num_points)
    from ..schemes import get_scheme

    return ", ".join(str(get_scheme(p).num_points) for p in parts)
