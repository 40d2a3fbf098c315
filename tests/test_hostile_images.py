"""Hostile image inputs: what users will feed ``eern`` (files from the web, half-downloaded images, files lying
about their size or kind, odd names and odd file types) and what must hold for each:

* the loader: any input either decodes to the pixels of the complete file, or fails with one
  ``InputImageError`` naming the file; never another exception, never an allocation beyond the pixel limit;
* the batch: a clear error naming each bad file, exit code 1, no traceback, no output for a bad input, and every
  good input done exactly as a clean run does it.

Builds on test_imageio.py (one cut per format, a 60-example PNG fuzz) and test_batch.py (three bad files in a
batch): here every byte offset of every image kind is cut, thousands of bit flips are decoded, a structure-aware
hypothesis fuzzer mutates every kind, and the batch runs as a real process over a zoo of hostile files.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hostile_helpers import (
    FAST,
    REPO,
    SIZE,
    address_space_limit,
    bit_flips,
    clean_run,
    cli_env,
    decodes_completely,
    eern_cmd,
    encoded,
    finals,
    frames_of,
    gif_with_grown_canvas,
    limit_address_space,
    output_problems,
    png_bomb,
    png_header_only,
    record,
    same_frames,
    samples,
    smooth,
    temps,
    tiff_with_big_second_page,
    write_big_png,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from eern_cli.cli.app import main
from eern_cli.errors import InputImageError, InsufficientMemoryError
from eern_cli.images import provenance
from eern_cli.images.decode import (
    DEFAULT_MAX_PIXELS,
    configure_pillow,
    read_file,
    read_image,
)

SAMPLES = samples()
MULTI_FRAME = {"apng", "webp-anim", "tiff-pages", "gif-anim"}


@pytest.fixture(autouse=True)
def _pillow_as_eern_runs_it():
    configure_pillow()  # what the CLI does: eern's own pixel limit, never LOAD_TRUNCATED_IMAGES


def _read(data: bytes, name: str, **kw):
    with warnings.catch_warnings():  # Pillow warns about corrupt EXIF in cut TIFFs; that is not our verdict
        warnings.simplefilter("ignore")
        return read_image(data, name, **kw)


# ----------------------------------------------------------------------------------------------- the loader


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_every_cut_is_refused_naming_the_file_or_decodes_identically(kind):
    """A file cut at *every* byte offset (a half-finished download stops anywhere): an error naming the file,
    or (cut only after the last pixel, e.g. a missing PNG IEND) exactly the complete file's pixels."""
    ext, data = SAMPLES[kind]
    name = f"half downloaded {kind}{ext}"
    full = frames_of(_read(data, name))
    refused = identical = 0
    with address_space_limit(1 << 30):
        for cut in range(len(data)):
            try:
                decoded = _read(data[:cut], name)
            except InputImageError as exc:
                assert name in str(exc), str(exc)
                refused += 1
                continue
            assert same_frames(frames_of(decoded), full), (
                f"{kind} cut at {cut} of {len(data)} bytes decoded to other pixels or fewer frames "
                f"({len(decoded.frames)} of {len(full)}) instead of failing")
            identical += 1
    record("image files: truncated at every byte", inputs=len(data), refused=refused, identical=identical)


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_bit_flips_are_refused_naming_the_file_or_decode_consistently(kind):
    """150 copies with 1-8 flipped bits each: an ``InputImageError`` naming the file, or a decode whose frames
    are the image kinds the model takes. Memory is capped at +1 GiB: a flip must never make eern allocate
    without bound (where it does, see test_every_frame_obeys_the_pixel_limit)."""
    ext, data = SAMPLES[kind]
    name = f"flipped {kind}{ext}"
    rng = random.Random(f"flip-{kind}")
    refused = decoded_ok = memory = 0
    with address_space_limit(1 << 30):
        for mutated in bit_flips(data, rng, 150):
            try:
                decoded = _read(mutated, name, max_pixels=10**6)
            except InputImageError as exc:
                assert name in str(exc), str(exc)
                refused += 1
                memory += "memory" in str(exc)
                continue
            assert decoded.frames, "a decode with no frames"
            for frame in decoded.frames:
                assert frame.color.ndim in (2, 3) and frame.color.dtype in (np.uint8, np.uint16)
                assert frame.alpha is None or frame.alpha.shape == frame.color.shape[:2]
            decoded_ok += 1
    if kind not in MULTI_FRAME:
        assert memory == 0, f"{memory} flipped single-frame files ran out of memory instead of being refused"
    record("image files: bit-flipped", inputs=150, refused=refused, decoded=decoded_ok, out_of_memory=memory)


