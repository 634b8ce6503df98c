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


class BusyError(FacepointsError):
    """Something another process holds: a run folder being written, a port in use."""

    exit_code = 7


class FacepointsWarning(UserWarning):
    """A warning of facepoints' own (a cut video, skipped files); the CLI prints it as one line."""


# The exit codes every command shares (docs/reliability.md shows this table).
EXIT_CODES: dict[int, str] = {
    0: "success: every input processed (an image without faces is a result)",
    1: "some inputs failed (each named on stderr, one line each); the others were written",
    2: "usage error: bad or unknown option, model, detector, filter or device; nothing to do; "
    "an output that would overwrite an input or cannot be written",
    3: "a malformed data, annotation or boxes file (named, with its line where known)",
    4: "an image that cannot be read, where the command needs that one image",
    5: "a download or archive that failed",
    6: "a model or checkpoint file that is missing, damaged or unsafe to load",
    7: "busy: another process holds the run folder, or the port is in use",
    130: "interrupted (Ctrl-C); a training run saved last.pt and can be resumed",
}


def did_you_mean(name: str, known: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str:
    """' (did you mean 'x'?)' for the known name closest to `name`, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""
