"""Dense teacher labels for distillation: a dense model's 98 points on the CUHK training faces
(CUHK's boxes), written as a WFLW `list_98pt_rect_attr_train.txt` that the dataset `wflw`
(split "train") reads, so a student learns all 98 points from 10,000 more faces.

    python recipes/dense_teacher_labels.py --teacher dense98 \
        --data-root ../shared/data/cuhk5 --out runs/dense98-teacher

The faces keep CUHK's order, so a seeded validation split of them is the same faces as the
`cuhk5` dataset's (those stay out of training either way). Each face's box is the CUHK-convention
box of the teacher's points (as the WFLW sample's halves get theirs); attribute flags are all 0.
`WFLW_images` in the output is a link to the CUHK folder; the test list is not read, so test
faces cannot leak into training. Resumes: faces already written are kept."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default="dense98")
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "cuhk5"))
    ap.add_argument("--out", default="runs/dense98-teacher")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-refine", action="store_true", help="one pass on CUHK's boxes")
    ap.add_argument("--max-faces", type=int, help="only the first N faces (a quick look)")
    a = ap.parse_args(argv)

    import numpy as np

    from facepoints import FaceLandmarker
    from facepoints.data.cuhk import SPLIT_FILES
    from facepoints.data.lines import list_lines
    from facepoints.data.wflw import ATTRIBUTES, IMAGES_DIR, RECT_ATTR_FILE
    from facepoints.inference.boxes import box_from_points
    from facepoints.io import atomic_write_bytes, load_image

    src = Path(a.data_root)
    out = Path(a.out)
    target = out / RECT_ATTR_FILE.format("train")
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    images = out / IMAGES_DIR
    if not images.exists():
        os.symlink(src.resolve(), images)
    done = _complete_lines(partial)
    partial.write_text("".join(ln + "\n" for ln in done))  # drops a line cut short
    lm = FaceLandmarker(
        a.teacher, backend="onnx", threads=a.threads, scheme="wflw98", refine=not a.no_refine
    )
    flags = " ".join("0" for _ in ATTRIBUTES)
    faces = list(list_lines(src / SPLIT_FILES["train"]))[: a.max_faces]
    with partial.open("a") as f:
        for i, (_, line) in enumerate(faces):
            if i < len(done):
                continue
            fields = line.split()
            rel = fields[0].replace("\\", "/")
            left, right, top, bottom = (float(v) for v in fields[1:5])
            box = np.array([[left, top, right, bottom]], np.float32)
            pts = lm.landmarks(load_image(src / rel), box)[0]
            x1, y1, x2, y2 = box_from_points(pts, "wflw98").reshape(4)
            nums = " ".join(f"{v:.3f}" for v in pts.reshape(-1))
            f.write(f"{nums} {x1:.3f} {y1:.3f} {x2:.3f} {y2:.3f} {flags} {rel}\n")
            if i % 500 == 499:
                f.flush()
                print(f"{i + 1}/{len(faces)}", flush=True)
    atomic_write_bytes(target, partial.read_bytes())
    partial.unlink()
    print(f"{len(faces)} faces labelled by {a.teacher} in {target}")
    return 0


def _complete_lines(partial: Path) -> list[str]:
    """The lines of a stopped run's partial list up to the first that is cut short (the reader's
    own parser decides), so that the run goes on from the next face."""
    from facepoints.data.wflw import parse_rect_attr_line

    if not partial.is_file():
        return []
    done = []
    for line in partial.read_text().split("\n")[:-1]:  # the last piece has no line end
        try:
            parse_rect_attr_line(line)
        except ValueError:
            break
        done.append(line)
    return done


if __name__ == "__main__":
    sys.exit(main())
