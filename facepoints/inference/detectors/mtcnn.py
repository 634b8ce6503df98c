"""MTCNN (Zhang et al. 2016): a 12x12 proposal network over an image pyramid, then a 24x24 and a
48x48 network that reject and refine. Written here in torch from the architecture; the weights
are those of the `facenet-pytorch` wheel (MIT licence), shipped converted to safetensors in
facepoints/weights/mtcnn.safetensors so detection works with no extra package; without that file
they are read from an installed `pip install --no-deps facenet-pytorch==2.6.0` (facenet_pytorch
itself is never imported: it needs torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import CheckpointError, ConfigError
from . import DETECTORS
from .base import MAX_WORK_SIDE, FaceDetector
from .base import torch_threads as _torch_threads

__all__ = ["MTCNNDetector"]

INSTALL_HINT = "pip install --no-deps facenet-pytorch==2.6.0"
PYRAMID_FACTOR = 0.709
STAGE_THRESHOLDS = (0.6, 0.7)  # P-net, R-net; O-net's is the detector's `threshold`


@DETECTORS.register("mtcnn")
class MTCNNDetector(FaceDetector):
    """MTCNN with facenet-pytorch's weights. `threshold` is the last stage's face probability
    (0.7 by default, as facenet-pytorch); the score is that probability. The pyramid starts at
    the scale where a face of `min_size` pixels fills the 12-pixel proposal window, and the
    refining networks read their crops from the full-resolution image.

    threads: torch threads while detecting (restored after). One by default: the networks run
    many tiny operations, which several threads slow down, badly so on a busy CPU (on a shared
    2-core machine, 2 threads took 1 s per photo where 1 thread took 50 ms)."""

    name = "mtcnn"
    window = 12
    default_threshold = 0.7

    def __init__(
        self,
        min_size: float = 40,
        threshold: float | None = None,
        box_map=None,
        threads: int = 1,
    ):
        super().__init__(min_size=min_size, threshold=threshold, box_map=box_map)
        self.threads = int(threads)
        self._pnet, self._rnet, self._onet = _load_nets()

    def _work_scale(self, hw: tuple[int, int]) -> float:
        # the pyramid does the scaling; only images larger than MAX_WORK_SIDE are reduced
        return min(1.0, MAX_WORK_SIDE / max(hw))

    def _detect_raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        min_face = self.min_size / min(self.box_map.sx, self.box_map.sy)
        with torch.inference_mode(), _torch_threads(self.threads):
            boxes = self._propose(rgb, min_face)
            if len(boxes):
                boxes = self._refine(rgb, boxes)
            if len(boxes):
                boxes = self._output(rgb, boxes)
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0)
        return boxes[:, :4], boxes[:, 4]

    def _propose(self, rgb: np.ndarray, min_face: float) -> np.ndarray:
        """P-net over the pyramid: candidate boxes (N, 5 + 4) x1 y1 x2 y2 score, regression."""
        import cv2
        import torch

        h, w = rgb.shape[:2]
        scale = self.window / max(min_face, 1.0)
        found = []
        while min(h, w) * scale >= self.window:
            size = (int(w * scale + 1), int(h * scale + 1))
            im = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            x = _normalise(torch.from_numpy(im).permute(2, 0, 1)[None].float())
            reg, prob = self._pnet(x)
            cand = _pnet_boxes(reg[0].numpy(), prob[0, 1].numpy(), scale, STAGE_THRESHOLDS[0])
            if len(cand):
                found.append(cand[_nms(cand, 0.5)])
            scale *= PYRAMID_FACTOR
        if not found:
            return np.zeros((0, 9))
        boxes = np.concatenate(found)
        boxes = boxes[_nms(boxes, 0.7)]
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes[:, :4] += boxes[:, 5:9] * np.stack([bw, bh, bw, bh], axis=1)
        return _square(boxes)

    def _refine(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-net: keep probable faces, regress, square."""
        reg, prob = self._rnet(_crops(rgb, boxes, 24))
        keep = prob[:, 1].numpy() > STAGE_THRESHOLDS[1]
        boxes = boxes[keep].copy()
        boxes[:, 4] = prob[keep, 1].numpy()
        reg_k = reg[keep].numpy()
        order = _nms(boxes, 0.7)
        boxes = _regress(boxes[order], reg_k[order])
        return _square(boxes)

    def _output(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """O-net: final probability and box; overlapping boxes merged by their smaller area."""
        prob, reg, _ = self._onet(_crops(rgb, boxes, 48))
        keep = prob[:, 1].numpy() > self.threshold
        boxes = boxes[keep].copy()
        boxes[:, 4] = prob[keep, 1].numpy()
        boxes = _regress(boxes, reg[keep].numpy())
        return boxes[_nms(boxes, 0.7, mode="min")]


SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "mtcnn.safetensors"


def _load_nets():
    import torch

    from ...peers.mtcnn_onet import ONet, default_weights_path

    if SHIPPED_WEIGHTS.is_file():
        return _load_shipped(ONet)
    onet_path = default_weights_path()
    if onet_path is None:
        raise ConfigError(f"the mtcnn detector needs facenet-pytorch's weights: `{INSTALL_HINT}`")
    nets = []
    for cls, file in ((_pnet_class(), "pnet.pt"), (_rnet_class(), "rnet.pt"), (ONet, "onet.pt")):
        path = onet_path.with_name(file)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net = cls()
            net.load_state_dict(state, strict=True)
        except FileNotFoundError:
            raise ConfigError(f"{path} not found; reinstall: `{INSTALL_HINT}`") from None
        except Exception as e:  # torch raises several types for bad or unsafe files
            raise CheckpointError(f"{path}: cannot load MTCNN weights ({e})") from None
        nets.append(net.eval())
    return tuple(nets)


def _load_shipped(onet_cls):
    """The three networks from facepoints' own copy of the weights (safetensors: no code runs)."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(SHIPPED_WEIGHTS))
    except Exception as e:  # safetensors raises several types for damaged files
        raise CheckpointError(f"{SHIPPED_WEIGHTS}: cannot load MTCNN weights ({e})") from None
    nets = []
    for cls, prefix in ((_pnet_class(), "pnet."), (_rnet_class(), "rnet."), (onet_cls, "onet.")):
        net = cls()
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        net.load_state_dict(sub, strict=True)
        nets.append(net.eval())
    return tuple(nets)


def _pnet_class():
    # built on first use, so that importing the detectors does not import torch
    from torch import nn

    class PNet(nn.Module):
        """Proposal net, fully convolutional: (B, 3, H, W) -> regression (B, 4, h, w), face
        probability (B, 2, h, w); one output per 12x12 window, stride 2."""

        def __init__(self) -> None:
            super().__init__()
            # attribute names are the keys of facenet-pytorch's pnet.pt
            self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
            self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
            self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
            self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
            self.conv4_1 = nn.Conv2d(32, 2, 1)
            self.conv4_2 = nn.Conv2d(32, 4, 1)

        def forward(self, x):
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
            return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)

    return PNet


def _rnet_class():
    from torch import nn

    class RNet(nn.Module):
        """Refinement net: (B, 3, 24, 24) -> regression (B, 4), face probability (B, 2)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
            self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
            self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
            self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
            self.dense5_1 = nn.Linear(128, 2)
            self.dense5_2 = nn.Linear(128, 4)

        def forward(self, x):
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.pool2(self.prelu2(self.conv2(x)))
            x = self.prelu3(self.conv3(x))
            # the weights come from a network that ran on transposed (column-major) images
            x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
            return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)

    return RNet


