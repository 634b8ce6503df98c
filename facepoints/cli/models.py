"""`facepoints models`: the model families and the shipped pretrained models."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("models", help="list model architectures and shipped models")
    p.set_defaults(handler=_models)


def _models(a: argparse.Namespace) -> int:
    from ..evaluation.report import format_table
    from ..models import list_models
    from ..models.pretrained import list_pretrained, resolve_model

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
        shipped.append(
            {
                "name": name,
                "arch": lm.model.config.get("name", "?"),
                "points": lm.model.num_points,
                "nme": lm.metadata.get("test_nme", "-"),
                "card": f"facepoints/weights/{name}.md",
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
                    ("points", "Points", "d"),
                    ("nme", "Test NME", None),
                    ("card", "Model card", None),
                ],
            )
        )
    else:
        print("  none")
    return 0
