"""facepoints: facial landmark detection — data, models, training, evaluation and inference.

Importing this package is cheap: nothing heavy (torch, a model) loads until it is used.
"""

from .errors import FacepointsError
from .schemes import SCHEMES, Scheme, get_scheme, project

__version__ = "0.1.0"
__all__ = ["FacepointsError", "SCHEMES", "Scheme", "get_scheme", "project", "__version__"]
