"""MTCNN's output network (ONet; Zhang et al. 2016) as a peer: 5 points from a 48x48 crop.

The network is written here from its architecture; its weights are read from the `onet.pt` that
ships inside the `facenet-pytorch` wheel, which installs without its dependencies:
`pip install --no-deps facenet-pytorch==2.6.0`. facenet_pytorch itself is never imported (it
needs torchvision)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from ..schemes import CUHK5
from .base import PEERS, LandmarkSource, _as_boxes, _check_faces

__all__ = ["MtcnnONet", "ONet", "default_weights_path"]

INPUT_SIZE = 48


class ONet(nn.Module):
    """ONet: four convolutions with PReLU and max-pooling, a 256-wide dense layer, three heads.

    forward: (B, 3, 48, 48) crops, (x - 127.5) / 128 -> (face probability (B, 2),
    box regression (B, 4), landmarks (B, 10): five x, then five y, as fractions of the crop)."""

    def __init__(self) -> None:
        super().__init__()
        # attribute names are the keys of facenet-pytorch's onet.pt
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(128 * 3 * 3, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))  # 46 -> 23
        x = self.pool2(self.prelu2(self.conv2(x)))  # 21 -> 10
        x = self.pool3(self.prelu3(self.conv3(x)))  # 8 -> 4
        x = self.prelu4(self.conv4(x))  # 3
        # the converted weights come from a network that ran on transposed images (MATLAB's
        # column-major order): its dense layer reads the map as (W, H, C), not (C, H, W)
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_1(x).softmax(dim=1), self.dense6_2(x), self.dense6_3(x)


@PEERS.register("mtcnn-onet")
class MtcnnONet(LandmarkSource):
    """ONet on each box made square (as MTCNN does before its last stage): crop the pixels, area
    resize to 48x48, normalise, and read the five points (image-left eye first, as CUHK)."""

    name = "mtcnn-onet"
    scheme = CUHK5
    install_hint = "pip install --no-deps facenet-pytorch==2.6.0"

    def __init__(self, weights: str | os.PathLike | None = None):
        path = Path(weights) if weights is not None else default_weights_path()
        if path is None or not path.is_file():
            raise ConfigError(
                f"MTCNN ONet weights not found ({path or 'facenet_pytorch/data/onet.pt'}); "
                f"install them with `{self.install_hint}`"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for bad or unsafe files
            raise CheckpointError(f"{path}: cannot read ONet weights ({e})") from None
        self.net = ONet()
        try:
            self.net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"{path}: weights do not fit ONet ({e})") from None
        # channels-last: PyTorch's CPU max-pooling is several times faster on it than on NCHW
        self.net.eval().to(memory_format=torch.channels_last)
        self.path = path

    @classmethod
    def available(cls) -> bool:
        p = default_weights_path()
        return p is not None and p.is_file()

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        boxes = _as_boxes(boxes)
        return self.predict_faces([image] * len(boxes), boxes)

    def predict_faces(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        boxes = _check_faces(images, boxes)
        if len(boxes) == 0:
            return np.zeros((0, 5, 2), np.float32)
        crops, origins, sides = zip(
            *(_square_crop(im, b) for im, b in zip(images, boxes, strict=True)), strict=True
        )
        x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()  # channels-last
        x = (x - 127.5) * 0.0078125
        with torch.inference_mode():
            _, _, marks = self.net(x)
        m = marks.numpy().astype(np.float64)
        rel = np.stack([m[:, :5], m[:, 5:]], axis=-1)  # (N, 5, 2) fractions of the square
        side = np.asarray(sides, dtype=np.float64)[:, None, None]
        return (np.asarray(origins)[:, None, :] + rel * side).astype(np.float32)

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6


def default_weights_path() -> Path | None:
    """facenet-pytorch's onet.pt, found without importing facenet_pytorch."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        p = Path(folder) / "data" / "onet.pt"
        if p.is_file():
            return p
    return None


def _square_crop(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The square of whole pixels around `box` (side = its larger side), zero outside the image,
    area-resized to 48x48; with its top-left pixel and side in image pixels."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(int(round(max(x2 - x1, y2 - y1))), 1)
    left = int(round((x1 + x2) / 2 - side / 2))
    top = int(round((y1 + y2) / 2 - side / 2))
    h, w = image.shape[:2]
    patch = np.zeros((side, side, 3), np.uint8)
    sx0, sy0 = max(left, 0), max(top, 0)
    sx1, sy1 = min(left + side, w), min(top + side, h)
    if sx1 > sx0 and sy1 > sy0:
        patch[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = image[sy0:sy1, sx0:sx1]
    crop = cv2.resize(patch, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    return crop, np.array([left, top], dtype=np.float64), side
