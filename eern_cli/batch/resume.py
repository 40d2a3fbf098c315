"""Whether an existing output may be skipped on a re-run (resume), from the provenance recorded inside it.

* exists with a record of the same input bytes (sha256) and the same settings digest, and written to its end:
  up to date, skipped;
* exists with an eern record of another input or other settings: redone (it is eern's own, and stale);
* exists without a record (not made by eern, or BMP, which has no place for one): left alone, unless
  ``--overwrite``;
* is the input itself (a link) or a folder: refused.
"""

from __future__ import annotations

import os

from eern_cli.batch.planner import Job
from eern_cli.errors import OutputError
from eern_cli.images import provenance


def verdict(job: Job, input_sha: str, digest: str, overwrite: bool) -> str | None:
    """Why ``job``'s existing output may be skipped (None: write it)."""
    out = job.output
    if out is None or not out.exists():
        return None
    if out.is_dir():
        raise OutputError(f"cannot write '{out}': it is a folder", path=out, hint="choose another {output} or {suffix}")
    if job.input is not None and os.path.samefile(out, job.input):
        raise OutputError(f"the output '{out}' is the input itself", path=out,
                          hint="choose another {output} or {suffix}")
    if overwrite:
        return None
    record = provenance.read(out)
    if record is None:
        why = "BMP cannot record provenance" if job.format == "bmp" else "not made by eern"
        return f"exists ({why}); --overwrite replaces it"
    if record.input_sha256 == input_sha and record.settings == digest and provenance.looks_complete(out):
        return "up to date"
    return None  # made by eern from another input or other settings: redo it
