"""From command-line inputs to jobs: which images, and where each output goes.

Inputs are files, folders (``recursive`` for subfolders), glob patterns the shell did not expand, or ``-`` for
standard input. A folder or pattern takes only files with an image extension (others are reported as
``ignored``; HEIC/AVIF files as needing ``eern[formats]`` when their plugin is not installed); a file named
explicitly is always tried, and refused with a clear error if it is not an image.
Outputs: next to each input with a suffix (``photo_x4.png``); into ``-o DIR`` mirroring the input tree with the
same stems; to ``-o FILE`` for a single input; or ``-o -`` (standard output). An output that would be an input,
or the output of another input, is refused for that file.

A folder or pattern never takes eern's own outputs (a file whose provenance record says eern made it), so
running a command twice, or into another folder, does not upscale the results again; naming such a file
explicitly still works. Everything a folder or pattern passes over (non-images, eern's outputs, subfolders
without ``recursive``) is in ``Plan.passed_over`` with the reason, for the caller to report.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from eern_cli.errors import EernError, InputNotFoundError, MissingExtraError, OutputError, UsageError
from eern_cli.images import atomic, formats, plugins, provenance
from eern_cli.video import is_video
from eern_cli.video.naming import VIDEO, video_output

_MAGIC = set("*?[")


@dataclass
class Job:
    index: int
    source: str  # as shown to the user; "-" for standard input
    input: Path | None  # None: standard input
    output: Path | None  # None: standard output
    format: str  # png, jpg, ... or "same" (standard input: decided by what is read)
    error: EernError | None = None  # a problem found while planning: the job fails without running


@dataclass(frozen=True)
class PassedOver:
    """A file or subfolder that a folder or pattern input did not take, and why."""

    input: str
    reason: str


@dataclass
class Plan:
    jobs: list[Job]
    passed_over: list[PassedOver] = field(default_factory=list)


NOT_AN_IMAGE = "not an image extension"
EERN_OUTPUT = "made by eern, as its provenance record says; name the file to upscale it again"
OUTPUT_NAME = "named as the output of an image beside it; name the file to upscale it"
SUBFOLDER = "a subfolder; add -r to include subfolders"


def default_suffix(scale: float) -> str:
    return f"_x{scale:g}"


def plan(inputs: list[str], *, output: str | None = None, recursive: bool = False, suffix: str | None = None,
         fmt: str = "same", scale: float = 4.0) -> Plan:
    """The jobs for ``inputs`` and what their folders and patterns passed over; ``UsageError`` for combinations
    that cannot work."""
    output = None if output is None else os.fspath(output)
    if not inputs:
        raise UsageError("no input given", hint="name image files, folders or patterns, or - for standard input")
    if fmt != "same" and fmt not in formats.output_names():
        raise UsageError(f"unknown output format '{fmt}'",
                         hint=f"use one of {', '.join(formats.output_names())} or same")
    if "-" in inputs and len(inputs) > 1:
        raise UsageError("'-' (standard input) cannot be mixed with other inputs")
    out_dir = _output_dir(inputs, output)
    sources: list[tuple[str, Path | None, Path | None]] = []  # (shown, path, relative path for -o DIR)
    passed_over: list[PassedOver] = []
    for arg in inputs:
        sources.extend(_expand(arg, recursive, out_dir, suffix, scale, passed_over))
    single = len(sources) == 1 and not (len(inputs) == 1 and Path(inputs[0]).is_dir())
    if output not in (None, "-") and out_dir is None and not single:
        raise UsageError(f"-o {output} names one file but there are {len(sources)} inputs",
                         hint="give a folder (it is created) to write several outputs")
    if output == "-" and not single:
        raise UsageError("-o - (standard output) takes exactly one input")
    if suffix is None:
        suffix = "" if out_dir is not None else default_suffix(scale)
    jobs: list[Job] = []
    for index, (shown, path, rel) in enumerate(sources, start=1):
        job = Job(index, shown, path, None, fmt)
        try:
            if path is not None and not path.exists():
                raise InputNotFoundError(f"input not found: '{shown}'", path=shown,
                                         hint="check the name, or quote a pattern so eern expands it")
            job.output, job.format = _output_for(path, rel, output, out_dir, suffix, fmt)
        except UsageError:
            raise
        except EernError as exc:
            job.error = exc
        jobs.append(job)
    _refuse_clashes(jobs)
    _require_plugins(jobs, asked=fmt != "same" or (output not in (None, "-") and out_dir is None))
    return Plan(jobs, passed_over)


def _require_plugins(jobs: list[Job], *, asked: bool) -> None:
    """HEIC/AVIF outputs whose plugin is not installed: a usage error up front when the format was asked for
    (``--format``, ``-o FILE``), else (the input's own format) that job fails with the same message."""
    for job in jobs:
        row = None if job.error or job.format in ("same", VIDEO) else formats.get(job.format)
        if row is None or row.plugin is None or plugins.installed(row.pil):
            continue
        error = MissingExtraError(f"{row.label} images need the optional package '{row.plugin}'", extra=row.extra,
                                  package=row.plugin, path=None if asked else job.source)
        if asked:
            raise error
        job.error = error


def _output_dir(inputs: list[str], output: str | None) -> Path | None:
    if output is None or output == "-":
        return None
    path = Path(output)
    if path.is_dir() or output.endswith(("/", os.sep)) or (not path.suffix and not path.exists()):
        return path
    if path.exists() and not path.is_file():
        raise UsageError(f"-o {output} exists and is not a file or folder")
    return None


def _is_pattern(arg: str) -> bool:
    return bool(_MAGIC & set(arg)) and not Path(arg).exists()


def _expand(arg: str, recursive: bool, out_dir: Path | None, suffix: str | None, scale: float,
            passed_over: list[PassedOver]):
    if arg == "-":
        return [("-", None, None)]
    path = Path(arg)
    if path.is_dir():
        files = sorted(_walk(path, recursive, out_dir, passed_over))
        return _scan(path, files, out_dir, suffix, scale, passed_over)
    if _is_pattern(arg):
        base = _pattern_base(arg)
        matches = sorted(Path(m) for m in glob.glob(arg, recursive=True))
        if not matches:
            raise UsageError(f"no file matches the pattern '{arg}'")
        files = []
        for m in matches:
            files.extend(sorted(_walk(m, recursive, out_dir, passed_over)) if m.is_dir() else [m])
        return _scan(base, files, out_dir, suffix, scale, passed_over)
    return [(arg, path, Path(path.name))]


def _walk(folder: Path, recursive: bool, out_dir: Path | None, passed_over: list[PassedOver]):
    skip = out_dir.resolve() if out_dir is not None and out_dir.exists() else None
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs
                         if not d.startswith(".") and (skip is None or Path(root, d).resolve() != skip))
        for name in files:
            yield Path(root, name)
        if not recursive:
            passed_over.extend(PassedOver(str(Path(root, d)), SUBFOLDER) for d in dirs)
            break