_KINDS = sorted(SAMPLES)


@st.composite
def _mutated(draw) -> tuple[str, bytes]:
    """A valid file of some kind, then 1-6 structure-blind mutations: flips, overwrites, inserts, deletions,
    duplicated ranges (a repeated chunk or segment), cuts."""
    kind = draw(st.sampled_from(_KINDS))
    data = bytearray(SAMPLES[kind][1])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("flip", "overwrite", "insert", "delete", "duplicate", "cut")))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "overwrite":
            blob = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(blob)] = blob
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif op == "cut":
            del data[at:]
    return kind, bytes(data)


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_mutated())
def test_fuzz_every_kind_decodes_or_raises_input_image_error(case):
    """Structure-aware fuzzing of the loader (derandomized: the same 400 inputs on every CI run, ~2 s)."""
    kind, data = case
    record("image files: hypothesis fuzzer", inputs=1)
    with address_space_limit(1 << 30):
        try:
            decoded = _read(data, f"fuzz.{kind}", max_pixels=10**6)
        except InputImageError as exc:
            assert f"fuzz.{kind}" in str(exc)
            return
    assert decoded.frames and all(f.color.dtype in (np.uint8, np.uint16) for f in decoded.frames)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's, about the damaged TIFFs
@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_KINDS), st.integers(0, 4096), st.binary(min_size=1, max_size=8))
def test_fuzz_a_hostile_file_at_the_output_path_is_never_trusted_blindly(tmp_path_factory, kind, at, blob):
    """Resume reads the provenance of whatever sits at the output path: a damaged file there must read as
    'no record' (or a record), never raise."""
    data = bytearray(SAMPLES[kind][1])
    data[at % len(data) : at % len(data) + len(blob)] = blob
    path = tmp_path_factory.mktemp("out") / f"x{SAMPLES[kind][0]}"
    path.write_bytes(bytes(data))
    record("image files: hostile file at the output path (resume check)", inputs=1)
    record_ = provenance.read(path)
    assert record_ is None or isinstance(record_, provenance.Provenance)
    assert provenance.looks_complete(path) in (True, False)


# ----------------------------------------------------------------------------------------------- lying headers


def test_decompression_bomb_is_refused_before_any_pixel_is_decoded():
    """A 100000 x 100000 PNG in 4 kB: refused from its header, in milliseconds, within 256 MiB."""
    started = time.monotonic()
    with address_space_limit(256 << 20), pytest.raises(InputImageError) as info:
        read_image(png_bomb(100_000, 100_000), "bomb.png")
    text = str(info.value)
    assert "bomb.png" in text and "100000x100000" in text and "limit" in text and "max_pixels=N" in text
    assert time.monotonic() - started < 2
    with pytest.raises(InputImageError, match="limit"):  # the largest width a PNG can declare
        read_image(png_bomb(2**31 - 1, 1), "wide.png")
    record("image files: decompression bombs", inputs=2)


@pytest.mark.parametrize("width,height", [(0, 16), (16, 0), (0, 0)])
def test_zero_sized_image_is_refused(width, height):
    with pytest.raises(InputImageError, match="zero.png"):
        read_image(png_bomb(width, height), "zero.png")
    record("image files: 0-sized", inputs=1)


