"""The exceptions eern raises on purpose.

Each one also inherits the builtin a caller would naturally catch (``FileNotFoundError``, ``ValueError``,
...), so code that does not know about eern still handles them sensibly. Each carries data (``path``, ``size``
and what its subclass adds) besides its message, and a ``hint`` saying what to do. A hint names settings as
``{name=VALUE}``: the library writes that as the argument (``scratch=DIR``), the CLI's error boundary as the
flag (``--scratch DIR``), so flag spellings live only in the CLI (``eern_cli/cli/app.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

_SETTING = re.compile(r"\{(\w+)(?:=([^}]*))?\}")


def as_argument(name: str, value: str | None) -> str:
    """How the library writes a setting in a hint: as the argument, ``scratch=DIR``."""
    return name if value is None else f"{name}={value}"


def render_hint(template: str | None, setting: Callable[[str, str | None], str] = as_argument) -> str | None:
    """A hint with each ``{name=VALUE}`` written by ``setting`` (the CLI passes its own, which writes flags)."""
    if template is None:
        return None
    return _SETTING.sub(lambda m: setting(m.group(1), m.group(2)), template)


def sentence(text: str) -> str:
    """A hint as a sentence: capitalised (hints are written mid-sentence, 'use --tile 256')."""
    return text[:1].upper() + text[1:]


def first_line(exc: BaseException | str) -> str:
    """The first line of an exception's text (libraries' messages run to pages), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class EernError(Exception):
    """Base class: ``path`` is the file concerned (if any), ``size`` the image's (width, height) where it
    matters, ``hint`` what the user can do about it."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None,
                 size: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.size = size
        self.hint_template = hint

    @property
    def hint(self) -> str | None:
        return render_hint(self.hint_template)

    def describe(self, setting: Callable[[str, str | None], str] = as_argument) -> str:
        """The one-line report: what went wrong, the file, and what to do (settings written by ``setting``)."""
        text = self.message
        if self.path is not None and self.path not in text:
            text += f" ({self.path})"
        hint = render_hint(self.hint_template, setting)
        if hint:
            text += f". {sentence(hint)}"
        return text

    def __str__(self) -> str:
        return self.describe()


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
    """An image whose inference needs more memory than the device has, even with the smallest tiles.
    ``needed_bytes`` and ``available_bytes`` where they were counted up front; ``device`` where it ran out."""

    def __init__(self, message: str, *, needed_bytes: int | None = None, available_bytes: int | None = None,
                 device: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.needed_bytes, self.available_bytes, self.device = needed_bytes, available_bytes, device


class MissingExtraError(EernError, ImportError):
    """A feature whose optional dependency is not installed; ``extra`` is what to install (``eern[extra]``)."""

    exit_code = 2

    def __init__(self, message: str, *, extra: str | None, package: str, path: str | Path | None = None) -> None:
        hint = f"install it with: pip install 'eern[{extra}]'" if extra else f"install it with: pip install {package}"
        super().__init__(message, path=path, hint=hint)
        self.extra = extra
        self.package = package
