"""Checkpoints from the Hugging Face Hub, through huggingface_hub's own cache, verified by sha256.

huggingface_hub only checks that a download has the announced *size*; eern hashes the file after every
download and every cache hit, and evicts a mismatching blob so that nothing corrupt stays in the cache.
The library reads ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and the cache location once, at import; they are
read again here at call time and passed explicitly, so a changed environment is honoured.
(``HF_HUB_DOWNLOAD_TIMEOUT`` and the token file location are still import-time settings of the library.)
Every library or network error becomes one of eern's errors with a one-line message.

A hub that cannot be reached is known after one try: for a file that is not cached, huggingface_hub would
retry the connection five times with back-off (23.4 s against a loopback port that refuses connections)
before eern could say so; one metadata request without retries goes first instead (0.11-0.30 s measured).
"""

from __future__ import annotations

import errno
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    FileMetadataError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from eern_cli.errors import (
    DownloadError,
    EernError,
    IntegrityError,
    OutputError,
    UsageError,
    WeightsNotFoundError,
    first_line,
)
from eern_cli.weights import checkpoints

SCHEME = "hf://"
DEFAULT_ENDPOINT = "https://huggingface.co"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SPEC_FORM = "expected hf://OWNER/REPO/PATH/IN/REPO.ext[@REVISION]"
_OFFLINE_HINT = "run once online or use {weights=PATH}"
_TRUE = {"1", "ON", "YES", "TRUE"}
_FS_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT}


@dataclass(frozen=True)
class HubRef:
    """A file in a model repository; ``revision=None`` means the default branch."""

    repo_id: str
    filename: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"{SCHEME}{self.repo_id}/{self.filename}" + (f"@{self.revision}" if self.revision else "")


def is_hub_spec(spec: object) -> bool:
    return isinstance(spec, str) and spec.startswith(SCHEME)


def parse_ref(spec: str) -> HubRef:
    """Parse ``hf://OWNER/REPO/PATH[@REVISION]``; the revision is whatever follows the last ``@``."""
    if not is_hub_spec(spec):
        raise UsageError(f"not a hub reference: {spec!r} ({_SPEC_FORM})")
    rest, revision = spec[len(SCHEME) :], None
    if "@" in rest:
        rest, revision = rest.rsplit("@", 1)
        if not revision.strip():
            raise UsageError(f"empty revision after '@' in {spec!r} ({_SPEC_FORM})")
    parts = rest.split("/")
    if len(parts) < 3 or any(not p.strip() for p in parts):
        raise UsageError(f"malformed hub reference {spec!r}: {_SPEC_FORM}")
    owner, repo, *path = parts
    if owner in ("datasets", "spaces", "buckets"):
        raise UsageError(f"only model repositories are supported, not {owner}: {spec!r}")
    if any(p in (".", "..") or "\\" in p for p in path):
        raise UsageError(f"malformed path inside the repository in {spec!r}: {_SPEC_FORM}")
    repo_id = f"{owner}/{repo}"
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UsageError(f"invalid repository name {repo_id!r} in {spec!r}: {first_line(exc)}") from exc
    return HubRef(repo_id, "/".join(path), revision)