def test_absurd_aspect_ratios_decode_and_are_refused_where_a_format_cannot_hold_them(tmp_path, capsys):
    """1 x 100000 and 100000 x 1 are legal images: they decode; a WebP output (16383 px per side) is refused
    before the model runs; --max-pixels refuses them by their pixel count."""
    tall = encoded(np.zeros((100_000, 1, 3), np.uint8))
    wide = encoded(np.zeros((1, 100_000, 3), np.uint8))
    assert read_image(tall, "tall.png").size == (1, 100_000)
    assert read_image(wide, "wide.png").size == (100_000, 1)
    (tmp_path / "tall.png").write_bytes(tall)
    for args, words in ((["-f", "webp"], "16383"), (["--max-pixels", "50000"], "limit")):
        try:
            main(["upscale", *FAST, str(tmp_path / "tall.png"), "-o", str(tmp_path / "out"), *args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 1 and "tall.png" in err and words in err and "Traceback" not in err, err
        assert finals(tmp_path / "out") == []
    record("image files: absurd dimensions", inputs=4)


@pytest.mark.parametrize("make", ["gif-canvas", "tiff-page"])
def test_every_frame_obeys_the_pixel_limit(make):
    """Found by the bit-flip sweep: one flipped bit in a 3 kB animated GIF declared a 60697 x 71044 frame and
    read_image allocated > 24 GB (the OOM killer ended the process). Any frame beyond the first must be
    refused by the pixel limit before it is loaded, like the first."""
    if make == "gif-canvas":
        data, limit = gif_with_grown_canvas(65535, 65535), DEFAULT_MAX_PIXELS  # 4.3 Gpx from 2 kB
    else:
        data, limit = tiff_with_big_second_page(300, 300), 1000  # page 1 is 20x16 (x2 pages = 640 px)
    with address_space_limit(1 << 30), pytest.raises(InputImageError) as info:
        read_image(data, f"{make}.img", max_pixels=limit)
    assert "limit" in str(info.value), str(info.value)


# ----------------------------------------------------------------------------------------------- a batch of them


GOOD = {  # name -> (format for Pillow, params): odd names, and two with the wrong extension
    "good one.png": ("PNG", {}),
    "ünïcødé 画像.jpg": ("JPEG", {"quality": 90}),
    "-leading-dash.webp": ("WEBP", {"lossless": True}),
    "plain.tif": ("TIFF", {}),
    "really-a-png.jpg": ("PNG", {}),
    "really-a-jpeg.png": ("JPEG", {"quality": 90}),
}


def _zoo(folder: Path) -> dict[str, str]:
    """Write the good files and the bad ones into ``folder``; returns bad name -> what is wrong with it."""
    folder.mkdir(parents=True)
    for i, (name, (fmt, params)) in enumerate(GOOD.items()):
        Image.fromarray(smooth(*SIZE, seed=10 + i)).save(folder / name, fmt, **params)
    bad: dict[str, bytes] = {}
    for kind in ("png", "jpeg", "webp", "tiff", "bmp", "gif"):
        ext, data = SAMPLES[kind]
        bad[f"cut{ext}"] = data[: len(data) // 2]
    png = bytearray(SAMPLES["png"][1])
    png[len(png) // 2] ^= 0x10  # inside IDAT: the CRC no longer matches
    bad["flipped.png"] = bytes(png)
    bad["cut-header.tif"] = SAMPLES["tiff"][1][:30]
    bad["empty.png"] = b""
    bad["bomb.png"] = png_bomb(100_000, 100_000)
    bad["zero-width.png"] = png_bomb(0, 16)
    bad["header-only.png"] = png_header_only(SIZE[0], SIZE[1])
    bad["notes.png"] = b"these are my notes, not an image\n"
    bad["404.jpg"] = b"<html><body><h1>404 Not Found</h1></body></html>\n"
    bad["vector.png"] = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    bad["icon.png"] = encoded(smooth(16, 16), "ICO")  # a real image, of a kind eern does not open
    bad["document.tif"] = encoded(smooth(16, 16), "PDF")
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    os.symlink(folder / "gone.png", folder / "dangling.png")
    os.symlink("loop.png", folder / "loop.png")
    (folder / "folder.png").mkdir()  # a directory named like an image: not an input, not an error
    return {**{n: "bad" for n in bad}, "dangling.png": "missing", "loop.png": "missing"}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """One real ``eern upscale`` process over the zoo, and a clean run over the good files alone."""
    root = tmp_path_factory.mktemp("zoo")
    bad = _zoo(root / "in")
    good_only = root / "good"
    good_only.mkdir()
    for name in GOOD:
        shutil.copy(root / "in" / name, good_only / name)
    reference = clean_run(good_only, root / "reference")
    result = subprocess.run(eern_cmd(str(root / "in"), "-o", str(root / "out"), *FAST), capture_output=True,
                            env=cli_env(), cwd=REPO, timeout=300, preexec_fn=limit_address_space(4 << 30))
    record("image files: hostile batch (one process)", inputs=len(GOOD) + len(bad) + 1, bad=len(bad))
    return root, bad, reference, result


def test_batch_exit_code_and_summary(zoo):
    _, bad, _, result = zoo
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert f"Done: {len(GOOD)} upscaled, 0 skipped, {len(bad)} failed" in err
    assert "Traceback" not in err and "internal error" not in err


def test_batch_names_every_bad_file_with_a_reason(zoo):
    _, bad, _, result = zoo
    err = result.stderr.decode()
    failed = err.split("Failed:", 1)[1].strip().splitlines()
    assert len(failed) == len(bad)
    for name in bad:
        lines = [line for line in failed if name in line]
        assert len(lines) == 1, (name, failed)
    reasons = {name: next(line for line in failed if name in line).lower() for name in bad}
    assert "truncated" in reasons["cut.jpg"] and "limit" in reasons["bomb.png"] and "empty" in reasons["empty.png"]
    assert "not found" in reasons["dangling.png"] and "not an image eern can read" in reasons["icon.png"]


def test_batch_writes_nothing_for_bad_inputs_and_exactly_the_clean_result_for_good_ones(zoo):
    root, bad, reference, _ = zoo
    out = root / "out"
    assert {p.name for p in finals(out)} == set(reference) == set(GOOD)
    assert temps(out) == [] and not (out / "folder.png").exists()
    assert output_problems(out, reference) == []
    with Image.open(out / "really-a-png.jpg") as im:  # the name says JPEG: the output is one
        assert im.format == "JPEG"
    with Image.open(out / "really-a-jpeg.png") as im:
        assert im.format == "PNG"


def test_batch_stderr_has_only_eerns_own_lines(zoo):
    """No Python warning from Pillow ('UserWarning: Corrupt EXIF data', with its source path) on stderr."""
    _, _, _, result = zoo
    noise = [line for line in result.stderr.decode().splitlines() if "Warning" in line or "warnings.warn" in line]
    assert noise == []


# ----------------------------------------------------------------------------------------------- odd files


def _run(args: list[str], timeout: float, **kw) -> tuple[int | None, str, float]:
    """Run eern; a process that outlives ``timeout`` is killed (-9) and reported with returncode None."""
    started = time.monotonic()
    proc = subprocess.Popen(eern_cmd(*args, *FAST), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                            env=kw.pop("env", None) or cli_env(), **kw)
    try:
        _, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        code = None
    return code, err.decode(errors="replace"), time.monotonic() - started


def test_fifo_named_like_an_image_fails_that_file_only(tmp_path):
    """A FIFO named like an image would block open() for ever (and Ctrl-C could not end the process, whose exit
    waits for the blocked thread): it fails on its own, the other file is done."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth(*SIZE)).save(src / "a.png")
    os.mkfifo(src / "pipe.png")
    out = tmp_path / "out"
    proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=REPO, env=cli_env())
    deadline, done_at = time.monotonic() + 60, None
    while proc.poll() is None and time.monotonic() < deadline:
        if done_at is None and (out / "a.png").exists():
            done_at = time.monotonic()
        if done_at is not None and time.monotonic() - done_at > 3:
            break  # the good file was written 3 s ago and the process has not finished: it hangs
        time.sleep(0.05)
    code = proc.poll()
    if code is None:
        proc.kill()
    err = proc.communicate()[1].decode(errors="replace")
    record("image files: FIFO named like an image", inputs=1, hung=code is None)
    assert code == 1, f"exit {code} (None: still running 3 s after the other file was done; killed)\n{err}"
    assert "pipe.png" in err and [p.name for p in finals(tmp_path / "out")] == ["a.png"]


def test_device_named_like_an_image_is_refused_without_reading_it(tmp_path):
    """A link named like an image to /dev/zero: refused without reading (it never ends), the other file done."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth(*SIZE)).save(src / "a.png")
    os.symlink("/dev/zero", src / "zero.png")
    code, err, seconds = _run([str(src), "-o", str(tmp_path / "out")], timeout=60,
                              preexec_fn=limit_address_space(2 << 30))  # without it: the OOM killer
    record("image files: device named like an image", inputs=1)
    assert code == 1 and "zero.png" in err and [p.name for p in finals(tmp_path / "out")] == ["a.png"], err
    assert "memory" not in err and seconds < 20, err


def test_unreadable_file_fails_that_file_only(tmp_path):
    """chmod 000: 'permission denied' naming the file; the other file is done. Root reads anything, so as root
    the run drops the capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) with setpriv."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth(*SIZE)).save(src / "a.png")
    Image.fromarray(smooth(*SIZE, seed=1)).save(src / "secret.png")
    (src / "secret.png").chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv: cannot make a file unreadable")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        result = subprocess.run([*prefix, *eern_cmd(str(src), "-o", str(tmp_path / "out"), *FAST)],
                                capture_output=True, env=cli_env(), cwd=REPO, timeout=120)
    finally:
        (src / "secret.png").chmod(0o644)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "secret.png" in err and "permission denied" in err and "Traceback" not in err
    assert [p.name for p in finals(tmp_path / "out")] == ["a.png"] and decodes_completely(tmp_path / "out" / "a.png")
    record("image files: unreadable permissions", inputs=1)


def test_names_with_spaces_unicode_and_leading_dashes(tmp_path, capsys, monkeypatch):
    """Relative names on the command line (after --, as a shell user must): each output lands beside its input."""
    names = ["with space.png", "ünïcødé 画像.png", "-rf.png", "--help.png", "; rm -rf ~.png", "'quoted\".png"]
    for i, name in enumerate(names):
        Image.fromarray(smooth(*SIZE, seed=i)).save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    try:
        main(["upscale", *FAST, "--", *names])
        code = 0
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, None), err
    for name in names:
        out = tmp_path / (Path(name).stem + "_x4.png")
        assert decodes_completely(out), name
    record("image files: odd names", inputs=len(names))


def test_name_that_is_not_utf8_with_event_stream(tmp_path):
    """A Latin-1 file name with --events where stdout is strict UTF-8 (any UTF-8 locale): every file is done."""
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate((b"latin1-caf\xe9.png", b"ok.png", b"z.png")):
        Image.fromarray(smooth(*SIZE, seed=i)).save(os.fsdecode(os.path.join(os.fsencode(src), name)))
    env = cli_env(PYTHONIOENCODING="utf-8:strict")  # what Python uses under e.g. LANG=en_US.UTF-8
    result = subprocess.run(eern_cmd(str(src), "-o", str(tmp_path / "out"), *FAST, "--events"), capture_output=True,
                            env=env, cwd=REPO, timeout=120)
    record("image files: non-UTF-8 name, --events", inputs=1)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert len(finals(tmp_path / "out")) == 3


# ----------------------------------------------------------------------------------------------- huge images


def test_8000x8000_is_refused_clearly_and_fast_with_default_limits(tmp_path):
    """The model would need ~11 min of this CPU and ~30 GB of memory for it (without --scratch): refused with a
    message about memory and what to do, in seconds, with no output. (The address space is capped at 8 GiB, so
    that if the up-front check lets it through on a machine with much free memory, the allocation fails at once
    instead of meeting the OOM killer.)"""
    big = write_big_png(tmp_path / "scan 8000.png", 8000, 8000)
    code, err, seconds = _run([str(big), "-o", str(tmp_path / "out.png")], timeout=120,
                              preexec_fn=limit_address_space(8 << 30))
    record("resources: 8000x8000 with default limits", inputs=1)
    assert code == 1 and "scan 8000.png" in err and not (tmp_path / "out.png").exists(), err
    assert "Traceback" not in err and "internal error" not in err and "report it" not in err, err
    assert "RuntimeError" not in err and ("limit" in err or "memory" in err), err
    assert seconds < 30


@pytest.mark.parametrize("scratch,free_gib", [(None, 24), ("folder", 6)], ids=["in-memory-24GiB", "scratch-dir-6GiB"])
def test_memory_check_counts_everything_an_8000x8000_run_holds(tmp_path, monkeypatch, scratch, free_gib):
    """With 24 GiB free (in memory) or 6 GiB free (--scratch DIR: the map is a file, the rest still in memory), an
    8000x8000 fp32 job must be refused before inference starts."""
    from eern_cli import upscaler as upscaler_module
    from eern_cli.engine import retries

    up = upscaler_module.Upscaler(device="cpu", precision="fp32", tile=256,
                                  scratch=str(tmp_path) if scratch else None)
    monkeypatch.setattr(retries, "available_memory", lambda: free_gib << 30)

    def started(*args, **kwargs):
        raise AssertionError("inference started: the job was not refused up front")

    monkeypatch.setattr(retries, "run_exact_tiled", started)
    record("resources: memory check for 8000x8000", inputs=1)
    with address_space_limit(6 << 30), pytest.raises(InsufficientMemoryError):
        up.upscale_array(np.zeros((8000, 8000, 3), np.uint8))


def test_huge_file_named_like_an_image_is_refused_by_its_size(tmp_path):
    """A 64 GiB (sparse) file named like an image: refused by its size before any byte is read."""
    path = tmp_path / "disk-image.png"
    with open(path, "wb") as f:
        f.truncate(64 << 30)  # sparse: no disk space used
    record("image files: 64 GiB file named like an image", inputs=1)
    with address_space_limit(1 << 30), pytest.raises(InputImageError, match="disk-image.png"):
        read_file(path, "disk-image.png")
