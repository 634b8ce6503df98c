"""What the analysis checks share: the shared data's sets read by name, and model predictions on
them cached under runs/analysis/ (one .npz per set and model), so re-running a check is cheap.

    python benchmarks/analysis_common.py --model dense68 --sets cuhk_test 300w_test wflw lfw_smile

fills the cache ahead of the checks (one thread, one face at a time, the set's own boxes, with
the refining second pass).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CACHE = ROOT / "runs" / "analysis"
SETS = ("cuhk_test", "cuhk_train", "300w_test", "300w_train", "300w_turned", "wflw", "lfw_smile")
# turned copies of the 300-W training faces (`facepoints data turn`), a training set for the checks
TURNED = ROOT / "runs" / "300w-turned"
TURN_COMMAND = f"facepoints data turn --data-root {SHARED / '300w'} --out {TURNED}"


def model_tag(model: str) -> str:
    """`model` plus a short hash of its weights file's bytes: the cache key of its predictions, so
    that a model shipped again under the same name is never read from an older run's cache."""
    import hashlib

    from facepoints.models.pretrained import WEIGHTS_DIR

    p = Path(model)
    if not p.exists():
        p = WEIGHTS_DIR / f"{model}.safetensors"
    if p.is_dir():
        p = next((p / c for c in ("best.safetensors", "best.pt") if (p / c).is_file()), p)
    if not p.is_file():
        return Path(model).name
    return f"{Path(model).name}-{hashlib.sha1(p.read_bytes()).hexdigest()[:8]}"


def read_set(name: str):
    """The human-labelled faces of a set by name (FaceRecords); lfw_smile adds `labels`."""
    from facepoints.data import read_dataset

    if name == "cuhk_test":
        return read_dataset("cuhk5", "test", SHARED / "cuhk5")
    if name == "cuhk_train":
        return read_dataset("cuhk5", "train", SHARED / "cuhk5")
    if name == "300w_test":
        return read_dataset("300w", "test", SHARED / "300w")
    if name == "300w_train":
        return read_dataset("300w", "train", SHARED / "300w")
    if name == "300w_turned":
        if not TURNED.is_dir():
            raise SystemExit(f"{TURNED} is missing; make it with `{TURN_COMMAND}`")
        return read_dataset("300w", "train", TURNED)
    if name == "wflw":
        return read_dataset("wflw", "test", SHARED / "wflw_sample")
    if name == "lfw_smile":
        return read_lfw_smile()
    raise SystemExit(f"unknown set {name!r}; known: {', '.join(SETS)}")


def read_lfw_smile():
    """The 1,677 CUHK lfw_5590 faces with a smile label: FaceRecords (CUHK boxes and 5 human
    points) and the labels (N,) int (1 = smiling), in the label file's order."""
    from facepoints.data import read_dataset

    labels_file = SHARED / "lfw_smile" / "cuhk5_lfw_smile.txt"
    wanted = {}
    for line in labels_file.read_text().split("\n"):
        if line.strip():
            path, label = line.split()
            wanted[Path(path).name] = int(label)
    parts = [read_dataset("cuhk5", s, SHARED / "cuhk5") for s in ("train", "test")]
    index = {}
    for pi, part in enumerate(parts):
        for i, img in enumerate(part.images):
            if "lfw_5590" in str(img) and Path(img).name in wanted:
                index.setdefault(Path(img).name, (pi, i))
    names = [n for n in wanted if n in index]
    from facepoints.data.records import FaceRecords

    recs = FaceRecords(
        scheme=parts[0].scheme,
        images=[parts[index[n][0]].images[index[n][1]] for n in names],
        boxes=np.stack([parts[index[n][0]].boxes[index[n][1]] for n in names]),
        points=np.stack([parts[index[n][0]].points[index[n][1]] for n in names]),
        name="lfw_smile",
    )
    recs.labels = np.array([wanted[n] for n in names], dtype=int)
    return recs


def wflw_heldout(records) -> np.ndarray:
    """(N,) bool: the WFLW sample's faces in its held-out half (the dense model never saw them:
    it was fine-tuned on the other, "tune" half)."""
    from facepoints.data import read_dataset

    held = read_dataset("wflw68", "heldout", SHARED / "wflw_sample")
    keys = {
        (str(i), round(float(b[0]), 1), round(float(b[1]), 1))
        for i, b in zip(held.images, held.boxes, strict=True)
    }
    from facepoints.inference.boxes import box_from_points

    boxes = box_from_points(records.points, records.scheme)
    return np.array(
        [
            (str(i), round(float(b[0]), 1), round(float(b[1]), 1)) in keys
            for i, b in zip(records.images, boxes, strict=True)
        ]
    )


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for binary `labels`."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(labels).astype(int), np.asarray(scores, float)))


def write_table(name: str, text: str) -> Path:
    """Write a check's table (Markdown) to benchmarks/results/analysis_<name>.md atomically."""
    out = ROOT / "benchmarks" / "results" / f"analysis_{name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return out


def predictions(set_name: str, model: str, records=None, verbose: bool = True) -> np.ndarray:
    """(N, K, 2) points of `model` on the set's faces (its own boxes), from the cache when there."""
    records = read_set(set_name) if records is None else records
    path = CACHE / f"{set_name}.{model_tag(model)}.npz"
    if path.is_file():
        z = np.load(path)
        if len(z["points"]) == len(records):
            return z["points"]
    from facepoints import FaceLandmarker
    from facepoints.io import load_image

    # the set's own boxes with the second pass on the first pass's points (refine=True)
    lm = FaceLandmarker(model=model, threads=1, refine=True)
    out = np.zeros((len(records), lm.scheme.num_points, 2), np.float32)
    t0 = time.time()
    last = None
    for i, (img, box) in enumerate(zip(records.images, records.boxes, strict=True)):
        if last is None or last[0] != img:
            last = (img, load_image(img))
        out[i] = lm.landmarks(last[1], box[None])[0]
        if verbose and (i + 1) % 500 == 0:
            print(f"{set_name} {model}: {i + 1}/{len(records)} {time.time() - t0:.0f}s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, points=out)
    tmp.replace(path)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="dense68")
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    a = p.parse_args(argv)
    for s in a.sets:
        t0 = time.time()
        pts = predictions(s, a.model)
        print(f"{s}: {len(pts)} faces, {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