def cache_dir() -> Path:
    """The hub cache as huggingface_hub would compute it from the environment *now*."""
    env = os.environ
    base = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if not base:
        xdg = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(env.get("HF_HOME") or os.path.join(xdg, "huggingface"), "hub")
    return Path(os.path.expandvars(os.path.expanduser(base)))


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline() -> bool:
    env = os.environ
    return (env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE") or "").strip().upper() in _TRUE


def _etag_timeout() -> float:
    try:
        return float(os.environ.get("HF_HUB_ETAG_TIMEOUT") or 10)
    except ValueError:
        return 10.0


def download(ref: HubRef, *, expected_sha256: str | None = None) -> Path:
    """Fetch (or reuse from the cache) one hub file and return its path in the cache, verified.

    The expected hash is, in order: ``expected_sha256``, the pin of a known checkpoint at that location, or the
    file's ETag when it is an LFS sha256 (the cache names each blob after its ETag). A plain git file with no
    pin cannot be verified and is returned as is.
    """
    if expected_sha256 is not None and not _SHA256.fullmatch(expected_sha256.strip().lower()):
        raise UsageError(f"expected sha256 must be 64 hex digits, not {expected_sha256!r}")
    pin = checkpoints.for_hub(ref.repo_id, ref.filename, ref.revision)
    revision = ref.revision or (pin.hub.revision if pin is not None and pin.hub is not None else None)
    is_offline = offline()
    # Only a cold download is probed: with a cached copy, the library falls back to it without retrying.
    cached = try_to_load_from_cache(ref.repo_id, ref.filename, cache_dir=cache_dir(), revision=revision)
    unreachable = None if is_offline or isinstance(cached, str) else _unreachable(ref, revision)
    try:
        pointer = Path(
            hf_hub_download(
                ref.repo_id,
                ref.filename,
                revision=revision,
                cache_dir=cache_dir(),
                endpoint=endpoint(),
                local_files_only=is_offline or unreachable is not None,
                etag_timeout=_etag_timeout(),
                library_name="eern",
            )
        )
    except Exception as exc:  # every library/network error becomes exactly one of ours
        if unreachable is not None:
            raise DownloadError(
                f"could not reach {endpoint()} to download {ref} ({first_line(unreachable)}), and it is not cached",
                hint="check the connection; with no network, set HF_HUB_OFFLINE=1 to use only the cache",
            ) from unreachable
        raise _translate(exc, ref, offline=is_offline) from exc
    if expected_sha256 is not None:
        _verify(pointer, ref, expected_sha256.strip().lower(), "the expected sha256")
    elif pin is not None:
        _verify(pointer, ref, pin.sha256, f"the pinned sha256 of {pin.name}")
    elif _SHA256.fullmatch(etag := pointer.resolve().name):  # the blob is named after the ETag
        _verify(pointer, ref, etag, "its ETag")
    _sweep_partial_downloads(pointer.resolve())
    return pointer


def _unreachable(ref: HubRef, revision: str | None) -> Exception | None:
    """The connection error of one metadata request without retries, or None if the hub answered (anything)."""
    url = hf_hub_url(ref.repo_id, ref.filename, revision=revision, endpoint=endpoint())
    once = {"retry_on_errors": False} if "retry_on_errors" in inspect.signature(get_hf_file_metadata).parameters else {}
    try:
        get_hf_file_metadata(url, timeout=_etag_timeout(), **once)
    except Exception as exc:
        return exc if _is_connection_error(exc) else None
    return None


def _is_connection_error(exc: BaseException) -> bool:
    """No answer at all (refused, unresolvable, timed out), as opposed to an HTTP error from a server.
    huggingface_hub's HTTP backend has been requests, httpx and httpx2; each names these errors alike."""
    if isinstance(exc, HfHubHTTPError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"NetworkError", "TimeoutException", "ConnectError", "ConnectionError", "Timeout",
                         "ConnectTimeout", "ProxyError"})


def _sweep_partial_downloads(blob: Path) -> None:
    """Remove ``<etag>.*.incomplete`` files beside a complete blob, left by downloads that were killed.

    huggingface_hub holds ``.locks/<repo>/<etag>.lock`` while it downloads a blob: if we can take that lock
    at once, no download of it is running, so its partial files belong to dead processes.
    """
    from filelock import FileLock, Timeout

    partial = sorted(blob.parent.glob(f"{blob.name}.*.incomplete"))
    if not partial:
        return
    repo_folder = blob.parent.parent  # <cache>/models--owner--name
    lock = repo_folder.parent / ".locks" / repo_folder.name / f"{blob.name}.lock"
    try:
        with FileLock(str(lock), timeout=0):
            for path in partial:
                path.unlink(missing_ok=True)
    except (Timeout, OSError):
        pass  # another process is downloading it, or the cache is read-only: leave the files alone


