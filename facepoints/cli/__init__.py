"""The `facepoints` command: argument parsing and printing only; every command calls the API.

Each command family is one module here with `register(subparsers)`; a command's handler gets the
parsed namespace and returns an exit code. Errors of facepoints' own types become one line on
stderr and their exit code."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from ..errors import FacepointsError

# command families, in the order `--help` lists them
_FAMILIES = (
    "data",
    "models",
    "train",
    "evaluate",
    "confidence",
    "bench",
    "predict",
    "export",
    "filter",
    "serve",
)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="facepoints",
        description="Facial landmark detection: data, training, evaluation and inference.",
    )
    p.add_argument("--version", action="version", version=f"facepoints {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for fam in _FAMILIES:
        try:
            mod = import_module(f".{fam}", __name__)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(__name__):
                continue  # a family not built yet
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except FacepointsError as e:
        print(f"facepoints: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("facepoints: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
