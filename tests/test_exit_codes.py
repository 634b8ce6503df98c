"""One exit-code table for every command (facepoints.errors.EXIT_CODES, docs/reliability.md): each
command is driven with the same faults (unknown model, detector, filter, device, option; an
empty filter name; nothing to do) and must end with the documented code and one line on stderr,
with a "did you mean" where a known name is close."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from facepoints.cli import build_parser, main
from facepoints.errors import EXIT_CODES, FacepointsError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
USAGE = 2


def _cases(tmp: str, data: str) -> list[tuple[list[str], int, str]]:
    """(arguments, exit code, a phrase stderr's last line must hold)."""
    typo_model = ("--model", "cuhk5-resnt")
    mean_model = "did you mean 'cuhk5-resnet'"
    cases = []
    for cmd in (["predict", "--demo", "-o", tmp], ["filter", "--demo", "-f", "dog", "-o", tmp]):
        cases += [
            ([*cmd, *typo_model], USAGE, mean_model),
            ([*cmd, "--detector", "mtcn"], USAGE, "did you mean 'mtcnn'"),
            ([*cmd, "--device", "cuda"], USAGE, "no CUDA"),
            ([*cmd, "--device", "banana"], USAGE, "unknown device 'banana'"),
            ([*cmd, "--outt", tmp], USAGE, "did you mean '--out'"),
        ]
    cases += [
        (["predict"], USAGE, "nothing to do"),
        (["filter", "--demo", "-f", "dgo", "-o", tmp], USAGE, "did you mean 'dog'"),
        (["filter", "--demo", "-f", "dog,,crown", "-o", tmp], USAGE, "empty filter name"),
        (["filter", "--demo", "-o", tmp], USAGE, "no filter chosen"),
        (["serve", "--port", "0", *typo_model], USAGE, mean_model),
        (["serve", "--port", "0", "--detector", "mtcn"], USAGE, "did you mean 'mtcnn'"),
        (["serve", "--port", "0", "--device", "cuda"], USAGE, "no CUDA"),
        (["serve", "--port", "70000"], USAGE, "--port"),
        (["train", "--model", "resnt18", "--out", f"{tmp}/t"], USAGE, "did you mean 'resnet18'"),
        (["train", "--device", "cuda", "--out", f"{tmp}/t"], USAGE, "no CUDA"),
        (["train", "--epochs", "many", "--out", f"{tmp}/t"], USAGE, "epochs"),
        (["eval", "cuhk5-resnt", "--data-root", data, "-o", tmp], USAGE, mean_model),
        (["bench", "cuhk5-resnt", "--data-root", data, "-o", tmp], USAGE, mean_model),
        (["eval-confidence", "cuhk5-resnt", "--data-root", data, "-o", tmp], USAGE, mean_model),
        (["export", "cuhk5-resnt", "-o", f"{tmp}/m.onnx"], USAGE, mean_model),
        (["data", "stats", "--dataset", "cuhkk", "-o", tmp], USAGE, "did you mean 'cuhk5'"),
        (["train", "--dataset", "cuhkk", "--out", f"{tmp}/t2"], USAGE, "did you mean 'cuhk5'"),
        (
            ["eval", "cuhk5-resnet", "--dataset", "cuhkk", "--data-root", data, "-o", tmp],
            USAGE,
            "did you mean 'cuhk5'",
        ),
        (["models", "--bogus"], USAGE, "unrecognized arguments"),
        (["predictt"], USAGE, "did you mean 'predict'"),
        (["predict", "--demo", "--model", f"{tmp}/missing.safetensors", "-o", tmp], 6, "missing"),
    ]
    return cases


def test_every_command_gives_the_documented_code_for_each_fault(tmp_path, capsys, cuhk_root):
    failures = []
    for args, code, phrase in _cases(str(tmp_path / "out"), str(cuhk_root)):
        try:
            got = main(args)
        except SystemExit as e:  # argparse's own usage errors
            got = e.code
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1] if err.strip() else ""
        if got != code or phrase not in last or "Traceback" in err:
            failures.append(f"{' '.join(args)}: exit {got}, stderr {err.strip()[-300:]!r}")
        elif "usage:" not in err and len(err.strip().splitlines()) != 1:
            # facepoints' own errors are exactly one line (argparse prints its usage above)
            failures.append(f"{' '.join(args)}: more than one line: {err.strip()[-300:]!r}")
    assert not failures, "\n".join(failures)


def test_every_out_option_answers_to_dash_o():
    def walk(parser: argparse.ArgumentParser, name: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    yield from walk(sub, f"{name} {sub_name}")
        yield name, parser

    seen = 0
    for name, parser in walk(build_parser(), "facepoints"):
        by_flag = parser._option_string_actions
        if "--out" in by_flag:
            assert by_flag.get("-o") is by_flag["--out"], name
            seen += 1
    assert seen >= 8


def test_the_exit_code_table_is_documented_and_used():
    codes = {cls.exit_code for cls in _subclasses(FacepointsError)}
    assert codes <= set(EXIT_CODES), codes - set(EXIT_CODES)
    text = DOCS.read_text(encoding="utf-8")
    rows = {int(m) for m in re.findall(r"^\|\s*(\d+)\s*\|", text, flags=re.M)}
    assert set(EXIT_CODES) <= rows, set(EXIT_CODES) - rows


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "banana"])
def test_the_api_names_a_device_this_build_lacks(device):
    import torch

    from facepoints.errors import ConfigError
    from facepoints.inference.landmarker import FaceLandmarker

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="device"):
        FaceLandmarker(device=device)