def _verify(pointer: Path, ref: HubRef, expected: str, basis: str) -> None:
    try:
        actual = checkpoints.sha256_file(pointer)
    except OSError as exc:
        raise DownloadError(f"cannot read the cached copy of {ref}: {exc.strerror or exc}", path=pointer) from exc
    if actual == expected:
        return
    left = []
    # The snapshot link, then the blob it points to (the same file where the cache cannot use symlinks).
    for p in dict.fromkeys((pointer, pointer.resolve())):
        try:
            p.unlink(missing_ok=True)
        except OSError:
            left.append(str(p))
    done = "the mismatching copy was removed from the cache" if not left else f"delete {', '.join(left)} by hand"
    raise IntegrityError(
        f"{ref} failed its integrity check: sha256 {actual} is not {basis} {expected}; {done}",
        hint="run the command again to download it afresh; if it repeats, the server has the wrong file",
    )


def _translate(exc: Exception, ref: HubRef, *, offline: bool) -> EernError:
    """One library exception to one eern error. Order matters: several hub errors subclass each other."""
    rev = ref.revision or "main"
    if isinstance(exc, GatedRepoError):
        return WeightsNotFoundError(
            f"hub repository {ref.repo_id} is gated: you have not been granted access",
            hint="accept its conditions on the Hub, then set HF_TOKEN",
        )
    if isinstance(exc, RepositoryNotFoundError):
        return WeightsNotFoundError(
            f"hub repository {ref.repo_id} not found at {endpoint()} (or it is private)",
            hint="check the name; for a private repository set HF_TOKEN",
        )
    if isinstance(exc, RevisionNotFoundError):
        return WeightsNotFoundError(
            f"revision {rev!r} not found in hub repository {ref.repo_id}",
            hint="check the commit, branch or tag after '@'",
        )
    if isinstance(exc, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        cause = exc.__cause__ or exc.__context__
        if offline or isinstance(exc, OfflineModeIsEnabled) or isinstance(cause, OfflineModeIsEnabled):
            return WeightsNotFoundError(
                f"{ref} is not in the Hugging Face cache and offline mode is on", hint=_OFFLINE_HINT
            )
        if isinstance(cause, FileMetadataError):
            return _not_a_hub(ref)
        reason = f" ({first_line(cause)})" if cause is not None else ""
        return DownloadError(
            f"could not reach {endpoint()} to download {ref}{reason}, and it is not cached",
            hint="check the connection and retry, or use {weights=PATH}",
        )
    if isinstance(exc, EntryNotFoundError):
        return WeightsNotFoundError(
            f"file {ref.filename!r} not found in hub repository {ref.repo_id} at revision {rev!r}",
            hint="check the path inside the repository",
        )
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        auth = status in (401, 403)
        return DownloadError(
            f"the hub answered HTTP {status} while downloading {ref}",
            hint="set HF_TOKEN to a token with access" if auth else "retry later",
        )
    if isinstance(exc, FileMetadataError):
        return _not_a_hub(ref)
    if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
        sizes = re.search(r"should be of size (\d+) but has size (\d+)", str(exc))
        got = f" (got {sizes.group(2)} of {sizes.group(1)} bytes)" if sizes else ""
        return DownloadError(
            f"the download of {ref} was cut short{got}", hint="retry; a flaky connection or proxy truncated it"
        )
    if isinstance(exc, OSError) and exc.errno in _FS_ERRNOS:
        return OutputError(
            f"cannot write to the Hugging Face cache: {exc.strerror}",
            path=exc.filename or cache_dir(),
            hint="free some space, or set HF_HOME to a writable directory",
        )
    if isinstance(exc, HFValidationError):
        return UsageError(f"invalid hub reference {ref}: {first_line(exc)}")
    return DownloadError(
        f"the download of {ref} failed: {type(exc).__name__}: {first_line(exc)}",
        hint="check the connection and retry",
    )


def _not_a_hub(ref: HubRef) -> DownloadError:
    return DownloadError(
        f"{endpoint()} did not answer like a Hugging Face Hub for {ref} (no commit or ETag header)",
        hint="check HF_ENDPOINT and any proxy in between",
    )
