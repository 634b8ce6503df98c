"""The package's own error types; the CLI alone turns them into one line and an exit code."""

from __future__ import annotations

from pathlib import Path


class FacepointsError(Exception):
    """Base of every error facepoints raises on purpose. `exit_code` is what the CLI returns."""

    exit_code = 1


class DataError(FacepointsError):
    """A malformed annotation file or dataset layout: names the file and, where known, the line."""

    exit_code = 3

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ImageError(FacepointsError):
    """An image that cannot be read safely (missing, corrupt, too large, unreadable)."""

    exit_code = 4

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


class DownloadError(FacepointsError):
    """A download or archive that failed (network, checksum, layout)."""

    exit_code = 5


class ConfigError(FacepointsError):
    """A bad option or configuration value (unknown name, out-of-range value)."""

    exit_code = 2


class CheckpointError(FacepointsError):
    """A checkpoint or weights file that is missing, corrupt, or not safe to load."""

    exit_code = 6
