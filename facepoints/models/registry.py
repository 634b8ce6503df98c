"""Models by name. Each family file registers its class, and named presets of it, here; a model's
`config` (name plus every constructor argument) rebuilds it with `create_model(**config)`."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from .base import LandmarkModel

__all__ = ["MODELS", "ModelEntry", "register_model", "create_model", "list_models"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered name: the class to build and the defaults this name gives it."""

    name: str
    cls: type[LandmarkModel]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def family(self) -> str:
        return self.cls.__module__.rsplit(".", 1)[-1]


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, description: str = "", **defaults: Any):
    """Class decorator: register `cls` under `name`, with `defaults` overriding its own (a preset).
    Stack it to register several names for one class."""

    def add(cls: type[LandmarkModel]) -> type[LandmarkModel]:
        text = description or (inspect.getdoc(cls) or "").split("\n")[0]
        MODELS.register(name)(ModelEntry(name, cls, dict(defaults), text))
        return cls

    return add


def create_model(name: str, num_points: int = 5, **kwargs: Any) -> LandmarkModel:
    """Build a registered model; unknown names or arguments raise ConfigError."""
    entry = MODELS.get(name)
    try:
        bound = inspect.signature(entry.cls).bind(
            num_points=num_points, **{**entry.defaults, **kwargs}
        )
    except TypeError as e:
        raise ConfigError(f"model {name!r}: {e}") from None
    bound.apply_defaults()
    try:
        # Built from the JSON form so that a model rebuilt from a saved config is the same model.
        args = json.loads(json.dumps(bound.arguments))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model {name!r}: arguments must be JSON values ({e})") from None
    model = entry.cls(**args)
    model.config = {"name": name, **args}
    return model


def list_models() -> list[dict[str, Any]]:
    """One row per registered name: name, family, input_size, in_channels, description, and
    params (parameter count at 5 points)."""
    rows = []
    for name in MODELS.names():
        entry = MODELS.get(name)
        model = create_model(name)
        rows.append(
            {
                "name": name,
                "family": entry.family,
                "input_size": model.input_size,
                "in_channels": model.in_channels,
                "description": entry.description,
                "params": sum(p.numel() for p in model.parameters()),
            }
        )
    return rows
