"""Teacher labels for distillation: the accurate model's points on the CUHK training faces, written
as a CUHK list (same boxes, same image paths) that `facepoints train --data-root` reads.

    python recipes/cuhk5_teacher_labels.py --teacher cuhk5-resnet \
        --data-root ../shared/data/cuhk5 --out runs/cuhk5-teacher

The folder gets trainImageList.txt (teacher points, two passes) and links to the image folders;
the test list is not copied, so test faces cannot leak into training."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default="cuhk5-resnet")
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "cuhk5"))
    ap.add_argument("--out", default="runs/cuhk5-teacher")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)

    import numpy as np

    from facepoints import FaceLandmarker
    from facepoints.data.cuhk import SPLIT_FILES
    from facepoints.data.lines import list_lines
    from facepoints.io import atomic_write_bytes, load_image

    src = Path(a.data_root)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lm = FaceLandmarker(a.teacher, backend="onnx", threads=a.threads, refine=True)
    lines = []
    for _, line in list_lines(src / SPLIT_FILES["train"]):
        f = line.split()
        rel, (left, right, top, bottom) = f[0], (float(v) for v in f[1:5])
        rgb = load_image(src / rel.replace("\\", "/"))
        pts = lm.landmarks(rgb, np.array([[left, top, right, bottom]], np.float32))[0]
        lines.append(" ".join(f[:5] + [f"{v:.3f}" for v in pts.reshape(-1)]))
    atomic_write_bytes(out / SPLIT_FILES["train"], ("\r\n".join(lines) + "\r\n").encode())
    for folder in {ln.split()[0].replace("\\", "/").split("/")[0] for ln in lines}:
        link = out / folder
        if not link.exists():
            os.symlink((src / folder).resolve(), link)
    print(f"{len(lines)} faces labelled by {a.teacher} in {out / SPLIT_FILES['train']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
