"""`facepoints filter PATH... --filter NAME[,NAME...]`: face filters (sunglasses, crown, ...) on
photos, folders and videos, written below --out under their own names; `--camera N` shows a live
preview whose keys 1-9 switch the filter; `--list` names the filters.

Exit codes, as predict: 0 every input processed (an image without faces is written unchanged);
1 some inputs failed (each listed on stderr, one line each; the others are still written);
2 a usage error (bad option, unknown filter, nothing to do, no display for --camera); others as
`facepoints` documents for its own errors (e.g. 6: the model cannot be loaded)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .common import add_landmarker_options, landmarker_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "filter",
        help="face filters (sunglasses, crown, ...) on photos, videos or a camera",
        description="Draw face filters on every face of photos, folders and videos, written to "
        "--out under their own names; --camera N: live preview (keys 1-9 switch the filter, "
        "0 none, q quits). Exit 0: all inputs processed; 1: some failed; 2: usage error.",
    )
    p.add_argument("sources", nargs="*", metavar="PATH", help="image files, folders, videos")
    p.add_argument(
        "-f",
        "--filter",
        dest="filters",
        action="append",
        metavar="NAME[,NAME...]",
        help="filters to apply, in order (see --list); may be repeated",
    )
    p.add_argument("--list", action="store_true", help="list the filters and exit")
    add_landmarker_options(p, faces=True)
    p.add_argument("--out", default="runs/filter", help="output folder (default runs/filter)")
    p.add_argument("--recursive", action="store_true", help="look into subfolders of folders")
    p.add_argument("--camera", type=int, metavar="N", help="live preview of camera N")
    p.add_argument("--demo", action="store_true", help="run on the shipped demo photo")
    p.add_argument(
        "--min-confidence",
        type=float,
        metavar="C",
        help="leave a filter off a face whose anchor points' confidence is below C (e.g. 0.5; "
        "default: filters go on every face)",
    )
    p.add_argument(
        "--unsure",
        choices=("skip", "fade"),
        default="skip",
        help="with --min-confidence: skip the filter on unsure faces (default) or draw overlays "
        "there faded",
    )
    p.add_argument(
        "--min-face-score",
        type=float,
        metavar="S",
        help="filters only on detections whose face score (detector and landmark scores "
        "together, 0-1) reaches S (default: the detector's calibrated threshold, so hands, ears "
        "and backs of heads get none; 0: every detection)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_filter)


def _filter(a: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..filters.base import get_filter, list_filters, parse_filter_names

    if a.list:
        for name in list_filters():
            print(f"{name:12s} {get_filter(name).description}")
        return 0
    start = time.perf_counter()
    if not a.filters:
        raise ConfigError("no filter chosen: give --filter NAME[,NAME...] (see --list)")
    names = parse_filter_names(a.filters)
    if not names:
        raise ConfigError("no filter chosen: give --filter NAME[,NAME...] (see --list)")
    if a.min_confidence is not None and not (0 <= a.min_confidence <= 1):
        raise ConfigError(f"--min-confidence must be in [0, 1], got {a.min_confidence}")
    from ..filters.base import FILTER_MODEL
    from ..filters.face_score import DEFAULT_MIN_FACE_SCORE, detector_name

    if a.min_face_score is not None and not (0 <= a.min_face_score <= 1):
        raise ConfigError(f"--min-face-score must be in [0, 1], got {a.min_face_score}")
    gate = {
        "min_confidence": a.min_confidence,
        "unsure": a.unsure,
        "min_face_score": DEFAULT_MIN_FACE_SCORE if a.min_face_score is None else a.min_face_score,
    }
    if not a.sources and not a.demo and a.camera is None:
        raise ConfigError("nothing to do: give images, folders or videos, or --demo or --camera N")
    if a.threads is not None and a.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {a.threads}")
    if a.camera is not None:
        from ..filters.video import check_preview

        check_preview()  # before the model loads: say at once why a preview cannot open

    from ..inference.sources import check_outputs, collect_inputs

    out = Path(a.out)
    inputs = collect_inputs(a.sources, a.recursive, out, a.demo, videos=True)
    check_outputs(inputs, out)  # a writable folder, and no output over an input (exit 2)
    # a dense model by default: the artwork follows the face
    lm = landmarker_from_args(a, model=a.model or FILTER_MODEL)
    gate["detector"] = detector_name(lm)  # whose calibration the face score uses
    images = [i for i in inputs if i.kind != "video"]
    ok, n_faces, no_face, failures = _run_images(lm, images, names, out, a.no_progress, gate)
    videos = 0
    streams = [
        (i.path, out / i.dest.with_suffix(".mp4"), False) for i in inputs if i.kind == "video"
    ]
    if a.camera is not None:
        streams.append((a.camera, out / f"camera{a.camera}.mp4", True))
    for source, dest, show in streams:
        err = _run_video(lm, source, names, dest, show, a.no_progress, gate)
        if err:
            failures.append(err)
        else:
            videos += 1
    parts = [_n(ok, "image"), _n(n_faces, "face"), f"{no_face} without faces"]
    if videos:
        parts.append(_n(videos, "video"))
    parts.append(_n(len(failures), "error"))
    where = f"; wrote {out}" if ok or videos else ""
    print(f"{', '.join(parts)} in {time.perf_counter() - start:.1f} s{where}")
    return 1 if failures else 0


def _run_images(lm, items, names: list[str], out: Path, no_progress: bool, gate=None):
    from tqdm import tqdm

    from ..filters.base import apply_filters
    from ..inference.sources import load_input, one_line
    from ..io import save_image

    ok = n_faces = no_face = 0
    failures: list[str] = []
    bar = tqdm(
        items, desc="filter", unit="img", disable=True if no_progress or len(items) < 2 else None
    )
    for item in bar:
        try:
            rgb = load_input(item)
            faces = lm.detect(rgb)
            save_image(out / item.dest, apply_filters(rgb, faces, names, **(gate or {})))
            ok += 1
            n_faces += len(faces)
            no_face += not faces
        except Exception as e:  # one bad input never stops the others
            msg = one_line(e, item.label)
            failures.append(msg)
            tqdm.write(f"facepoints: error: {item.label}: {msg}", file=sys.stderr)
    return ok, n_faces, no_face, failures


def _run_video(
    lm, source, names, dest: Path, show: bool, no_progress: bool, gate=None
) -> str | None:
    """Filter one video file or camera into `dest` (mp4); None on success, else the error."""
    from ..errors import ConfigError
    from ..filters.video import filter_video
    from ..inference.sources import one_line

    label = f"camera {source}" if isinstance(source, int) else str(source)
    try:
        res = filter_video(
            lm, source, names, dest, show=show, progress=not no_progress, **(gate or {})
        )
    except Exception as e:  # report, and go on with the other inputs
        if show and isinstance(e, ConfigError):
            raise  # no camera or no window for the preview: a usage error (exit 2)
        msg = one_line(e, label)
        print(f"facepoints: error: {label}: {msg}", file=sys.stderr)
        return msg
    print(
        f"{label}: {res['frames']} frames, {res['faces']} faces, {res['processing_fps']:g} "
        f"frames/s; wrote {res['out_path'] or 'nothing'}"
    )
    return None


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
