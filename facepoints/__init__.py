"""facepoints: facial landmark detection — data, models, training, evaluation and inference.

Importing this package is cheap: nothing heavy (torch, a model) loads until it is used.
"""

from .errors import FacepointsError
from .schemes import SCHEMES, Scheme, get_scheme, project

__version__ = "0.1.0"
__all__ = [
    "FacepointsError",
    "SCHEMES",
    "Scheme",
    "get_scheme",
    "project",
    "__version__",
    "FaceLandmarker",
    "Face",
]

# public names whose modules load on first use, keeping `import facepoints` fast
_LAZY = {
    "FaceLandmarker": "facepoints.inference.landmarker",
    "Face": "facepoints.inference.landmarker",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'facepoints' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
