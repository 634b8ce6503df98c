"""Landmarks on many inputs at once, as `facepoints predict` runs them: image files, folders,
videos and a camera, each written as it is done (annotated image, one flushed JSONL line), so a
failure or a kill keeps every finished result.

    from facepoints.inference.predict import predict_inputs
    summary = predict_inputs(FaceLandmarker(), ["photos/"], out=Path("runs/predict"))

Record, one per image (facepoints/inference/schema.md has the full description):
{"file", "width", "height", "faces": [Face.to_dict()...], "annotated", "error"}."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, FacepointsError
from .sources import Input, check_outputs, collect_inputs, load_input, one_line, printable

__all__ = [
    "PredictSummary",
    "ResultsFile",
    "predict_inputs",
    "plan_inputs",
    "read_boxes",
    "annotate",
]


@dataclass
class PredictSummary:
    """What a predict run did: counts, the files it wrote and the one-line errors."""

    images: int = 0
    faces: int = 0
    without_faces: int = 0
    videos: int = 0
    video_frames: int = 0
    video_faces: int = 0
    annotated: int = 0
    json_path: Path | None = None
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    image_seconds: float = 0.0
    workers: int = 0  # the worker processes the images ran with

    def line(self, out: Path, workers: int | None = None) -> str:
        """The one summary line `facepoints predict` prints: counts, then what was written."""
        parts = [
            _n(self.images, "image"),
            _n(self.faces, "face"),
            f"{self.without_faces} without faces",
        ]
        if self.videos:
            parts.append(
                f"{_n(self.videos, 'video')} ({_n(self.video_frames, 'frame')}, "
                f"{_n(self.video_faces, 'face')})"
            )
        parts.append(_n(len(self.failures), "error"))
        workers = self.workers if workers is None else workers
        if workers and self.faces and self.image_seconds > 0:
            parts.append(f"{self.faces / self.image_seconds:.1f} faces/s on images")
        wrote = []
        if self.annotated:
            wrote.append(f"{_n(self.annotated, 'annotated image')} in {printable(out)}")
        if self.videos:
            wrote.append(f"{_n(self.videos, 'video result')} in {printable(out)}")
        if self.json_path is not None:
            wrote.append(f"results in {printable(self.json_path)}")
        where = f"; wrote {', '.join(wrote)}" if wrote else "; wrote nothing"
        return f"{', '.join(parts)} in {self.seconds:.1f} s{where}"


def plan_inputs(
    sources: list[str],
    out: Path,
    *,
    recursive: bool = False,
    demo: bool = False,
    json_path: Path | None = None,
    camera: int | None = None,
) -> tuple[list[Input], Path]:
    """The inputs in order and the results file, checked before any model loads: the output
    folder must be writable and no output may be an input (ConfigError, a usage error)."""
    inputs = collect_inputs(sources, recursive, out, demo, videos=True)
    images = [i for i in inputs if i.kind != "video"]
    single = (
        len(inputs) == 1 and len(images) == 1 and camera is None
        and not any(Path(s).is_dir() for s in sources)
    )  # fmt: skip
    results = json_path or out / ("predictions.json" if single else "predictions.jsonl")
    check_outputs(inputs, out, [results, ResultsFile.progress_path(results)])
    return inputs, results


def predict_inputs(
    landmarker: Any,
    inputs: list[Input],
    out: Path,
    results: Path,
    *,
    save: bool = True,
    boxes: dict[str, list[list[float]]] | None = None,
    camera: int | None = None,
    workers: int | None = None,
    min_confidence: float | None = None,
    numbers: bool = False,
    progress: bool = True,
) -> PredictSummary:
    """Run `landmarker` on every input, writing each result as soon as it exists: annotated
    images below `out` (with `save`), image records to `results` (JSONL flushed per record; a
    .json target is renamed into place at the end), and per video OUT/<name>.mp4 and .jsonl.
    One bad input never stops the others; its one-line error is in the summary and on stderr."""
    start = time.perf_counter()
    summary = PredictSummary()
    images = [i for i in inputs if i.kind != "video"]
    if workers is None:  # one per core for a folder's worth of images
        from .batch import auto_workers

        workers = auto_workers(len(images))
    summary.workers = workers
    if (images and boxes is None) or camera is not None or len(images) < len(inputs):
        _ = landmarker.detector  # an unavailable detector is one usage error, not one per input
    t0 = time.perf_counter()
    if images:
        with ResultsFile(results, single=results.suffix.lower() != ".jsonl") as sink:
            for rec in _image_records(
                landmarker, images, out, save, boxes, workers, min_confidence, progress, numbers
            ):
                sink.write(rec)
                if rec["error"]:
                    summary.failures.append(rec["error"])
                    continue
                summary.images += 1
                summary.faces += len(rec["faces"])
                summary.without_faces += not rec["faces"]
                summary.annotated += rec["annotated"] is not None
        summary.json_path = results
    summary.image_seconds = time.perf_counter() - t0
    streams: list[tuple[Any, Path]] = [(i.path, out / i.dest) for i in inputs if i.kind == "video"]
    if camera is not None:
        streams.append((camera, out / f"camera{camera}"))
    for source, dest in streams:
        res = _run_video(landmarker, source, dest, save, progress, min_confidence)
        if isinstance(res, str):
            summary.failures.append(res)
        else:
            summary.videos += 1
            summary.video_frames += int(res.get("frames", 0))
            summary.video_faces += int(res.get("faces", 0))
    summary.seconds = time.perf_counter() - start
    return summary


class ResultsFile:
    """Records appended as they are produced. A .jsonl target gets one line per record, flushed
    at once; a .json target collects its lines in `<name>.part` (kept by a failure or a kill)
    and becomes one JSON document (the record, or a list of them) renamed into place at the end."""

    def __init__(self, path: Path, single: bool):
        self.path = Path(path)
        self.single = single
        self._lines = self.progress_path(self.path) if single else self.path
        self._records: list[dict] = []
        self._f = None

    @staticmethod
    def progress_path(path: Path) -> Path:
        """Where a .json target's records go while the run lasts."""
        return path.with_name(path.name + ".part")

    def __enter__(self) -> ResultsFile:
        self._lines.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._f = open(self._lines, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            raise ConfigError(
                f"{printable(self._lines)}: cannot write ({e.strerror or e})"
            ) from None
        return self

    def write(self, record: dict) -> None:
        """Append one record and flush it to the file."""
        self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._f.flush()
        if self.single:
            self._records.append(record)

    def __exit__(self, kind, value, tb) -> None:
        self._f.close()
        if kind is None and self.single:
            from ..io import atomic_write

            doc = self._records[0] if len(self._records) == 1 else self._records
            with atomic_write(self.path, "w") as f:
                f.write(json.dumps(doc, ensure_ascii=False) + "\n")
            self._lines.unlink(missing_ok=True)


def read_boxes(path: Path) -> dict[str, list[list[float]]]:
    """image -> boxes from a predict JSON/JSONL or 'image x1 y1 x2 y2' lines. Keys: the path as
    written, its absolute form and its file name (for lookups from another folder). Raises
    DataError naming the file (and line) for anything else."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise DataError(path, f"cannot read boxes file ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise DataError(
            path, "not a text file (expected JSON, JSONL or 'image x1 y1 x2 y2' lines)"
        ) from None
    if "\x00" in text:
        raise DataError(path, "not a text file (expected JSON, JSONL or 'image x1 y1 x2 y2' lines)")
    pairs: list[tuple[str, list[float]]] = []
    if text.lstrip().startswith(("{", "[")):
        for n, doc in _json_docs(path, text):
            pairs += _boxes_of_record(path, doc, n)
    else:
        for n, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 5:
                raise DataError(
                    path, f"expected 'image x1 y1 x2 y2', got {len(fields)} fields", line=n
                )
            pairs.append((fields[0], _box(path, fields[1:], n)))
    table: dict[str, list[list[float]]] = {}
    for name, box in pairs:
        for key in _lookup_keys(Path(name)):
            lst = table.setdefault(key, [])
            if box and box not in lst:
                lst.append(box)
    return table


def annotate(rgb, faces, min_confidence: float | None = None, numbers: bool = False):
    """The image with each face's box and landmarks drawn (group colours, scheme lines); points
    whose confidence is below `min_confidence` (None: the default) are hollow rings; `numbers`
    writes each point's index beside it."""
    from ..draw import DEFAULT_MIN_CONFIDENCE, draw_box, draw_landmarks, group_colors

    if min_confidence is None:
        min_confidence = DEFAULT_MIN_CONFIDENCE
    img = rgb
    for f in faces:
        img = draw_box(img, f.box)
        img = draw_landmarks(
            img,
            f.landmarks,
            group_colors(f.scheme),
            scheme=f.scheme,
            connect=f.scheme.num_points > 5,
            confidence=getattr(f, "confidence", None),
            min_confidence=min_confidence,
            numbers=numbers,
        )
    return img


# --- images --------------------------------------------------------------------------------------


def _image_records(
    landmarker, items, out, save, boxes, workers, min_confidence, progress, numbers=False
):
    """One record per image item, in order, each made (and its image written) before the next."""
    from tqdm import tqdm

    bar = tqdm(
        items, desc="predict", unit="img", disable=True if not progress or len(items) < 2 else None
    )
    from ..analysis import describe  # pose, eye and mouth openness, smile of each face

    faces_of = _faces_of(landmarker, items, boxes, workers)
    for item in bar:
        rec: dict[str, Any] = {
            "file": item.label,
            "width": None,
            "height": None,
            "faces": [],
            "annotated": None,
        }
        try:
            rgb, faces = faces_of(item)
            rec["file"] = item.label  # the demo learns its name when loaded
            rec["height"], rec["width"] = int(rgb.shape[0]), int(rgb.shape[1])
            rec["faces"] = [{**f.to_dict(), **describe(f, rgb)} for f in faces]
            if save:
                from ..io import save_image

                dest = out / item.dest
                save_image(dest, annotate(rgb, faces, min_confidence, numbers))
                rec["annotated"] = printable(dest)
            rec["error"] = None
        except Exception as e:  # one bad input never stops the others
            msg = one_line(e, item.label)
            rec["error"] = msg
            tqdm.write(f"facepoints: error: {item.label}: {msg}", file=sys.stderr)
        yield rec


def _faces_of(landmarker, items, boxes, workers: int) -> Callable:
    """item -> (rgb, faces), called once per item, in order: here, or with `workers` by
    inference.batch, whose processes decode and detect ahead while the model batches faces."""
    if not workers:

        def here(item):
            rgb = load_input(item)
            return rgb, landmarker.detect(rgb, boxes=_boxes_for(item, boxes))

        return here
    from .batch import iter_faces

    results = iter_faces(landmarker, items, [_boxes_for(i, boxes) for i in items], workers=workers)

    def from_workers(item):
        res = next(results)
        item.label = res.label
        if res.error:
            raise FacepointsError(res.error)  # already one line
        return res.image, res.faces

    return from_workers


def _boxes_for(item: Input, table):
    if table is None or item.path is None:
        return None
    for key in _lookup_keys(item.path):
        if key in table:
            return table[key]
    return None


def _lookup_keys(p: Path) -> list[str]:
    return [str(p), str(p.resolve()), "name:" + p.name]


# --- boxes files ---------------------------------------------------------------------------------


def _json_docs(path: Path, text: str):
    """(line or None, record) for a JSON document (a record or a list) or JSONL."""
    try:
        doc = json.loads(text)
    except ValueError:  # JSONL
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except ValueError as e:
                    raise DataError(path, f"not JSON ({e})", line=n) from None
        return
    for d in doc if isinstance(doc, list) else [doc]:
        yield None, d


def _boxes_of_record(path: Path, d: Any, n: int | None) -> list[tuple[str, list[float]]]:
    if not isinstance(d, dict) or "file" not in d:
        raise DataError(path, "expected records with 'file' and 'faces'", line=n)
    faces = d.get("faces")
    if faces is None or faces == []:
        return [(str(d["file"]), [])]
    if not isinstance(faces, list):
        raise DataError(
            path, f"{d['file']}: 'faces' must be a list, got {type(faces).__name__}", line=n
        )
    pairs = []
    for face in faces:
        if not isinstance(face, dict) or "box" not in face:
            raise DataError(path, f"{d['file']}: a face without a 'box'", line=n)
        pairs.append((str(d["file"]), _box(path, face["box"], n)))
    return pairs


def _box(path: Path, values: Any, n: int | None) -> list[float]:
    """[x1, y1, x2, y2] as finite floats with x2 > x1 and y2 > y1, else DataError."""
    import math

    try:
        box = [float(v) for v in values]
    except (TypeError, ValueError):
        raise DataError(
            path, f"a box must be 4 numbers x1 y1 x2 y2, got {values!r:.60}", line=n
        ) from None
    if len(box) != 4 or not all(map(math.isfinite, box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise DataError(
            path,
            f"a box must be 4 finite numbers with x2 > x1, y2 > y1, got {values!r:.60}",
            line=n,
        )
    return box


# --- videos --------------------------------------------------------------------------------------


def _run_video(landmarker, source, dest: Path, save: bool, progress: bool, min_confidence):
    """Track faces through one video file or camera, writing OUT/<name>.mp4 (annotated, with
    `save`) and OUT/<name>.jsonl (one line per frame); the summary dict, or the one-line error."""
    label = f"camera {source}" if isinstance(source, int) else printable(source)
    try:
        from . import video
    except ImportError as e:  # pragma: no cover - an install without OpenCV's video support
        msg = f"video input needs OpenCV's video support ({e})"
        print(f"facepoints: error: {label}: {msg}", file=sys.stderr)
        return msg
    try:
        res = video.process_video(
            landmarker,
            source,
            dest.with_suffix(".mp4") if save else None,
            jsonl_path=dest.with_suffix(".jsonl"),
            progress=progress,
            min_confidence=min_confidence,
        )
    except Exception as e:  # report, and go on with the other inputs
        msg = one_line(e, label)
        print(f"facepoints: error: {label}: {msg}", file=sys.stderr)
        return msg
    wrote = " and ".join(printable(p) for p in (res.get("out_path"), res.get("jsonl_path")) if p)
    print(
        f"{label}: {res.get('frames', 0)} frames, {res.get('faces', 0)} faces, "
        f"{res.get('processing_fps', 0):g} frames/s; wrote {wrote or 'nothing'}"
    )
    return res


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
