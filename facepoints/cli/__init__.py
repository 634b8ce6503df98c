"""The `facepoints` command: argument parsing and printing only; every command calls the API.

Each command family is one module here with `register(subparsers)`; a command's handler gets the
parsed namespace and returns an exit code. Errors of facepoints' own types become one line on
stderr and their exit code (`facepoints.errors.EXIT_CODES`); usage errors exit 2 with a "did you
mean" where a known name is close; every `--out` also answers to `-o`. Warnings of the libraries
underneath are hidden (FACEPOINTS_WARNINGS=1 shows them); facepoints' own print as one line."""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from importlib import import_module
from pathlib import Path

from ..errors import FacepointsError, FacepointsWarning, did_you_mean

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
    "align",
    "analyse",
)


class Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for an unknown option or command (exit 2, as argparse)."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{self._hint(message)}\n")

    def _hint(self, message: str) -> str:
        m = re.search(r"unrecognized arguments: (\S+)", message)
        if m and m.group(1).startswith("-"):
            flag = m.group(1).split("=")[0]
            return did_you_mean(flag, list(self._option_string_actions), cutoff=0.75)
        m = re.search(r"invalid choice: '([^']*)'", message)
        if m:
            choices = re.findall(r"'([^']*)'", message.split("choose from", 1)[-1])
            return did_you_mean(m.group(1), choices)
        return ""


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = Parser(
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
    _alias_out(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command's own parser: its usage, its options for "did you mean"
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            code = args.handler(args)
        except FacepointsError as e:
            print(f"facepoints: error: {_printable(e)}", file=sys.stderr)
            return e.exit_code
        except KeyboardInterrupt:
            print("facepoints: interrupted", file=sys.stderr)
            return 130
    return int(code or 0)


# --- helpers -------------------------------------------------------------------------------------


def _alias_out(parser: argparse.ArgumentParser) -> None:
    """Give every command's `--out` the short form `-o` (unless the command uses -o already)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _alias_out(sub)
        elif "--out" in action.option_strings and "-o" not in parser._option_string_actions:
            action.option_strings.insert(0, "-o")
            parser._option_string_actions["-o"] = action


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """The (sub)parser of the command that `args` ran, e.g. the one of `data stats`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                return _command_parser(chosen, args)
    return parser


_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """facepoints' own warnings as one line on stderr; the libraries' only when asked for."""
    ours = issubclass(category, FacepointsWarning) or (
        category is UserWarning and str(Path(filename).resolve()).startswith(_PACKAGE_DIR)
    )
    if ours:
        print(f"facepoints: warning: {' '.join(str(message).split())}", file=sys.stderr)
    elif os.environ.get("FACEPOINTS_WARNINGS") or sys.warnoptions:
        print(warnings.formatwarning(message, category, filename, lineno, line), file=sys.stderr)


def _printable(e: Exception) -> str:
    """The error as one line that any terminal can print (file names may not be UTF-8)."""
    text = " ".join(str(e).split())
    return text.encode("utf-8", "backslashreplace").decode("utf-8", "replace")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
