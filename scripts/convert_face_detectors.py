"""Convert the light face detectors' PyTorch state dicts (RetinaFace-MobileNet-0.25, ultra-light
slim and RFB, from the repository "Face-Detector-1MB-with-landmark", MIT) into the one
safetensors file facepoints ships: facepoints/weights/face-detector-1mb.safetensors, keys
prefixed "retinaface.", "slim.", "rfb.". Each state dict is loaded strictly into its torch.nn
network first, so a key or shape that does not fit stops the conversion. Run once:

    .venv/bin/python scripts/convert_face_detectors.py ../shared/detectors/face-detector-1mb
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.inference.detectors.lightnets import NETWORKS  # noqa: E402
from facepoints.inference.detectors.single_shot import WEIGHTS_FILE  # noqa: E402
from facepoints.io import atomic_write_bytes  # noqa: E402

SOURCE_FILES = {
    "retinaface": "mobilenet0.25_Final.pth",
    "ultralight_slim": "slim_Final.pth",
    "ultralight_rfb": "RBF_Final.pth",
}
SOURCE_COMMIT = "2b075657aef954b9426f938ac7fce100b6910fe6"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="the folder holding the three .pth files")
    ap.add_argument("--out", default=str(WEIGHTS_FILE))
    args = ap.parse_args(argv)

    import torch
    from safetensors.torch import save

    tensors, meta = (
        {},
        {
            "source": "github.com/biubug6/Face-Detector-1MB-with-landmark",
            "commit": SOURCE_COMMIT,
            "licence": "MIT",
        },
    )
    for name, file in SOURCE_FILES.items():
        path = Path(args.folder) / file
        state = torch.load(path, map_location="cpu", weights_only=True)
        make, prefix = NETWORKS[name]
        net = make()
        net.load_state_dict(state, strict=True)  # every key and shape must fit
        for key, value in net.state_dict().items():
            tensors[prefix + key] = value.detach().contiguous().clone()
        meta[f"{name}.sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        n = sum(p.numel() for p in net.parameters())
        print(f"{name}: {file}, {n:,} parameters", file=sys.stderr)
    atomic_write_bytes(args.out, save(tensors, metadata=meta))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
