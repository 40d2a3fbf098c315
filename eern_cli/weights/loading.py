"""From a weights spec to a verified EERN state dict, without ever running code from a checkpoint.

The file is read into memory once and the same bytes are hashed and deserialised, so what was verified is what
gets loaded. Pinned files (the bundled checkpoint) are hashed *before* any unpickler sees them. Pickle
checkpoints go through ``torch.load(weights_only=True)`` only, with no unsafe retry; safetensors through the
safetensors parser. The result is checked against the EERN architecture here, so a wrong file fails with a
message naming keys and shapes instead of a traceback from ``load_state_dict``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import re
import stat
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import safetensors.torch
import torch

from eern_cli.engine.model import EERN
from eern_cli.errors import IntegrityError, WeightsError, WeightsNotFoundError, first_line
from eern_cli.weights.checkpoints import OFFICIAL, KnownCheckpoint, by_sha256

# Far above any EERN checkpoint (2.6 MB, ~11 MB with optimiser state): refuse to read multi-GB files into memory.
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024
_WRAPPERS = ("params_ema", "params", "state_dict", "model")  # BasicSR's EMA weights first
_SHOW = 5
# torch words a refused global in two ways: "Unsupported global: GLOBAL x" and "unsupported GLOBAL x whose
# module y is blocked".
_UNSAFE_GLOBAL = re.compile(r"[Uu]nsupported(?: global:)? GLOBAL (\S+)")


@dataclass(frozen=True, eq=False)  # eq=False: comparing dicts of tensors elementwise is meaningless here
class LoadedWeights:
    state_dict: dict[str, torch.Tensor]
    path: Path
    source: str
    sha256: str
    checkpoint: KnownCheckpoint | None

    @property
    def license(self) -> str | None:
        return None if self.checkpoint is None else self.checkpoint.license


def bundled_checkpoint_path() -> Path:
    """The checkpoint installed as ``eern_cli._bundled``, or ``weights/`` beside the package in a source tree."""
    try:
        candidate = Path(str(resources.files("eern_cli._bundled") / OFFICIAL.filename))
        if candidate.is_file():
            return candidate
    except (ModuleNotFoundError, TypeError, OSError):
        pass
    return Path(__file__).resolve().parents[2] / "weights" / OFFICIAL.filename  # <repo>/weights/


def load_weights(spec: str | os.PathLike[str] | None = None) -> LoadedWeights:
    """``None``/``"official"``: the bundled checkpoint; ``"hf://..."``: a hub file; anything else: a local path."""
    if spec is None or spec == "official":
        path = bundled_checkpoint_path()
        if not path.is_file():
            raise WeightsNotFoundError(
                "the bundled checkpoint is missing", path=path, hint="reinstall eern or use {weights=PATH}"
            )
        return load_pinned(path, OFFICIAL, source="bundled")
    if isinstance(spec, str) and spec.startswith("hf://"):
        from eern_cli.weights import hub  # huggingface_hub costs ~0.1 s to import: only pay for it when used

        path = hub.download(hub.parse_ref(spec))
        return _load(path, source=str(spec))
    return _load(Path(spec).expanduser(), source=os.fspath(spec))


def load_pinned(
    path: str | os.PathLike[str], checkpoint: KnownCheckpoint, *, source: str | None = None
) -> LoadedWeights:
    """Load a file that must be exactly ``checkpoint``: a mismatch is refused before deserialising anything."""
    path = Path(path)
    data = _read(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != checkpoint.sha256:
        raise IntegrityError(
            f"{path} is not the {checkpoint.name} checkpoint {checkpoint.filename}: sha256 {digest} "
            f"(expected {checkpoint.sha256}, {len(data)} of {checkpoint.size} bytes); it was not loaded",
            path=path,
            hint=f"reinstall eern, or fetch it again from {checkpoint.source}",
        )
    return LoadedWeights(_parse(data, path), path, source or str(path), digest, checkpoint)


def load_model(spec: str | os.PathLike[str] | None = None) -> tuple[EERN, LoadedWeights]:
    """An EERN in eval mode, float32 on CPU, with frozen parameters, and where its weights came from."""
    loaded = load_weights(spec)
    model = EERN()
    try:
        model.load_state_dict(loaded.state_dict, strict=True)
    except RuntimeError as exc:  # _parse has already checked keys and shapes; this is a safety net
        raise WeightsError(f"checkpoint does not fit EERN: {first_line(exc)}", path=loaded.path) from exc
    model.eval().requires_grad_(False)
    return model, loaded


def _load(path: Path, *, source: str) -> LoadedWeights:
    data = _read(path)
    digest = hashlib.sha256(data).hexdigest()
    return LoadedWeights(_parse(data, path), path, source, digest, by_sha256(digest))


def _read(path: Path) -> bytes:
    if not path.exists():
        raise WeightsNotFoundError("checkpoint not found", path=path, hint="check the path given as {weights}")
    if path.is_dir():
        raise WeightsError("checkpoint path is a directory, not a file", path=path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise WeightsError("checkpoint path is not a regular file (a pipe, socket or device)", path=path)
        size = info.st_size
        if size > MAX_CHECKPOINT_BYTES:
            raise WeightsError(f"{size} bytes is far too large for an EERN x4 checkpoint", path=path)
        return path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"cannot read checkpoint: {exc.strerror or exc}", path=path) from exc


def _parse(data: bytes, path: Path) -> dict[str, torch.Tensor]:
    """Deserialise safely, unwrap, and check against EERN's keys and shapes; returns float32 CPU tensors."""
    if path.name.endswith(".safetensors"):
        try:
            obj: object = safetensors.torch.load(data)
        except Exception as exc:  # SafetensorError is not importable portably across versions
            raise WeightsError(f"not a valid safetensors checkpoint: {first_line(exc)}", path=path) from exc
    else:
        obj = _torch_load(data, path)
    return _validate(_unwrap(obj), path)


