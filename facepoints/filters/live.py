"""What the page needs to run detector, landmarks and filters in the browser (ONNX Runtime Web):
the two networks as ONNX, each overlay's artwork as a PNG, and a manifest with everything the
page must compute the way the server does (anchors, box map, crop, canonical mesh and its
triangles, the face score, the fade of unsure points). Built once per version into the user
cache folder, from the shipped weights (a local export, never a download).

    folder = live_assets()          # manifest.json, detector.onnx, landmarks.onnx, art/*.png
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np

__all__ = ["live_assets", "LIVE_DETECTOR", "LIVE_FILTERS", "ART_UNIT"]

# the default detector (single-shot: one pass, decoded here and in the page alike); it runs on one
# frame in LIVE_DETECT_EVERY only, and its face score is calibrated (face_score.CALIBRATIONS)
LIVE_DETECTOR = "retinaface"
ART_UNIT = 160  # artwork pixels per face unit in the PNGs (faces up to ~300 px across stay sharp)
# the filters the page draws itself; others (align) send frames to the server
LIVE_FILTERS = ("sunglasses", "crown", "moustache", "dog", "clown", "lipstick", "big_eyes")
# the detector runs on every this many frames (and when a face is lost); in between each face's
# box comes from its points of the frame before, as the server's FaceTracker does
LIVE_DETECT_EVERY = 10
_VERSION = 6  # bump when what is written changes
_LOCK = threading.Lock()


def live_assets(folder: str | Path | None = None, model: str | None = None) -> Path:
    """The folder of the in-browser assets for landmark `model` (None: `FILTER_MODEL`), made
    when missing (in `folder`, default the user cache), written atomically file by file with the
    manifest last, so a folder with a manifest is complete. Returns the folder."""
    from ..data.paths import user_cache_dir
    from .base import FILTER_MODEL

    model = model or FILTER_MODEL
    root = Path(folder) if folder is not None else user_cache_dir() / "live" / _key(model)
    with _LOCK:
        if not (root / "manifest.json").is_file():
            _build(root, model)
    return root


# --- helpers -------------------------------------------------------------------------------------


def _build(root: Path, model: str) -> None:
    from ..inference import boxes
    from ..inference.detectors import create_detector
    from ..inference.export import export_onnx
    from ..inference.tracking import DEFAULT_MIN_LANDMARK_SCORE
    from ..io import atomic_write_bytes
    from ..models.pretrained import resolve_model
    from ..schemes import get_scheme
    from . import mesh
    from .base import _LIT_FACE, FADED_OPACITY, UNSURE_FADE, get_filter
    from .face_score import calibration

    (root / "art").mkdir(parents=True, exist_ok=True)
    detector = create_detector(LIVE_DETECTOR, min_size=40)
    detector.export_onnx(root / "detector.onnx")
    loaded = resolve_model(model)
    export_onnx(loaded, root / "landmarks.onnx", dynamic_batch=True)
    net = loaded.model

    filters = []
    for name in LIVE_FILTERS:
        f = get_filter(name)
        entry = {"name": name, "description": f.description, "kind": name}
        if hasattr(f, "artwork"):
            art = f.artwork(ART_UNIT)
            atomic_write_bytes(root / "art" / f"{name}.png", _png(art.rgba))
            entry.update(
                kind="overlay",
                art=f"art/{name}.png",
                origin=[float(v) for v in art.origin],
                unit=float(art.unit),
                extent=[float(v) for v in f.extent],
            )
        elif name == "lipstick":
            entry.update(color=list(f.color), opacity=float(f.opacity))
        elif name == "big_eyes":
            entry.update(radius=float(f.radius), strength=float(f.strength))
        filters.append(entry)

    weights, threshold = calibration(LIVE_DETECTOR)
    scheme = get_scheme(loaded.scheme)
    pts, tris = mesh._canonical()
    bm = detector.box_map
    manifest = {
        "version": _VERSION,
        "detector": {
            "file": "detector.onnx",
            "name": detector.name,
            "steps": list(detector.steps),
            "min_sizes": [list(s) for s in detector.min_sizes],
            "variances": [0.1, 0.2],
            "mean_bgr": [104.0, 117.0, 123.0],
            "threshold": float(detector.threshold),
            "nms_iou": float(detector.nms_iou),
            "box_map": {"dx": bm.dx, "dy": bm.dy, "sx": bm.sx, "sy": bm.sy},
            "min_face": 40.0,
            "window": float(detector.window),
        },
        "landmarks": {
            "file": "landmarks.onnx",
            "name": loaded.name,
            "input_size": int(net.input_size),
            "margin": float(loaded.margin),
            "points": int(net.num_points),
            "mean": 0.5,
            "std": 0.25,
            # a denser scheme's points are averaged down to the 68 the mesh is made of
            "to68": None
            if scheme.name == "ibug68"
            else [list(r) for r in scheme.projections["ibug68"]],
        },
        "mesh": {
            "points": np.round(pts, 5).tolist(),
            "triangles": tris.tolist(),
            "core": list(mesh._CORE),
            "brows": list(mesh._BROWS),
            "jaw": list(mesh._JAW),
            "forehead_rise": list(mesh._FOREHEAD_RISE),
            "jaw_offsets": np.round(
                mesh._jaw_normals(mesh.CANONICAL68) * mesh._JAW_OUT, 5
            ).tolist(),
            "rings": np.round(mesh._rings(), 5).tolist(),
        },
        "tracking": {
            "detect_every": LIVE_DETECT_EVERY,
            "min_landmark_score": DEFAULT_MIN_LANDMARK_SCORE,
            "to_cuhk5": [list(r) for r in get_scheme("ibug68").projections["cuhk5"]],
            "box": {
                "mouth": list(boxes.MOUTH),
                "center": list(boxes.CENTER),
                "size": list(boxes.SIZE),
            },
        },
        "fade": list(UNSURE_FADE),
        "lit_face": _LIT_FACE,
        "faded_opacity": FADED_OPACITY,
        "face_score": {"weights": list(weights), "threshold": threshold},
        "filters": filters,
    }
    atomic_write_bytes(root / "manifest.json", json.dumps(manifest).encode())


def _png(rgba: np.ndarray) -> bytes:
    import cv2

    bgra = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("could not encode the artwork")
    return buf.tobytes()


def _key(model: str) -> str:
    """A folder name that changes with the model file, the filters' code and this version."""
    from ..models.pretrained import WEIGHTS_DIR

    h = hashlib.sha1(f"{_VERSION} {model}".encode())
    weights = WEIGHTS_DIR / f"{model}.safetensors"
    if weights.is_file():
        h.update(weights.read_bytes())
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
