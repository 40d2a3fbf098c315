"""The exceptions eern raises on purpose.

Each one also inherits the builtin a caller would naturally catch (``FileNotFoundError``, ``ValueError``,
...), so code that does not know about eern still handles them sensibly. The CLI turns every ``EernError``
into one line on stderr: what went wrong, with which file, and what to do (``hint``).
"""

from __future__ import annotations

from pathlib import Path


class EernError(Exception):
    """Base class: ``path`` is the file concerned (if any), ``hint`` what the user can do about it."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.path is not None and self.path not in text:
            text += f" ({self.path})"
        if self.hint:
            text += f". {self.hint[:1].upper()}{self.hint[1:]}"
        return text


class UsageError(EernError, ValueError):
    """A flag value or argument combination that cannot work (exit code 2, like a usage error)."""

    exit_code = 2


class InputImageError(EernError, ValueError):
    """An input image that cannot be read or is of an unsupported kind."""


class InputNotFoundError(EernError, FileNotFoundError):
    """An input path that does not exist."""


class OutputError(EernError, OSError):
    """An output that cannot be written (permissions, full disk, refusing to overwrite an input)."""


class WeightsError(EernError, ValueError):
    """A checkpoint that is not an EERN x4 state dict, or cannot be deserialised safely."""


class WeightsNotFoundError(EernError, FileNotFoundError):
    """A checkpoint that is not there: a missing path, or a hub file that does not exist or is not cached."""


class IntegrityError(EernError, OSError):
    """A checkpoint whose sha256 is not the pinned one."""


class DownloadError(EernError, ConnectionError):
    """A hub download that failed for network or server reasons."""


class DeviceError(EernError, RuntimeError):
    """A device or precision that this machine cannot provide."""


class InsufficientMemoryError(EernError, MemoryError):
    """An image whose inference needs more memory than the device has, even with the smallest tiles."""


class MissingExtraError(EernError, ImportError):
    """A feature whose optional dependency is not installed; ``extra`` is what to install (``eern[extra]``)."""

    exit_code = 2

    def __init__(self, message: str, *, extra: str | None, package: str, path: str | Path | None = None) -> None:
        hint = f"install it with: pip install 'eern[{extra}]'" if extra else f"install it with: pip install {package}"
        super().__init__(message, path=path, hint=hint)
        self.extra = extra
        self.package = package
