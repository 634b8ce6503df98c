"""Head pose from landmarks: yaw, pitch and roll in degrees, by a perspective-n-point fit
(`cv2.solvePnP`) of the face's points to a mean 3D face, with the fit's uncertainty.

The mean 3D face (`face3d.json`, 68 iBUG points in mm) was fitted by
benchmarks/analysis_fit_face3d.py from MediaPipe Face Mesh's 3D vertices on 300-W training faces.
98-point faces are projected to 68 points first; 5-point faces are fitted to the 5 points the
3D face projects to (a coarse pose).

Angles, in the camera's frame (x to the image's right, y down, z away from the camera), are 0 for
a face looking straight at the camera; `yaw` > 0: the nose points to the image's left (the
person's right); `pitch` > 0: the face looks up; `roll` > 0: the head leans clockwise on the
screen (the eye line falls to the image's right). Without the image's size, the camera looks
straight at the face from about 60 cm (a webcam's distance). The angles are measured from the
line of sight to the face (through the midpoint of its eyes), so a face that looks at the camera
has yaw and pitch 0 wherever it is in the picture."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..schemes import IBUG68, Scheme, get_scheme, project, projection_matrix

__all__ = ["HeadPose", "head_pose", "head_poses", "face3d", "euler_angles"]

_FACE3D = Path(__file__).with_name("face3d.json")
_VIEW_MM = 600.0  # camera distance assumed when the image's size is not known
_EYES_MM = 63.0  # the 3D face's eye-centre distance (face3d.json)


@dataclass(frozen=True)
class HeadPose:
    """Yaw, pitch, roll in degrees and each one's standard deviation (`std`, degrees) from the
    fit's residuals; `error`: the root-mean-square reprojection error over the eye-centre
    distance (a large error: the points do not look like a face); `rotation` (3, 3) model ->
    camera and `translation` (3,) mm."""

    yaw: float
    pitch: float
    roll: float
    std: tuple[float, float, float]
    error: float
    rotation: np.ndarray
    translation: np.ndarray

    def to_dict(self, decimals: int = 1) -> dict:
        """JSON-ready {"yaw", "pitch", "roll", "std": [yaw, pitch, roll], "error"}."""
        r = functools.partial(_round, decimals=decimals)
        return {
            "yaw": r(self.yaw),
            "pitch": r(self.pitch),
            "roll": r(self.roll),
            "std": [r(s) for s in self.std],
            "error": _round(self.error, 3),
        }


def face3d(scheme: str | int | Scheme = IBUG68) -> np.ndarray:
    """The mean 3D face as (K, 3) float64 mm for a scheme the pose is fitted in: ibug68, or
    cuhk5 (the 68 points' projection)."""
    s = get_scheme(scheme)
    pts = _face3d68()
    if s.name == IBUG68.name:
        return pts.copy()
    if s.name in IBUG68.projections:
        return projection_matrix(IBUG68, s) @ pts
    raise ConfigError(f"no 3D face for scheme {s.name}")


def head_pose(
    points: np.ndarray,
    scheme: str | int | Scheme | None = None,
    image_size: tuple[int, int] | None = None,
) -> HeadPose:
    """The head pose of one face from its landmarks (K, 2) image pixels. `image_size` (width,
    height) puts the camera's centre at the image's centre with a focal length of its larger
    side (about 53 degrees across); None: a camera looking straight at the face. ConfigError
    for points that are not finite."""
    pts = np.asarray(points, np.float64)
    s = get_scheme(len(pts) if scheme is None else scheme)
    if s.name != IBUG68.name and IBUG68.name in s.projections:
        pts, s = project(pts, s, IBUG68).astype(np.float64), IBUG68
    model = face3d(s)
    if not np.isfinite(pts).all():
        raise ConfigError("head pose needs finite points")
    camera = _camera(pts, s, image_size)
    return _solve(model, pts, camera, s)


def head_poses(
    points: np.ndarray,
    scheme: str | int | Scheme | None = None,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees for points (N, K, 2); NaN rows for faces whose points
    are not finite."""
    out = np.full((len(points), 3), np.nan)
    for i, p in enumerate(np.asarray(points)):
        if np.isfinite(p).all():
            hp = head_pose(p, scheme, image_size)
            out[i] = hp.yaw, hp.pitch, hp.roll
    return out


def euler_angles(rotation: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) degrees of a rotation model -> camera, R = Rz(roll) Ry(yaw) Rx(pitch),
    signs as the module describes."""
    r = np.asarray(rotation, np.float64)
    yaw = math.asin(float(np.clip(-r[2, 0], -1.0, 1.0)))
    pitch = math.atan2(r[2, 1], r[2, 2])
    roll = math.atan2(r[1, 0], r[0, 0])
    # pitch from atan2(R21, R22) is > 0 when the chin moves away (the face looks up)
    return np.degrees([yaw, pitch, roll])


# --- helpers -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _face3d68() -> np.ndarray:
    doc = json.loads(_FACE3D.read_text())
    pts = np.asarray(doc["points"], np.float64)
    if pts.shape != (68, 3):
        raise ConfigError(f"{_FACE3D}: expected 68 3D points, got shape {pts.shape}")
    return pts


def _camera(pts: np.ndarray, s: Scheme, image_size: tuple[int, int] | None) -> np.ndarray:
    if image_size is not None:
        w, h = (float(v) for v in image_size)
        f, cx, cy = max(w, h), (w - 1) / 2, (h - 1) / 2
    else:
        p5 = project(pts, s, "cuhk5") if s.name != "cuhk5" else pts
        eyes = float(np.linalg.norm(p5[1] - p5[0]))
        f = max(eyes, 1.0) * _VIEW_MM / _EYES_MM
        cx, cy = pts.mean(axis=0)
    return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]], np.float64)