def _normalise(x):
    return (x - 127.5) * 0.0078125


def _pnet_boxes(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """P-net's map -> boxes (N, 9) in image pixels: x1 y1 x2 y2 score dx1 dy1 dx2 dy2."""
    ys, xs = np.nonzero(prob >= threshold)
    if not len(ys):
        return np.zeros((0, 9))
    xy = np.stack([xs, ys], axis=1).astype(np.float64)
    q1 = np.floor((2 * xy + 1) / scale)
    q2 = np.floor((2 * xy + 12) / scale)
    return np.concatenate([q1, q2, prob[ys, xs][:, None], reg[:, ys, xs].T], axis=1)


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, :4] = boxes[:, :4] + reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return out


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w / 2 - side / 2
    out[:, 1] = boxes[:, 1] + h / 2 - side / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _crops(rgb: np.ndarray, boxes: np.ndarray, size: int):
    """Each box's pixels (zero outside the image), area-resized to size x size, normalised:
    (N, 3, size, size) float tensor. Box coordinates count pixels from 1, as MTCNN's do."""
    import cv2
    import torch

    h, w = rgb.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for i, b in enumerate(boxes):
        x1, y1 = int(np.trunc(b[0])) - 1, int(np.trunc(b[1])) - 1
        x2, y2 = int(np.trunc(b[2])), int(np.trunc(b[3]))
        if x2 <= x1 or y2 <= y1:
            continue
        patch = np.zeros((y2 - y1, x2 - x1, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y1 : sy1 - y1, sx0 - x1 : sx1 - x1] = rgb[sy0:sy1, sx0:sx1]
        out[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return _normalise(torch.from_numpy(out).permute(0, 3, 1, 2).float())


def _nms(boxes: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression on score (column 4)."""
    x1, y1, x2, y2, s = (boxes[:, i] for i in range(5))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-s, kind="stable")
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1, 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1, 0, None)
        inter = iw * ih
        if mode == "min":
            ov = inter / np.minimum(area[i], area[rest])
        else:
            ov = inter / (area[i] + area[rest] - inter)
        order = rest[ov <= threshold]
    return np.array(keep, dtype=np.int64)
