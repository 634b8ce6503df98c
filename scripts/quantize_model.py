"""Write the int8 ONNX file of a shipped model: its ONNX export, quantized statically (weights
int8 per output channel, activations uint8, QDQ) with activation ranges measured on training
crops cut as `FaceLandmarker` cuts them, each with its mirror image.

    python scripts/quantize_model.py dense98 --dataset 300w --data-root ../shared/data/300w
    python scripts/quantize_model.py cuhk5-fast --dataset cuhk5 --data-root ../shared/data/cuhk5

writes facepoints/weights/NAME.int8.onnx, which `FaceLandmarker(NAME, precision="int8")` runs.
The file records the SHA-1 of the weights it was made from: after the model is shipped again it
is refused (ConfigError) until this command is rerun. The calibration faces are a
seeded sample of the training split's faces (never validation or test faces).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def calibration_crops(lm, dataset: str, data_root: str, faces: int, seed: int) -> list:
    """`faces` training crops as the landmarker's model input (1, C, S, S), each stacked with its
    mirror image: (2, C, S, S) arrays."""
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    recs, _ = read_dataset(dataset, "train", data_root).split(0.1, 0)  # training's own split
    pick = np.random.default_rng(seed).permutation(len(recs))[:faces]
    out = []
    for i in pick:
        x = lm.model_input(load_image(recs.images[i]), recs.boxes[i])
        out.append(np.concatenate([x, x[..., ::-1]]))
    return out


def float_nodes(model, keep: str) -> list[str]:
    """The names of the graph's nodes to leave in float, by the parts named in `keep`."""
    parts = {k.strip() for k in keep.split(",") if k.strip() and k.strip() != "none"}
    unknown = parts - {"first", "head", "confidence"}
    if unknown:
        raise SystemExit(f"--keep-float: unknown part(s) {', '.join(sorted(unknown))}")
    nodes = list(model.graph.node)
    out = []
    if "first" in parts:
        out += [next(n.name for n in nodes if n.op_type == "Conv")]
    if "head" in parts:
        out += [n.name for n in nodes if n.name.startswith("/head/")]
    if "confidence" in parts:
        out += [n.name for n in nodes if n.name.startswith("/confidence/")]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", help="a shipped model's name")
    p.add_argument("--dataset", required=True, help="its training set's dataset name")
    p.add_argument("--data-root", required=True)
    p.add_argument("--faces", type=int, default=256, help="calibration faces (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="default: facepoints/weights/MODEL.int8.onnx")
    p.add_argument(
        "--keep-float",
        default="first,head,confidence",
        help="layers left in float: any of first (the first convolution), head (the points' "
        "head), confidence (the confidence head), comma-separated, or none (default %(default)s)",
    )
    p.add_argument(
        "--calibrate",
        default="minmax",
        choices=("minmax", "percentile", "entropy"),
        help="how activation ranges are set from the calibration crops",
    )
    a = p.parse_args(argv)

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from facepoints.inference.landmarker import FaceLandmarker
    from facepoints.inference.quantized import SOURCE_KEY, weights_sha1

    lm = FaceLandmarker(a.model, backend="onnx", precision="float32", threads=1)
    src = Path(lm.runner.path)
    crops = calibration_crops(lm, a.dataset, a.data_root, a.faces, a.seed)
    name = lm.runner.session.get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter({name: x} for x in crops)

        def get_next(self):
            return next(self._it, None)

    out = Path(a.out) if a.out else ROOT / "facepoints" / "weights" / f"{a.model}.int8.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre))
        q = Path(tmp) / "q.onnx"
        quantize_static(
            str(pre),
            str(q),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=float_nodes(onnx.load(str(pre)), a.keep_float),
            calibrate_method={
                "minmax": CalibrationMethod.MinMax,
                "percentile": CalibrationMethod.Percentile,
                "entropy": CalibrationMethod.Entropy,
            }[a.calibrate],
        )
        model = onnx.load(str(q))
        keep = {
            k.key: k.value for k in onnx.load(str(src), load_external_data=False).metadata_props
        }
        keep["precision"] = "int8"
        keep[SOURCE_KEY] = weights_sha1(a.model)
        keep["calibration"] = (
            f"{len(crops)} {a.dataset} training faces and their mirrors, seed {a.seed}, "
            f"{a.calibrate}; left in float: {a.keep_float}"
        )
        del model.metadata_props[:]
        for k, v in keep.items():
            model.metadata_props.add(key=k, value=v)
        tmp_out = out.with_suffix(".tmp")
        onnx.save(model, str(tmp_out))
        os.replace(tmp_out, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) from {src.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
