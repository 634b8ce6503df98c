"""Training: one config dataclass, point losses by name, the loop, and resumable checkpoints."""

from .config import TrainConfig, apply_overrides
from .loop import train
from .losses import LOSSES, get_loss

__all__ = ["TrainConfig", "apply_overrides", "train", "LOSSES", "get_loss"]
