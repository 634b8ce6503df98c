"""Store a weights file's float32 tensors as float16, in place (metadata kept): half the bytes.
facepoints loads them into its float32 models, so the arithmetic stays float32.

    .venv/bin/python scripts/half_weights.py facepoints/weights/dense98.safetensors

Check the points against the float32 file before shipping (the dense98 card says by how much
they move).
"""

from __future__ import annotations

import argparse

import torch
from safetensors import safe_open
from safetensors.torch import save

from facepoints.io import atomic_write_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", help="a .safetensors weights file")
    a = ap.parse_args()
    with safe_open(a.path, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    half = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    atomic_write_bytes(a.path, save(half, metadata=meta))
    print(f"{a.path}: {sum(v.numel() for v in half.values())} values, float16 where float32")


if __name__ == "__main__":
    main()
