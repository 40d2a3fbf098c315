"""Atomic file writes: a reader, a crash or a full disk never sees a half-written output.

Data goes to a temporary file in the destination folder, named ``.NAME.eern-<pid>-<random>.tmp`` (hidden, and
never taken for an image by eern's folder scan), which is flushed, fsynced and renamed over the final name with
``os.replace`` (atomic on POSIX and Windows); the folder is fsynced too so that the rename survives a power cut.
On any exception, including ``KeyboardInterrupt`` and a cancellation, the temporary file is removed. After a
``kill -9`` it stays behind; ``sweep_stale_temps`` removes those of processes that no longer run.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from eern_cli.errors import OutputError

TEMP_RE = re.compile(r"^\..+\.eern-(\d+)-[0-9a-f]{8}\.tmp$")
STALE_AFTER_S = 24 * 3600  # a temp this old is stale even if its pid is alive again (pid reuse after a reboot)
_MAX_NAME = 200  # keep the temp name under the usual 255-byte limit
# Test-only: seconds to pause in the middle of each output write, so a test can kill a run while it writes.
_DELAY_ENV = "EERN_TEST_ENCODE_DELAY"


class Cancelled(Exception):
    """Raised inside a write when the batch was interrupted; the temporary file is removed."""


def temp_name(final: Path) -> Path:
    stem = final.name[:_MAX_NAME]
    return final.with_name(f".{stem}.eern-{os.getpid()}-{secrets.token_hex(4)}.tmp")


class _GuardedFile:
    """A write-only file that stops (raises ``Cancelled``) as soon as ``cancel`` is set."""

    def __init__(self, raw: BinaryIO, cancel: threading.Event | None, delay: float) -> None:
        self._raw, self._cancel, self._delay = raw, cancel, delay

    def write(self, data: bytes) -> int:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled("interrupted")
        n = self._raw.write(data)
        if self._delay:
            time.sleep(self._delay)
            self._delay = 0.0
            if self._cancel is not None and self._cancel.is_set():
                raise Cancelled("interrupted")
        return n

    def __getattr__(self, name: str):  # tell, seek, flush ... as the real file
        if name == "fileno":  # so that Pillow writes through write() (cancellable) instead of the raw fd
            raise AttributeError(name)
        return getattr(self._raw, name)


@contextmanager
def atomic_open(path: str | os.PathLike[str], *, cancel: threading.Event | None = None) -> Iterator[BinaryIO]:
    """``with atomic_open(path) as f: f.write(...)``: ``path`` appears complete, or not at all.

    OS errors (no space, file-size limit, permission, read-only folder) become one ``OutputError`` that names
    the final path and says what to do; the temporary file is gone whatever happened.
    """
    final = Path(path)
    tmp = temp_name(final)
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise output_error(exc, final) from exc
    try:
        with os.fdopen(fd, "w+b") as raw:  # readable: Pillow's multi-page TIFF writer reads back
            yield _GuardedFile(raw, cancel, _test_delay())  # type: ignore[misc]
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, final)
    except BaseException as exc:
        _unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise output_error(exc, final) from exc
        raise
    fsync_dir(final.parent)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None], **kw) -> None:
    """Call ``write(file)`` on a temporary file and move the result onto ``path`` (see ``atomic_open``)."""
    with atomic_open(path, **kw) as f:
        write(f)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def output_error(exc: OSError, path: Path) -> OutputError:
    """An ``OutputError`` for a failed write: what happened to which file, and what to do."""
    code = exc.errno
    if code == errno.ENOSPC or code == getattr(errno, "EDQUOT", -1):
        return OutputError(f"no space left on the device writing '{path}'", path=path,
                           hint="free some space or write to another folder with -o")
    if code == errno.EFBIG:
        return OutputError(f"file too large for this file system or the process's file-size limit: '{path}'",
                           path=path, hint="write to another folder ({output=DIR}), or choose a smaller {scale}")
    if code in (errno.EACCES, errno.EPERM):
        return OutputError(f"permission denied writing in '{path.parent}'", path=path,
                           hint="choose another output folder with -o, or fix the folder's permissions")
    if code == errno.EROFS:
        return OutputError(f"'{path.parent}' is on a read-only file system", path=path,
                           hint="choose another output folder with -o")
    if code == errno.ENOENT:
        return OutputError(f"output folder '{path.parent}' does not exist", path=path)
    if code in (errno.EISDIR, errno.ENOTDIR):
        return OutputError(f"cannot write '{path}': a folder is in the way", path=path,
                           hint="choose another output name with -o")
    return OutputError(f"cannot write '{path}': {exc.strerror or exc}", path=path)


def sweep_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files left in ``folder`` by eern runs that died (killed, crashed, power cut).

    A temp belongs to a dead run when its pid no longer exists or it is older than a day; temps of runs that
    are still going (another eern writing into the same folder) are left alone. Returns what was removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = TEMP_RE.match(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group(1))
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
        except OSError:
            continue
        if pid != os.getpid() and (old or not _alive(pid)):
            if _unlink(Path(entry.path)):
                removed.append(Path(entry.path))
    return removed


def is_temp(name: str) -> bool:
    return bool(TEMP_RE.match(name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours
    return True


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def _test_delay() -> float:
    try:
        return max(0.0, float(os.environ.get(_DELAY_ENV, "") or 0))
    except ValueError:
        return 0.0
