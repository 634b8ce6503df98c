"""Landmark models: a registry of families (LeNet, Sun et al. 2013, ResNet, MobileNet v1/v2) with
regression or PIPNet-style heatmap heads, and safetensors weights."""

# Importing the family files registers them (each imports the registry itself, so order is free).
from . import lenet, mobilenet, resnet, sepnet, sun2013  # noqa: F401
from .base import LandmarkModel
from .registry import MODELS, create_model, list_models, register_model
from .weights import load_model, read_metadata, save_model

__all__ = [
    "MODELS",
    "LandmarkModel",
    "create_model",
    "list_models",
    "register_model",
    "load_model",
    "read_metadata",
    "save_model",
]