def _torch_load(data: bytes, path: Path) -> object:
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise for a CLI user
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _UNSAFE_GLOBAL.search(str(exc))
        if refused:
            raise WeightsError(
                f"not a valid checkpoint: loading it would run code ({refused.group(1)}), and eern never runs "
                "code from checkpoints",
                path=path,
                hint="re-save it as a plain state dict or as .safetensors",
            ) from exc
        detail = str(exc).rpartition("WeightsUnpickler error:")[2].strip() or first_line(exc)
        detail = detail.split("weights_only")[0].rstrip(" .,(")  # never relay torch's "weights_only=False" advice
        raise WeightsError(
            f"not a valid checkpoint (corrupt, or not a PyTorch file: {first_line(detail)})", path=path
        ) from exc
    except Exception as exc:  # truncated zip, garbage, another format: torch raises many types
        raise WeightsError(f"not a valid checkpoint (truncated or corrupt: {first_line(exc)})", path=path) from exc


def _unwrap(obj: object) -> object:
    """Peel off training-script wrappers ({'params_ema': sd}, {'model': sd}, ...) and DataParallel prefixes."""
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if isinstance(obj, dict) and obj and all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


@functools.cache
def _expected_shapes() -> dict[str, torch.Size]:
    return {k: v.shape for k, v in EERN().state_dict().items()}


def _validate(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not obj:
        raise WeightsError(f"not an EERN state dict: the file holds {_kind(obj)}", path=path)
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"not a state dict of tensors: entry {key!r} holds {_kind(value)}", path=path)
    expected = _expected_shapes()
    missing = [k for k in expected if k not in obj]
    unexpected = [k for k in obj if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_few(unexpected)})")
        raise WeightsError(f"not an EERN x4 checkpoint: {'; '.join(parts)}", path=path)
    state: dict[str, torch.Tensor] = {}
    for key, shape in expected.items():
        tensor = obj[key]
        if tensor.shape != shape:
            raise WeightsError(
                f"not an EERN x4 checkpoint: {key} has shape {tuple(tensor.shape)}, EERN needs {tuple(shape)}",
                path=path,
            )
        if not tensor.is_floating_point():
            raise WeightsError(f"{key} holds {tensor.dtype} values, not floating point", path=path)
        tensor = tensor.detach().to(device="cpu", dtype=torch.float32)
        # A float64 sum is finite iff every float32 element is; and unlike isfinite() it has no slow first call.
        if not bool(torch.isfinite(tensor.sum(dtype=torch.float64))):
            raise WeightsError(f"{key} contains NaN or infinite values", path=path, hint="use another checkpoint")
        state[key] = tensor
    return state


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:_SHOW]) + (", ..." if len(keys) > _SHOW else "")


def _kind(obj: object) -> str:
    return "an empty dict" if isinstance(obj, dict) and not obj else f"a {type(obj).__name__}"
