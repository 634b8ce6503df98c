"""Torch devices by name, checked against what this torch build and machine have, so a wrong
`--device` is one clear ConfigError rather than an assertion deep inside torch."""

from __future__ import annotations

from .errors import ConfigError, did_you_mean

__all__ = ["check_device"]

_KINDS = ("cpu", "cuda", "mps", "xpu")


def check_device(device: object) -> str:
    """`device` ("cpu", "cuda", "cuda:1", "mps", a torch.device) as a string, after checking that
    it exists here; "auto" is passed through. Raises ConfigError naming what is missing."""
    import torch

    if isinstance(device, str) and device.strip().lower() == "auto":
        return "auto"
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        kind = str(device).split(":")[0].strip().lower()
        hint = " (did you mean 'cuda'?)" if kind == "gpu" else did_you_mean(kind, _KINDS)
        raise ConfigError(
            f"unknown device {str(device)!r}{hint}; use cpu, cuda, cuda:N or mps"
        ) from None
    if d.type == "cpu":
        return str(d)
    if d.type == "cuda":
        if torch.version.cuda is None:
            raise ConfigError(
                f"device {str(device)!r}: this torch build ({torch.__version__}) has no CUDA "
                "support; use --device cpu or install a CUDA build of torch"
            )
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {str(device)!r}: no CUDA GPU is visible here")
        if d.index is not None and d.index >= count:
            raise ConfigError(
                f"device {str(device)!r}: only {count} CUDA GPU(s) here (0-{count - 1})"
            )
        return str(d)
    backend = getattr(torch.backends, d.type, None) or getattr(torch, d.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise ConfigError(f"device {str(device)!r} is not available with this torch build here")
    return str(d)
