"""Shipped models by name, and one resolver from whatever a user names to a loaded model:
a shipped name ("cuhk5-resnet"), a .safetensors file, a training checkpoint (.pt), or a run
folder (its best.safetensors)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError, FacepointsError

__all__ = ["WEIGHTS_DIR", "DEFAULT_MODEL", "LoadedModel", "list_pretrained", "resolve_model"]

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
# faster per face than dlib through the API, and more accurate (docs/speed.md)
DEFAULT_MODEL = "cuhk5-fast"


@dataclass
class LoadedModel:
    """A model ready for inference, with what it needs around it: its crop margin, its name, the
    metadata it was saved with and its confidence head (None: not fitted, see
    `facepoints.models.confidence`)."""

    model: object  # LandmarkModel
    name: str
    path: Path
    margin: float = 0.2
    metadata: dict = field(default_factory=dict)
    confidence: object = None  # ConfidenceHead or None

    def confident(self):
        """The model with its confidence as one module: crops -> (points, confidence)."""
        from .confidence import ConfidentModel

        return ConfidentModel(self.model, self.confidence)

    @property
    def scheme(self):
        from ..schemes import get_scheme

        return get_scheme(self.metadata.get("scheme") or self.model.num_points)


def list_pretrained() -> list[str]:
    """Names of the landmark models that ship with facepoints (facepoints/weights/*.safetensors
    holding a model config; the face detector's weights live there too and are left out)."""
    from safetensors import safe_open

    names = []
    for p in sorted(WEIGHTS_DIR.glob("*.safetensors")):
        try:
            with safe_open(str(p), framework="pt") as f:
                if "config" in (f.metadata() or {}):
                    names.append(p.stem)
        except Exception:  # a damaged file is reported when it is loaded, not listed
            continue
    return names


def resolve_model(spec: str | Path | None = None, device: str = "cpu") -> LoadedModel:
    """Load a model from a shipped name, a .safetensors file, a .pt checkpoint or a run folder."""
    from .weights import load_confidence, load_model, read_metadata

    spec = DEFAULT_MODEL if spec is None else spec
    p = Path(spec)
    if not p.exists() and (WEIGHTS_DIR / f"{spec}.safetensors").is_file():
        p = WEIGHTS_DIR / f"{spec}.safetensors"
    if p.is_dir():
        for cand in ("best.safetensors", "best.pt", "last.pt"):
            if (p / cand).is_file():
                p = p / cand
                break
        else:
            raise CheckpointError(f"{p}: no best.safetensors, best.pt or last.pt in this folder")
    if not p.exists():
        known = ", ".join(list_pretrained()) or "none shipped yet"
        if isinstance(spec, str) and not p.suffix and len(p.parts) == 1:  # a name, not a path
            from ..errors import ConfigError, did_you_mean

            hint = did_you_mean(spec, list_pretrained())
            raise ConfigError(f"unknown model {spec!r}{hint}; shipped: {known}")
        raise CheckpointError(f"{spec}: no such model file or shipped model (shipped: {known})")
    if p.suffix == ".pt":
        from ..training.checkpoint import load_checkpoint
        from .registry import create_model

        state = load_checkpoint(p)
        try:
            model = create_model(**dict(state["model_config"]))
            model.load_state_dict(state["model"])
        except (KeyError, TypeError, ValueError, RuntimeError, FacepointsError) as e:
            detail = " ".join(str(e).split())[:300]
            raise CheckpointError(
                f"{p}: not a facepoints training checkpoint ({type(e).__name__}: {detail})"
            ) from None
        model.eval()
        meta = {"margin": state.get("config", {}).get("margin", 0.2)}
        if state.get("scheme"):  # a composite model's points have no name of their count
            meta["scheme"] = state["scheme"]
        confidence = None
    else:
        model = load_model(p)
        meta = read_metadata(p)
        confidence = load_confidence(p, map_location=device)
    margin = meta.get("margin", (meta.get("train_config") or {}).get("margin", 0.2))
    if isinstance(margin, str):
        margin = json.loads(margin)
    model.to(device)
    return LoadedModel(
        model=model,
        name=p.stem if p.stem not in ("best", "last") else p.parent.name,
        path=p,
        margin=float(margin),
        metadata=meta,
        confidence=confidence,
    )
