"""`facepoints export`: a landmark model as ONNX or TorchScript, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

_SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript"}


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a landmark model to ONNX or TorchScript",
        description="Write a landmark model as ONNX or TorchScript with its input size, margin, "
        "points and config embedded, and print the largest difference from PyTorch on a check "
        "batch (in crop pixels and normalised units).",
    )
    p.add_argument(
        "model",
        nargs="?",
        help="shipped model name, .safetensors, .pt checkpoint or run folder (default: the "
        "default model)",
    )
    p.add_argument("--format", choices=sorted(_SUFFIX), default="onnx", help="default: onnx")
    p.add_argument("--out", help="output file (default: <model name>.onnx / .torchscript)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--static-batch", action="store_true", help="ONNX: fix the batch to 1 (default: dynamic)"
    )
    p.set_defaults(handler=_export)


def _export(a: argparse.Namespace) -> int:
    from ..inference.export import compare_onnx, export_onnx, export_torchscript
    from ..models.pretrained import resolve_model

    lm = resolve_model(a.model)
    out = Path(a.out) if a.out else Path(f"{lm.name}{_SUFFIX[a.format]}")
    if a.format == "onnx":
        path = export_onnx(lm, out, opset=a.opset, dynamic_batch=not a.static_batch)
        diff = compare_onnx(lm, path, batch=1 if a.static_batch else 4)
        conf_diff = compare_onnx(lm, path, batch=1 if a.static_batch else 4, confidence=True)
        what = "ONNX Runtime"
    else:
        path = export_torchscript(lm, out)
        diff = _compare_torchscript(lm, path)
        what = "TorchScript"
    size = lm.model.input_size
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {a.format})")
    print(
        f"max |{what} - PyTorch| on a check batch: {diff:.2e} normalised "
        f"({diff * size:.2e} crop pixels at {size}px)"
    )
    if a.format == "onnx":
        print(f"max |{what} - PyTorch| of the point confidences: {conf_diff:.2e}")
    return 0


def _compare_torchscript(lm, path: Path, batch: int = 4) -> float:
    import numpy as np
    import torch

    from ..inference.export import load_torchscript

    module, _ = load_torchscript(path)
    net = lm.model
    x = torch.from_numpy(
        np.random.default_rng(0)
        .normal(size=(batch, net.in_channels, net.input_size, net.input_size))
        .astype(np.float32)
    )
    dev = next(net.parameters()).device
    with torch.no_grad():
        ref = net(x.to(dev)).cpu()
        got = module(x)
    return float((got - ref).abs().max())
