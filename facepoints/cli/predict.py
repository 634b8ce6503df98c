"""`facepoints predict SOURCE...`: landmarks on image files, folders, videos or a camera, written as
annotated images and one JSON (one image) or JSONL (several) file.

Output record, one per image (facepoints/inference/schema.md has the full description):

    {"file": "photos/a.jpg",              # the input path as given or found in a folder
     "width": 640, "height": 480,         # null when the image could not be read
     "faces": [{"box": [x1, y1, x2, y2],  # image pixels, the training (CUHK) box convention
                "score": 0.98,            # detector confidence; null for boxes from --boxes-from
                "landmarks": [[x, y], ...],          # (K, 2) image pixels, scheme order
                "points": {"left_eye": [x, y], ...}, # the same points by name
                "confidence": [0.98, ...],           # (K,) per point, in [0, 1]
                "landmark_score": 0.97,              # the face's: mean point confidence
                "scheme": "cuhk5"}],                 # best face first
     "annotated": "runs/predict/a.jpg",   # the drawn image, null with --no-save or an error
     "error": null}                       # or one line saying why this input failed

Exit codes: 0 every input processed (an image without faces is a result, not an error); 1 some
inputs failed (each listed on stderr, one line each; the others are still processed and written);
2 a usage error (bad option, nothing to do); others as `facepoints` documents for its own errors
(e.g. 6: the model cannot be loaded)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..inference.sources import collect_inputs as _collect
from ..inference.sources import load_input as _load
from ..inference.sources import one_line
from .common import add_landmarker_options


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="landmarks on images, folders, videos or a camera",
        description="Find faces and their landmarks; write annotated images and JSON/JSONL "
        "(schema: facepoints/inference/schema.md). Exit 0: all inputs processed; 1: some "
        "failed (listed on stderr); 2: usage error.",
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="image files, folders, videos")
    add_landmarker_options(p)
    p.add_argument("--out", default="runs/predict", help="output folder (default runs/predict)")
    p.add_argument(
        "--save",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write annotated images (default: yes)",
    )
    p.add_argument(
        "--json",
        dest="json_path",
        help="results file (default OUT/predictions.json for one image, else "
        "OUT/predictions.jsonl); a .jsonl path gets one record per line",
    )
    p.add_argument(
        "--boxes-from",
        help="face boxes to use instead of the detector: a JSON/JSONL written by predict, or "
        "text lines 'image x1 y1 x2 y2' (images not listed are detected)",
    )
    p.add_argument("--recursive", action="store_true", help="look into subfolders of folders")
    p.add_argument("--camera", type=int, metavar="N", help="run on camera N (needs video support)")
    p.add_argument("--demo", action="store_true", help="run on the shipped demo photo")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="processes that decode images and find faces while the model runs on the faces "
        "of several images at once (default 0: all in this process)",
    )
    p.add_argument(
        "--min-face", type=float, default=20, metavar="PX", help="smallest face box side kept (20)"
    )
    p.add_argument("--max-faces", type=int, metavar="N", help="at most N faces per image")
    p.add_argument("--no-refine", action="store_true", help="one pass per face, no refinement")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="C",
        help="draw points whose confidence is below C as hollow rings (default 0.5; 0 draws "
        "every point filled)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_predict)


def _predict(a: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..inference.landmarker import FaceLandmarker

    start = time.perf_counter()
    if not a.sources and not a.demo and a.camera is None:
        raise ConfigError("nothing to do: give images, folders or videos, or --demo or --camera N")
    if a.threads is not None and a.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {a.threads}")
    if a.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {a.workers}")
    out = Path(a.out)
    min_conf = _min_confidence(a.min_confidence)
    inputs = _collect(a.sources, a.recursive, out, a.demo)
    boxes = _read_boxes(Path(a.boxes_from)) if a.boxes_from else None
    has_video = a.camera is not None or any(i.kind == "video" for i in inputs)
    if has_video:
        _video_module(required=a.camera is not None)  # a camera without video support: usage
    lm = FaceLandmarker(
        model=a.model,
        detector=a.detector,
        backend=a.backend,
        device=a.device,
        threads=a.threads,
        refine=not a.no_refine,
        min_face=a.min_face,
        max_faces=a.max_faces,
    )

    images = [i for i in inputs if i.kind != "video"]
    t_images = time.perf_counter()
    records, failures = _run_images(
        lm, images, out, a.save, boxes, a.no_progress, a.workers, min_conf
    )
    t_images = time.perf_counter() - t_images
    videos = 0
    streams = [(i.path, out / i.dest) for i in inputs if i.kind == "video"]
    if a.camera is not None:
        streams.append((a.camera, out / f"camera{a.camera}"))
    for source, dest in streams:
        err = _run_video(lm, source, dest, a.save, a.no_progress, min_conf)
        if err:
            failures.append(err)
        else:
            videos += 1

    json_path = None
    if records:
        single = (
            len(records) == 1 and len(inputs) == 1 and not any(Path(s).is_dir() for s in a.sources)
        )
        default = "predictions.json" if single else "predictions.jsonl"
        json_path = Path(a.json_path) if a.json_path else out / default
        _write_records(json_path, records)

    n_faces = sum(len(r["faces"]) for r in records if not r["error"])
    no_face = sum(1 for r in records if not r["error"] and not r["faces"])
    ok = sum(1 for r in records if not r["error"])
    parts = [_n(ok, "image"), _n(n_faces, "face"), f"{no_face} without faces"]
    if videos:
        parts.append(_n(videos, "video"))
    parts.append(_n(len(failures), "error"))
    if a.workers and n_faces:
        parts.append(f"{n_faces / t_images:.1f} faces/s on images")
    where = f"; results in {json_path}" if json_path else ""
    print(f"{', '.join(parts)} in {time.perf_counter() - start:.1f} s{where}")
    return 1 if failures else 0


# --- inputs --------------------------------------------------------------------------------------


def _read_boxes(path: Path) -> dict[str, list[list[float]]]:
    """image -> boxes from a predict JSON/JSONL or 'image x1 y1 x2 y2' lines. Keys: the path as
    written, its absolute form and its file name (for lookups from another folder)."""
    from ..errors import DataError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(path, f"cannot read boxes file ({e.strerror or e})") from None
    pairs: list[tuple[str, list[float]]] = []
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            docs = json.loads(text)
            docs = docs if isinstance(docs, list) else [docs]
        except ValueError:  # JSONL
            docs = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        docs.append(json.loads(line))
                    except ValueError as e:
                        raise DataError(path, f"not JSON ({e})", line=n) from None
        for d in docs:
            if not isinstance(d, dict) or "file" not in d:
                raise DataError(path, "expected records with 'file' and 'faces'")
            pairs += [(str(d["file"]), list(f["box"])) for f in d.get("faces") or []]
            if not d.get("faces"):
                pairs.append((str(d["file"]), []))
    else:
        for n, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            try:
                if len(fields) != 5:
                    raise ValueError(f"expected 'image x1 y1 x2 y2', got {len(fields)} fields")
                pairs.append((fields[0], [float(v) for v in fields[1:]]))
            except ValueError as e:
                raise DataError(path, str(e), line=n) from None
    table: dict[str, list[list[float]]] = {}
    for name, box in pairs:
        for key in _lookup_keys(Path(name)):
            lst = table.setdefault(key, [])
            if box and box not in lst:
                lst.append(box)
    return table


def _lookup_keys(p: Path) -> list[str]:
    return [str(p), str(p.resolve()), "name:" + p.name]


# --- running -------------------------------------------------------------------------------------


def _run_images(
    lm,
    items,
    out: Path,
    save: bool,
    boxes,
    no_progress: bool,
    workers: int = 0,
    min_confidence: float | None = None,
):
    from tqdm import tqdm

    records, failures = [], []
    bar = tqdm(
        items, desc="predict", unit="img", disable=True if no_progress or len(items) < 2 else None
    )
    faces_of = _faces_of(lm, items, boxes, workers)
    for item in bar:
        rec = {"file": item.label, "width": None, "height": None, "faces": [], "annotated": None}
        try:
            rgb, faces = faces_of(item)
            rec["file"] = item.label  # the demo learns its name when loaded
            rec["height"], rec["width"] = int(rgb.shape[0]), int(rgb.shape[1])
            rec["faces"] = [f.to_dict() for f in faces]
            if save:
                from ..io import save_image

                dest = out / item.dest
                save_image(dest, annotate(rgb, faces, min_confidence))
                rec["annotated"] = str(dest)
            rec["error"] = None
        except Exception as e:  # one bad input never stops the others
            msg = one_line(e, item.label)
            rec["error"] = msg
            failures.append(msg)
            tqdm.write(f"facepoints: error: {item.label}: {msg}", file=sys.stderr)
        records.append(rec)
    return records, failures


def _faces_of(lm, items, boxes, workers: int):
    """item -> (rgb, faces), called once per item, in order: here, or with `workers` by
    inference.batch, whose processes decode and detect ahead while the model batches faces."""
    if not workers:

        def here(item):
            rgb = _load(item)
            return rgb, lm.detect(rgb, boxes=_boxes_for(item, boxes))

        return here
    from ..errors import FacepointsError
    from ..inference.batch import iter_faces

    results = iter_faces(lm, items, [_boxes_for(i, boxes) for i in items], workers=workers)

    def from_workers(item):
        res = next(results)
        item.label = res.label
        if res.error:
            raise FacepointsError(res.error)  # already one line
        return res.image, res.faces

    return from_workers


def _boxes_for(item, table):
    if table is None or item.path is None:
        return None
    for key in _lookup_keys(item.path):
        if key in table:
            return table[key]
    return None


def annotate(rgb, faces, min_confidence: float | None = None):
    """The image with each face's box and landmarks drawn (group colours, scheme lines); points
    whose confidence is below `min_confidence` (None: the default) are hollow rings."""
    from ..draw import DEFAULT_MIN_CONFIDENCE, draw_box, draw_landmarks, group_colors

    if min_confidence is None:
        min_confidence = DEFAULT_MIN_CONFIDENCE
    img = rgb
    for f in faces:
        img = draw_box(img, f.box)
        connect = f.scheme.num_points > 5
        img = draw_landmarks(
            img,
            f.landmarks,
            group_colors(f.scheme),
            scheme=f.scheme,
            connect=connect,
            confidence=getattr(f, "confidence", None),
            min_confidence=min_confidence,
        )
    return img


def _min_confidence(value: float | None) -> float | None:
    import math

    from ..errors import ConfigError

    if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
        raise ConfigError(f"--min-confidence must be in [0, 1], got {value}")
    return value


def _video_module(required: bool):
    import importlib.util

    from ..errors import ConfigError

    if importlib.util.find_spec("facepoints.inference.video") is None:
        if required:
            raise ConfigError("video and camera input need facepoints.inference.video (not here)")
        return None
    from ..inference import video

    return video


def _run_video(
    lm, source, dest: Path, save: bool, no_progress: bool, min_confidence: float | None = None
) -> str | None:
    """Track faces through one video file or camera index, writing OUT/<name>.mp4 (annotated,
    unless --no-save) and OUT/<name>.jsonl (one line per frame); None on success, else the
    one-line error."""
    label = f"camera {source}" if isinstance(source, int) else str(source)
    video = _video_module(required=False)
    if video is None:
        msg = "video input needs facepoints.inference.video, which this install lacks"
        print(f"facepoints: error: {label}: {msg}", file=sys.stderr)
        return msg
    try:
        res = video.process_video(
            lm,
            source,
            dest.with_suffix(".mp4") if save else None,
            jsonl_path=dest.with_suffix(".jsonl"),
            progress=not no_progress,
            min_confidence=min_confidence,
        )
    except Exception as e:  # report, and go on with the other inputs
        msg = one_line(e, label)
        print(f"facepoints: error: {label}: {msg}", file=sys.stderr)
        return msg
    wrote = " and ".join(p for p in (res.get("out_path"), res.get("jsonl_path")) if p)
    print(
        f"{label}: {res.get('frames', 0)} frames, {res.get('faces', 0)} faces, "
        f"{res.get('processing_fps', 0):g} frames/s; wrote {wrote or 'nothing'}"
    )
    return None


def _write_records(path: Path, records: list[dict]) -> None:
    from ..io import atomic_write

    with atomic_write(path, "w") as f:
        if path.suffix.lower() == ".jsonl":
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        else:
            doc = records[0] if len(records) == 1 else records
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