def _solve(model: np.ndarray, pts: np.ndarray, camera: np.ndarray, s: Scheme) -> HeadPose:
    import cv2

    obj = np.ascontiguousarray(model, np.float64)
    img = np.ascontiguousarray(pts, np.float64)
    # start from a frontal face in front of the camera at the distance its size says, so the
    # iterative fit never flips behind the camera
    p5 = project(pts, s, "cuhk5") if s.name != "cuhk5" else pts
    eyes = max(float(np.linalg.norm(p5[1] - p5[0])), 1.0)
    z = camera[0, 0] * _EYES_MM / eyes
    centre = (p5[0] + p5[1]) / 2
    t0 = np.array(
        [
            (centre[0] - camera[0, 2]) * z / camera[0, 0],
            (centre[1] - camera[1, 2]) * z / camera[1, 1],
            z,
        ]
    )
    r0 = np.zeros(3)
    ok, rvec, tvec = cv2.solvePnP(
        obj, img, camera, None, r0.copy(), t0.copy(), True, cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        raise ConfigError("the head pose fit did not converge")
    proj, jac = cv2.projectPoints(obj, rvec, tvec, camera, None)
    resid = (proj.reshape(-1, 2) - img).ravel()
    dof = max(resid.size - 6, 1)
    sigma2 = float(resid @ resid) / dof
    j = jac[:, :6]
    cov = sigma2 * np.linalg.pinv(j.T @ j)
    # angles relative to the line of sight to the face (between the eyes), not to the camera's
    # axis, so a face keeps its pose wherever it is in the picture
    sight = _sight_rotation(tvec.ravel())
    rot = sight @ cv2.Rodrigues(rvec)[0]
    angles = euler_angles(rot)
    std = _angle_std(rvec.ravel(), cov[:3, :3], angles, sight)
    return HeadPose(
        yaw=float(angles[0]),
        pitch=float(angles[1]),
        roll=float(angles[2]),
        std=tuple(float(v) for v in std),
        error=float(math.sqrt(sigma2 * dof / resid.size * 2) / eyes),
        rotation=rot,
        translation=tvec.ravel().copy(),
    )


def _sight_rotation(t: np.ndarray) -> np.ndarray:
    """The smallest rotation that turns the direction to `t` onto the camera's axis (0, 0, 1)."""
    import cv2

    v = t / max(float(np.linalg.norm(t)), 1e-9)
    axis = np.cross(v, [0.0, 0.0, 1.0])
    sin = float(np.linalg.norm(axis))
    if sin < 1e-12:
        return np.eye(3)
    angle = math.atan2(sin, float(v[2]))
    return cv2.Rodrigues(axis / sin * angle)[0]


def _angle_std(
    rvec: np.ndarray, cov: np.ndarray, angles: np.ndarray, sight: np.ndarray
) -> np.ndarray:
    """Standard deviations of the Euler angles from the rotation vector's covariance, by a
    numerical Jacobian."""
    import cv2

    g = np.zeros((3, 3))
    eps = 1e-4
    for k in range(3):
        d = np.zeros(3)
        d[k] = eps
        a = euler_angles(sight @ cv2.Rodrigues(rvec + d)[0])
        g[:, k] = (_wrap(a - angles)) / eps
    var = np.einsum("ik,kl,il->i", g, cov, g)
    return np.sqrt(np.maximum(var, 0.0))


def _wrap(deg: np.ndarray) -> np.ndarray:
    return (np.asarray(deg) + 180.0) % 360.0 - 180.0


def _round(v: float, decimals: int) -> float | None:
    v = float(v)
    return round(v, decimals) if math.isfinite(v) else None
