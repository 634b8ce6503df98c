"""Mixed precision for the training loop: autocast and, for fp16, loss scaling."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

from ..errors import ConfigError

__all__ = ["Precision"]


class Precision:
    """Mixed precision: autocast to bf16 (or fp16, with a GradScaler against underflow). On CUDA
    "auto" picks bf16 where the GPU has it, else fp16; on the CPU only an explicit bf16 or fp16
    turns it on (worth it on CPUs with bf16 units; the same code path as on a GPU, so it is tested
    without one); "off", or "auto" off CUDA, trains in plain float32 with no extra state."""

    def __init__(self, mode: str, device: torch.device, say: Callable[[str], None]):
        self.dtype: torch.dtype | None = None
        self.device_type = device.type
        if device.type == "cuda" and mode != "off":
            bf16 = torch.cuda.is_bf16_supported()
            if mode == "bf16" and not bf16:
                raise ConfigError("amp bf16: this GPU has no bfloat16; use amp fp16 or off")
            self.dtype = torch.float16 if mode == "fp16" or not bf16 else torch.bfloat16
        elif device.type == "cpu" and mode in ("bf16", "fp16"):
            self.dtype = torch.bfloat16 if mode == "bf16" else torch.float16
        elif mode in ("bf16", "fp16"):
            say(f"amp {mode} is for CUDA and the CPU; training in float32 on {device}")
        fp16 = self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler(device.type) if fp16 else None
        if self.dtype is not None:
            scaled = " with loss scaling" if self.scaler else ""
            say(f"mixed precision: {str(self.dtype).removeprefix('torch.')}{scaled} on {device}")

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)  # skipped when the gradients overflowed
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