def _scan(base: Path, files, out_dir, suffix, scale, passed_over: list[PassedOver]):
    found = []
    extensions = formats.input_extensions()
    own_suffix = suffix if suffix is not None else default_suffix(scale)
    stems: dict[Path, set[str]] = {}
    for p in files:
        stems.setdefault(p.parent, set()).add(p.stem)
    for path in files:
        name = path.name
        if name.startswith(".") or atomic.is_temp(name):
            continue  # hidden files, macOS '._x.png' resource forks, eern's temporaries
        row = formats.from_extension(path.suffix)
        if row is not None and row.plugin and not plugins.installed(row.pil):
            passed_over.append(PassedOver(str(path), f"needs eern[{row.extra}] for {row.label}: "
                                                     f"pip install 'eern[{row.extra}]'"))
            continue
        if path.suffix.lower() not in extensions and not is_video(path):
            passed_over.append(PassedOver(str(path), NOT_AN_IMAGE))
            continue
        if path.is_file() and provenance.read(path) is not None:  # a FIFO or device would block or never end
            passed_over.append(PassedOver(str(path), EERN_OUTPUT))
            continue
        if out_dir is None and own_suffix and path.stem.endswith(own_suffix) and \
                path.stem[: -len(own_suffix)] in stems[path.parent]:
            # An earlier output beside its source that has no record (BMP holds none, or not made by eern).
            passed_over.append(PassedOver(str(path), OUTPUT_NAME))
            continue
        found.append((str(path), path, path.relative_to(base) if _under(path, base) else Path(path.name)))
    return found


def _under(path: Path, base: Path) -> bool:
    try:
        path.relative_to(base)
        return True
    except ValueError:
        return False


def _pattern_base(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if _MAGIC & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _output_for(path, rel, output, out_dir, suffix, fmt) -> tuple[Path | None, str]:
    if path is not None and is_video(path):
        return video_output(path, rel, output, out_dir, suffix), VIDEO
    if output == "-":
        return None, fmt
    if output is not None and out_dir is None:  # -o FILE
        target = Path(output)
        named = formats.from_extension(target.suffix)
        if fmt == "same":
            if named is None or not named.writable:
                raise UsageError(f"cannot tell the output format from '{output}'",
                                 hint=f"use an extension such as .png or .jpg, or {{format}} "
                                      f"({', '.join(formats.output_names())})")
            fmt = named.name
        elif named is not None and named.name != fmt:
            raise UsageError(f"-o {output} is {named.label} but --format is {fmt}", hint="make them agree")
        return target, fmt
    if path is None:  # standard input to a folder
        fmt = "png" if fmt == "same" else fmt
        return (out_dir or Path(".")) / f"stdin{suffix}{formats.get(fmt).extensions[0]}", fmt
    ext = path.suffix
    named = formats.from_extension(ext)
    if fmt == "same":
        fmt = named.name if named is not None and named.writable else "png"
        if named is None or named.name != fmt:
            ext = formats.get(fmt).extensions[0]
    elif named is None or named.name != fmt:
        ext = formats.get(fmt).extensions[0]
    folder = path.parent if out_dir is None else out_dir / rel.parent
    return folder / f"{rel.stem}{suffix}{ext}", fmt


def _refuse_clashes(jobs: list[Job]) -> None:
    inputs = {}
    for job in jobs:
        if job.input is not None and job.input.exists():
            inputs[_key(job.input)] = job
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.error or job.output is None:
            continue
        key = _key(job.output)
        if key in inputs:
            job.error = OutputError(f"the output of '{job.source}' would overwrite the input '{inputs[key].source}'",
                                    path=job.output, hint="choose another {output}, {suffix} or {format}")
        elif key in seen:
            job.error = OutputError(f"'{job.source}' and '{seen[key].source}' would both be written to '{job.output}'",
                                    path=job.output, hint="use {format=same}, or separate output folders")
        else:
            seen[key] = job


def _key(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))
