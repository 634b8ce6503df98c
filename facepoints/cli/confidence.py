"""`facepoints calibrate` (fit a model's per-point confidence) and `facepoints eval-confidence`
(risk-coverage, AUROC, calibration error and reliability of that confidence beside baselines)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit a model's per-point confidence on its training faces, calibrated on its "
        "validation faces",
        description="Train a small confidence head beside a landmark model (the model stays "
        "frozen: its points do not change) on the faces it was trained on, and calibrate it on "
        "its validation faces (the seeded split of its training run, read from the model's "
        "saved training config), so that confidence c means P(point error <= threshold x the "
        "scheme's normalising distance) = c. Writes the model with its confidence to --out.",
    )
    p.add_argument("model", help="shipped name, .safetensors or run folder")
    p.add_argument("--out", required=True, help="output .safetensors (may be the input file)")
    p.add_argument(
        "--data-root",
        help="the training dataset's folder (default: the one saved in the model's training "
        "config, else $FACEPOINTS_DATA/<name>)",
    )
    p.add_argument("--dataset", help="override the training config's dataset")
    p.add_argument("--split", help="override the training config's split")
    p.add_argument("--val-fraction", type=float, help="override the training config's value")
    p.add_argument("--seed", type=int, help="override the training config's split seed")
    p.add_argument(
        "--max-faces", type=int, help="override the training config's max_faces (a quick run)"
    )
    p.add_argument("--epochs", type=int, default=8, help="epochs of the confidence head (8)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument(
        "--threshold",
        type=float,
        default=0.10,
        help="a point is good when its error is at most this share of the normalising "
        "distance (0.10)",
    )
    p.add_argument("--augment", type=float, help="augmentation strength (default: the model's)")
    p.add_argument("--hidden", type=int, default=32, help="channels of the head's convolution (32)")
    p.add_argument(
        "--kernel",
        type=int,
        default=3,
        choices=(1, 3),
        help="its kernel size (3; 1 costs a ninth, for the smallest models)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_calibrate)

    e = sub.add_parser(
        "eval-confidence",
        help="how far point confidences can be trusted: risk-coverage, AUROC, ECE, reliability",
        description="Evaluate models' per-point confidence on the CUHK test faces and on the "
        "WFLW sample (98 points projected to the model's scheme, per attribute), beside plain "
        "baselines: a constant, the distance of each point from the mean training shape, and "
        "(heatmap models) the raw heatmap peak; the baselines are Platt-calibrated on the "
        "model's validation faces. Writes confidence.md, confidence.json, confidence.csv, "
        "risk_coverage.png and reliability.png.",
    )
    e.add_argument("models", nargs="*", help="models (default: the shipped default)")
    e.add_argument(
        "--data-root", help="the CUHK folder (test faces; training faces of CUHK models)"
    )
    e.add_argument(
        "--wflw-root", help="a WFLW folder (its test list; the sample works) to evaluate too"
    )
    e.add_argument(
        "--train-root",
        help="the models' training dataset folder, for the baselines' calibration (default: "
        "--data-root when the model was trained on CUHK, else its saved data root)",
    )
    e.add_argument("--max-faces", type=int, help="use only the first N test faces")
    e.add_argument("--threshold", type=float, default=0.10)
    e.add_argument("--out", default="runs/confidence", help="output folder (runs/confidence)")
    e.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(handler=_eval_confidence)


def _calibrate(a: argparse.Namespace) -> int:
    import torch

    from ..calibration import CalibrationConfig, fit_confidence, save_calibrated
    from ..models.pretrained import resolve_model

    torch.set_num_threads(max(1, a.threads))
    cfg = CalibrationConfig(
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        threshold=a.threshold,
        augment=a.augment,
        hidden=a.hidden,
        kernel=a.kernel,
    )
    overrides = {
        k: v
        for k, v in (
            ("dataset", a.dataset),
            ("split", a.split),
            ("val_fraction", a.val_fraction),
            ("seed", a.seed),
            ("max_faces", a.max_faces),
        )
        if v is not None
    }
    loaded = resolve_model(a.model)
    head = fit_confidence(
        loaded, a.data_root, cfg, overrides, progress=not a.no_progress, say=print
    )
    out = save_calibrated(loaded, head, a.out)
    v = head.info["validation"]
    fitted = head.info["fitted_on"]
    where = "+".join(fitted["mix"]) if "mix" in fitted else f"{fitted['dataset']} {fitted['split']}"
    print(
        f"{loaded.name}: confidence fitted on {fitted['faces']} validation faces of {where} "
        f"(val_fraction {fitted['val_fraction']:g}, seed {fitted['seed']}): AUROC "
        f"{v['auroc']:.4f}, ECE {v['ece']:.4f}; wrote {out}"
    )
    return 0


def _eval_confidence(a: argparse.Namespace) -> int:
    import torch

    from ..evaluation.confidence_report import evaluate_confidence
    from ..models.pretrained import DEFAULT_MODEL

    torch.set_num_threads(max(1, a.threads))
    res = evaluate_confidence(
        a.models or [DEFAULT_MODEL],
        data_root=a.data_root,
        wflw_root=a.wflw_root,
        train_root=a.train_root,
        out_dir=a.out,
        threshold=a.threshold,
        max_faces=a.max_faces,
        progress=not a.no_progress,
    )
    print(res["text"])
    print(f"\nwrote confidence.md, confidence.json, confidence.csv and plots to {res['out_dir']}")
    return 0
