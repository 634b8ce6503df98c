"""`facepoints analyse PATH...`: head pose, eye and mouth openness and a smile score for every
face of photos, and blinks per tracked face in videos. One line per face on stdout; the records
(JSON Lines: one per image, one per video frame) in --out/analysis.jsonl, or --json FILE.

Exit codes: 0 every input processed; 1 some inputs failed (each listed on stderr, one line
each); 2 a usage error."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import add_landmarker_options, landmarker_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="head pose, eye and mouth openness, smile; blinks in videos",
        description="Head pose (yaw, pitch, roll in degrees, with their uncertainty), eye and "
        "mouth openness (0 = closed), a smile probability for every face, and blinks per "
        "tracked face in videos. Exit 0: all inputs processed; 1: some failed; 2: usage error.",
    )
    p.add_argument("sources", nargs="*", metavar="PATH", help="image files, folders, videos")
    add_landmarker_options(p, faces=True)
    p.set_defaults(model="dense68", handler=_analyse)
    p.add_argument("--out", default="runs/analyse", help="output folder (default runs/analyse)")
    p.add_argument("--json", dest="json_path", help="records file (default OUT/analysis.jsonl)")
    p.add_argument("--recursive", action="store_true", help="look into subfolders of folders")
    p.add_argument("--demo", action="store_true", help="run on the shipped demo photo")
    p.add_argument("--max-frames", type=int, metavar="N", help="read at most N frames a video")


def _analyse(a: argparse.Namespace) -> int:
    from ..analysis import describe
    from ..analysis.video import analyse_video
    from ..errors import ConfigError
    from ..inference.sources import check_outputs, collect_inputs, load_input, one_line
    from ..io import atomic_write

    if not a.sources and not a.demo:
        raise ConfigError("nothing to do: give images, folders or videos, or --demo")
    out = Path(a.out)
    records_file = Path(a.json_path) if a.json_path else out / "analysis.jsonl"
    inputs = collect_inputs(a.sources, a.recursive, out, a.demo, videos=True)
    check_outputs(inputs, out, [records_file])
    lm = landmarker_from_args(a)
    failed = 0
    with atomic_write(records_file, "w") as f:
        for item in inputs:
            try:
                if item.kind == "video":
                    blinks = 0
                    for rec in analyse_video(lm, item.path, a.max_frames, max_faces=a.max_faces):
                        f.write(json.dumps({"video": item.label, **rec}) + "\n")
                        blinks += len(rec["blinks"])
                    print(f"{item.label}: {rec['frame'] + 1} frames, {blinks} blink(s)")
                    continue
                rgb = load_input(item)
                faces = lm.detect(rgb)
                size = (rgb.shape[1], rgb.shape[0])
                rows = []
                for i, face in enumerate(faces):
                    info = describe(face, rgb)
                    rows.append(
                        {"box": face.to_dict()["box"], "score": face.to_dict()["score"], **info}
                    )
                    print(f"{item.label} face {i}: {_line(info)}")
                if not faces:
                    print(f"{item.label}: no face")
                f.write(
                    json.dumps(
                        {"image": item.label, "width": size[0], "height": size[1], "faces": rows}
                    )
                    + "\n"
                )
            except Exception as e:  # one input's failure never stops the others
                failed += 1
                print(
                    f"facepoints: error: {item.label}: {one_line(e, item.label)}", file=sys.stderr
                )
    print(f"records -> {records_file}")
    return 1 if failed else 0


def _line(info: dict) -> str:
    parts = []
    if info["pose"]:
        p = info["pose"]
        parts.append(f"yaw {p['yaw']:+.0f} pitch {p['pitch']:+.0f} roll {p['roll']:+.0f} deg")
    if info["openness"]:
        o = info["openness"]
        parts.append(f"eyes {o['left_eye']:.2f} {o['right_eye']:.2f}, mouth {o['mouth']:.2f}")
    if info["smile"] is not None:
        parts.append(f"smile {info['smile']:.2f}")
    return "; ".join(parts) or "points not usable"
