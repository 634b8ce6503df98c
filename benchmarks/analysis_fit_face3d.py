"""Fit the mean 3D face that head pose is solved against (facepoints/analysis/face3d.json).

MediaPipe Face Mesh (mediapipe 0.10.14, the `peers` extra) gives each face's 478 vertices in 3D
(x, y in the crop's pixels, z a depth on the same scale). On the 300-W *training* faces (never the
test faces), the vertex that stands for each iBUG-68 point (`mesh_map` in
facepoints/peers/teachers.json) is taken, the faces are brought together by generalised Procrustes
(rotation, scale, translation in 3D), and their mean, made symmetric (averaged with its
mirror image), is written in millimetres, in the camera's
axes of a frontal face (x to the image's right, y down, z away from the camera), with the eye
centres 63 mm apart and their midpoint at the origin.

    python benchmarks/analysis_fit_face3d.py [--limit N]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_common import ROOT, read_set  # noqa: E402

OUT = ROOT / "facepoints" / "analysis" / "face3d.json"
EYE_DISTANCE_MM = 63.0  # a typical adult's distance between the pupils


def mesh_3d(image: np.ndarray, box: np.ndarray, mesh, size: int = 256) -> np.ndarray | None:
    """(478, 3) vertices of the face in `box` (crop pixels; z on x's scale), or None."""
    x1, y1, x2, y2 = box.astype(np.float64)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    scale = size / (max(x2 - x1, y2 - y1, 1.0) * 2.0)
    m = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA)
    res = mesh.process(crop)
    if not res.multi_face_landmarks:
        return None
    lm = res.multi_face_landmarks[0].landmark
    return np.array([(p.x * size, p.y * size, p.z * size) for p in lm], dtype=np.float64)


def procrustes_3d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """src (K, 3) moved by the similarity that best sends it onto dst (Umeyama)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, d, vt = np.linalg.svd(b.T @ a)
    s = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s[2, 2] = -1
    r = u @ s @ vt
    scale = (d * np.diag(s)).sum() / (a**2).sum()
    return scale * a @ r.T + md


def frontal_frame(shape: np.ndarray) -> np.ndarray:
    """The shape (68, 3) in the frontal camera frame, in mm (see the module's docstring)."""
    from facepoints.schemes import IBUG68, projection_matrix

    p5 = projection_matrix(IBUG68, "cuhk5") @ shape
    eye_l, eye_r, mouth = p5[0], p5[1], (p5[3] + p5[4]) / 2
    x = eye_r - eye_l
    x /= np.linalg.norm(x)
    y = mouth - (eye_l + eye_r) / 2
    y -= x * (y @ x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)  # right-handed: x right, y down, z away from the camera
    r = np.stack([x, y, z])
    out = (shape - (eye_l + eye_r) / 2) @ r.T
    return out * EYE_DISTANCE_MM / np.linalg.norm(eye_r - eye_l)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--limit", type=int, default=600, help="training faces used (default 600)")
    a = p.parse_args(argv)
    from facepoints.io import load_image
    from facepoints.peers.mediapipe_mesh import _import_mediapipe
    from facepoints.peers.teachers import load_teacher_config

    vmap = np.asarray(load_teacher_config()["mesh_map"])
    recs = read_set("300w_train")
    order = np.random.default_rng(0).permutation(len(recs))[: a.limit]
    mp = _import_mediapipe()
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)
    shapes = []
    for i in order:
        v = mesh_3d(load_image(recs.images[i]), recs.boxes[i], mesh)
        if v is not None:
            shapes.append(v[vmap])
    mesh.close()
    shapes = np.stack(shapes)
    mean = shapes[0]
    for _ in range(5):  # generalised Procrustes: align all to the mean, average, repeat
        aligned = np.stack([procrustes_3d(s, mean) for s in shapes])
        mean = aligned.mean(0)
    face = frontal_frame(mean)
    # a mean face is left-right symmetric: average it with its mirror image
    from facepoints.schemes import IBUG68

    mirror = face[list(IBUG68.flip)] * [-1.0, 1.0, 1.0]
    face = (face + mirror) / 2
    spread = np.linalg.norm(aligned - mean, axis=-1).mean() / np.linalg.norm(face[36] - face[45])
    doc = {
        "about": "mean 3D face of the 68 iBUG points, mm, x right, y down, z away from the camera; "
        "fitted by benchmarks/analysis_fit_face3d.py from MediaPipe Face Mesh's 3D vertices on "
        "300-W training faces (generalised Procrustes)",
        "faces": len(shapes),
        "mean_spread": round(float(spread), 4),
        "points": [[round(float(c), 2) for c in row] for row in face],
    }
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(OUT)
    print(f"{len(shapes)} faces of {len(order)}; spread {spread:.3f} of the eye-corner distance")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
