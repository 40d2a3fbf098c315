"""``eern upscale`` end to end: flags, exit codes, output kinds, and real-process faults (SIGINT, kill -9,
full disk, read-only folder)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers_images import (
    FAST,
    REPO,
    cli_env,
    decodes_completely,
    disk_rgba,
    eern_cmd,
    encoded,
    run_eern,
    save,
    smooth,
)
from PIL import Image, ImageCms

from eern_cli.cli.app import main
from eern_cli.images import atomic, bit16, png_writer, provenance

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def eern(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``eern upscale ARGS`` in this process through the CLI's error boundary."""
    try:
        main(["upscale", *FAST, *args])  # later flags win: a test's --device overrides FAST's
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def reference():
    from eern_cli.upscaler import Upscaler

    return Upscaler(device="cpu", precision="fp32")


# ----------------------------------------------------------------------------------------------- basics


def test_help_has_examples_and_does_not_import_torch():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "eern_cli", "upscale", "--help"],
                            capture_output=True, text=True, env=cli_env(COLUMNS="100"), cwd=REPO, timeout=60)
    assert result.returncode == 0
    assert "Examples" in result.stdout and "--scale" in result.stdout and "Exit codes" in result.stdout
    assert not [line for line in result.stderr.splitlines() if line.rstrip().endswith(" torch")]


def test_single_file_next_to_input(tmp_path, capsys, reference):
    rgb = smooth()
    a = save(tmp_path / "a.png", rgb)
    code, out, err = eern(capsys, str(a))
    assert code == 0 and "a_x4.png" in err and "Done: 1 upscaled" in err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a_x4.png")), reference.upscale_array(rgb))


def test_output_file_format_from_its_name(tmp_path, capsys):
    a = save(tmp_path / "a.png", smooth())
    assert eern(capsys, str(a), "-o", str(tmp_path / "big.jpg"))[0] == 0
    assert Image.open(tmp_path / "big.jpg").format == "JPEG"


def test_folder_mirrors_tree(tmp_path, capsys):
    save(tmp_path / "in" / "a.png", smooth())
    save(tmp_path / "in" / "deep" / "er" / "b.jpg", smooth(), "JPEG")
    code, _, _ = eern(capsys, str(tmp_path / "in"), "-r", "-o", str(tmp_path / "out"), "-f", "webp")
    assert code == 0
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*")) == [
        "a.webp", "deep/er/b.webp"]


def test_scale_other_than_4(tmp_path, capsys):
    a = save(tmp_path / "a.png", smooth())
    assert eern(capsys, str(a), "--scale", "2")[0] == 0
    assert Image.open(tmp_path / "a_x2.png").size == (48, 40)
    assert eern(capsys, str(a), "--scale", "1.5", "-o", str(tmp_path / "c.png"))[0] == 0
    assert Image.open(tmp_path / "c.png").size == (36, 30)


def test_exit_codes_and_failure_summary(tmp_path, capsys):
    save(tmp_path / "in" / "good.png", smooth())
    (tmp_path / "in" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, _, err = eern(capsys, str(tmp_path / "in"), "-o", str(tmp_path / "out"))
    assert code == 1
    assert "Done: 1 upscaled, 0 skipped, 1 failed" in err and "Failed:" in err and "bad.png" in err
    assert "Traceback" not in err
    code, _, err = eern(capsys, str(tmp_path / "in" / "good.png"), "-o", str(tmp_path / "out2"))
    assert code == 0


@pytest.mark.parametrize("args,words", [
    (["--scale", "20"], "--scale"), (["--format", "xyz"], "unknown format"), (["--quality", "0"], "--quality"),
    (["--subsampling", "4:1:1"], "subsampling"), (["--alpha", "magic"], "alpha"),
    (["--compress-level", "12"], "compress-level"), (["--lossless", "-f", "png"], "WebP"),
    (["--tile", "3"], "tile"), (["--device", "tpu"], "device"), (["--precision", "fp8"], "precision"),
])
def test_bad_flag_values_are_one_line_usage_errors(tmp_path, capsys, args, words):
    a = save(tmp_path / "a.png", smooth())
    code, _, err = eern(capsys, str(a), *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eern: error:") and words in lines[0]
    assert not (tmp_path / "a_x4.png").exists()


def test_several_inputs_to_one_file_is_a_usage_error(tmp_path, capsys):
    a, b = save(tmp_path / "a.png", smooth()), save(tmp_path / "b.png", smooth())
    code, _, err = eern(capsys, str(a), str(b), "-o", str(tmp_path / "x.png"))
    assert code == 2 and "names one file" in err


def test_missing_input_and_unreadable_weights(tmp_path, capsys):
    code, _, err = eern(capsys, str(tmp_path / "nope.png"))
    assert code == 1 and err.strip().splitlines() == [err.strip()] and "nope.png" in err and "not found" in err
    a = save(tmp_path / "a.png", smooth())
    (tmp_path / "w.pt").write_bytes(b"not a checkpoint")
    code, _, err = eern(capsys, str(a), "--weights", str(tmp_path / "w.pt"))
    assert code != 0 and err.startswith("eern: error:") and "w.pt" in err and "Traceback" not in err


def test_cuda_where_there_is_none(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    a = save(tmp_path / "a.png", smooth())
    code, _, err = eern(capsys, str(a), "--device", "cuda")
    assert code == 1 and "CUDA" in err and "--device cpu" in err and len(err.strip().splitlines()) == 1


def test_json_summary_and_event_stream(tmp_path, capsys):
    a = save(tmp_path / "a.png", smooth())
    code, out, _ = eern(capsys, str(a), "--json", "--quiet")
    summary = json.loads(out)
    assert code == 0 and summary["done"] == 1 and summary["failed"] == 0
    code, out, _ = eern(capsys, str(a), "--events", "--overwrite", "--tile", "16")
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "summary"
    assert {"file_start", "tile", "file_done"} <= set(kinds)
    tiles = [e for e in events if e["event"] == "tile"]
    assert tiles[-1]["done"] == tiles[-1]["tiles"] > 1


def test_dry_run_and_quiet(tmp_path, capsys):
    a = save(tmp_path / "a.png", smooth())
    code, out, _ = eern(capsys, str(a), "--dry-run")
    assert code == 0 and out.split() == ["write", str(a), "->", str(tmp_path / "a_x4.png")]
    assert not (tmp_path / "a_x4.png").exists()
    assert eern(capsys, str(a), "--quiet")[1:] == ("", "")
    code, out, _ = eern(capsys, str(a), "--dry-run")
    assert out.startswith("skip") and "up to date" in out


def test_bomb_guard_names_file_and_limit(tmp_path, capsys):
    a = save(tmp_path / "big.png", smooth(100, 100))
    code, _, err = eern(capsys, str(a), "--max-pixels", "4096")
    assert code == 1 and "big.png" in err and "limit" in err and "--max-pixels" in err
    assert not (tmp_path / "big_x4.png").exists()


# ----------------------------------------------------------------------------------------------- image kinds


def _one(tmp_path, capsys, name: str, data: bytes, *args: str) -> Image.Image:
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / "out"
    code, _, err = eern(capsys, str(src), "-o", str(out), *args)
    assert code == 0, err
    (path,) = [p for p in out.iterdir()]
    im = Image.open(path)
    assert provenance.from_image(im) is not None or im.format == "BMP"
    return im


@pytest.mark.parametrize("mode,expected", [("RGB", "RGB"), ("L", "L"), ("RGBA", "RGBA"), ("LA", "LA"),
                                           ("P", "RGB"), ("1", "L")])
def test_kinds_keep_their_kind(tmp_path, capsys, mode, expected):
    base = Image.fromarray(disk_rgba(24) if mode in ("RGBA", "LA") else smooth(24, 24))
    im = base.convert(mode) if mode != "P" else base.quantize(32)
    out = _one(tmp_path, capsys, "k.png", encoded(im))
    assert out.mode == expected and out.size == (96, 96)


def test_bmp_in_and_out(tmp_path, capsys):
    out = _one(tmp_path, capsys, "b.bmp", encoded(smooth(), "BMP"))
    assert out.format == "BMP" and out.size == (96, 80)
    code, _, err = eern(capsys, str(tmp_path / "b.bmp"), "-o", str(tmp_path / "out"))
    assert code == 0 and "BMP cannot record provenance" in err  # kept, as BMP has no room for a record


def test_cmyk_jpeg(tmp_path, capsys):
    data = encoded(Image.fromarray(smooth()).convert("CMYK"), "JPEG", quality=95)
    out = _one(tmp_path, capsys, "c.jpg", data)
    assert out.format == "JPEG" and out.mode == "RGB" and out.size == (96, 80)


@pytest.mark.parametrize("name,channels", [("d.png", 3), ("d.png", 1), ("d.png", 4), ("d.tif", 3), ("d.tif", 1)])
def test_16_bit_in_16_bit_out(tmp_path, capsys, name, channels):
    deep = smooth(channels=channels, dtype=np.uint16) | 1
    buf = io.BytesIO()
    (png_writer.write_png if name.endswith("png") else lambda f, a: bit16.write_tiff16(f, [a]))(buf, deep)
    out_path = tmp_path / "out" / name
    _one(tmp_path, capsys, name, buf.getvalue())
    from eern_cli.images.decode import read_image

    decoded = read_image(out_path.read_bytes(), name)
    assert decoded.bits == 16 and decoded.size == (96, 80)
    assert len(np.unique(decoded.frames[0].color & 0xFF)) > 16  # the low byte carries information


def test_orientation_icc_dpi_exif(tmp_path, capsys):
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"
    data = encoded(smooth(24, 20), "JPEG", exif=exif, icc_profile=SRGB, dpi=(72, 72), quality=95)
    out = _one(tmp_path, capsys, "phone.jpg", data)
    assert out.size == (80, 96)  # upright: 20x24 -> x4
    assert out.info["icc_profile"] == SRGB and out.info["dpi"] == pytest.approx((288, 288), abs=1)
    assert out.getexif()[0x0112] == 1 and out.getexif()[0x010F] == "TestCam"


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF"])
def test_every_frame_is_upscaled(tmp_path, capsys, fmt):
    ims = [Image.fromarray(smooth(seed=i)) for i in range(3)]
    buf = io.BytesIO()
    ims[0].save(buf, fmt, save_all=True, append_images=ims[1:], **({} if fmt == "TIFF" else {"duration": 60}))
    out = _one(tmp_path, capsys, f"anim.{fmt.lower()}", buf.getvalue())
    assert out.n_frames == 3 and out.size == (96, 80)


def test_multi_frame_to_jpeg_is_refused_clearly(tmp_path, capsys):
    ims = [Image.fromarray(smooth(seed=i)) for i in range(2)]
    ims[0].save(tmp_path / "a.gif", save_all=True, append_images=ims[1:])
    code, _, err = eern(capsys, str(tmp_path / "a.gif"), "-f", "jpg")
    assert code == 1 and "2 frames" in err and "--format" in err


# ----------------------------------------------------------------------------------------------- pipes and faults


def test_standard_input_to_standard_output(tmp_path):
    data = encoded(smooth())
    result = run_eern("-", *FAST, input=data)
    assert result.returncode == 0, result.stderr.decode()
    out = Image.open(io.BytesIO(result.stdout))
    assert out.format == "PNG" and out.size == (96, 80)


def _batch_dir(root: Path, count: int) -> Path:
    for i in range(count):
        save(root / "in" / f"img{i:02d}.png", smooth(32, 24, seed=i))
    return root / "in"


def _wait_for(predicate, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def _finals(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*.png") if not p.name.startswith("."))


def _temps(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if atomic.is_temp(p.name)] if out.exists() else []


def test_ctrl_c_stops_cleanly_and_rerun_continues(tmp_path):
    src, out = _batch_dir(tmp_path, 10), tmp_path / "out"
    proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST), env=cli_env(EERN_TEST_ENCODE_DELAY="0.4"),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: out.exists() and len(_finals(out)) >= 2 and _temps(out))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Interrupted:" in err and "of 10 done" in err and "Traceback" not in err
    assert _temps(out) == []
    done = _finals(out)
    assert 2 <= len(done) < 10 and all(decodes_completely(p) for p in done)
    stamps = {p.name: p.stat().st_mtime_ns for p in done}
    rerun = run_eern(str(src), "-o", str(out), *FAST)
    assert rerun.returncode == 0 and f"{len(done)} skipped" in rerun.stderr.decode()
    assert len(_finals(out)) == 10 and all(p.stat().st_mtime_ns == stamps[p.name] for p in done)


def test_kill_9_leaves_only_complete_outputs(tmp_path, reference):
    src, out = _batch_dir(tmp_path, 10), tmp_path / "out"
    proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST), env=cli_env(EERN_TEST_ENCODE_DELAY="0.4"),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: out.exists() and len(_finals(out)) >= 2 and _temps(out))
    proc.kill()
    proc.wait(timeout=30)
    leftovers = _temps(out)
    assert leftovers  # killed in the middle of a write
    for path in _finals(out):  # every output under its final name is complete and right
        expected = reference.upscale_array(np.asarray(Image.open(src / path.name)))
        got = np.asarray(Image.open(path)).astype(int)
        assert np.abs(got - expected).max() <= 1  # another process, maybe another thread count: same to rounding
    before = {p.name: p.stat().st_ino for p in _finals(out)}
    rerun = run_eern(str(src), "-o", str(out), *FAST)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert len(_finals(out)) == 10 and _temps(out) == []
    assert all(out.joinpath(name).stat().st_ino == ino for name, ino in before.items())


def test_full_disk_fails_that_file_and_keeps_the_old_output(tmp_path):
    a = save(tmp_path / "a.png", smooth(64, 64))
    old = save(tmp_path / "a_x4.png", np.zeros((8, 8, 3), np.uint8)).read_bytes()

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))

    result = run_eern(str(a), "--overwrite", "--compress-level", "0", *FAST, preexec_fn=limit)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "too large" in err and "a_x4.png" in err and "Traceback" not in err
    assert (tmp_path / "a_x4.png").read_bytes() == old and _temps(tmp_path) == []


@contextlib.contextmanager
def _read_only(folder: Path):
    """Make ``folder`` unwritable: chmod for a normal user; as root (who ignores permission bits) a read-only
    bind mount, else the immutable attribute; skip if neither is possible here."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield "permission denied"
        finally:
            folder.chmod(0o755)
        return
    for on, off, words in (
        ([["mount", "--bind", str(folder), str(folder)], ["mount", "-o", "remount,bind,ro", str(folder)]],
         [["umount", str(folder)]], "read-only"),
        ([["chattr", "+i", str(folder)]], [["chattr", "-i", str(folder)]], "permission denied"),
    ):
        try:
            for cmd in on:
                subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            for cmd in off:
                subprocess.run(cmd, capture_output=True, timeout=30)
            continue
        try:
            yield words
        finally:
            for cmd in off:
                subprocess.run(cmd, capture_output=True, timeout=30)
        return
    pytest.skip("cannot make a read-only folder here (root without mount or chattr)")


def test_read_only_output_folder(tmp_path):
    a = save(tmp_path / "a.png", smooth())
    with _read_only(tmp_path / "locked") as words:
        result = run_eern(str(a), "-o", str(tmp_path / "locked"), *FAST)
        err = result.stderr.decode()
        assert result.returncode == 1, err
        assert words in err and "locked" in err and "Traceback" not in err
        assert list((tmp_path / "locked").iterdir()) == []


@pytest.mark.soak
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_soak_signals_at_random_moments(tmp_path, sig):
    """Many runs stopped at random moments: never a broken output, never a temp left after a clean stop, and
    re-runs always converge on the full set."""
    import random

    rng = random.Random(sig)
    src, out = _batch_dir(tmp_path, 24), tmp_path / "out"
    for _ in range(8):
        proc = subprocess.Popen(eern_cmd(str(src), "-o", str(out), *FAST),
                                env=cli_env(EERN_TEST_ENCODE_DELAY=str(rng.choice([0, 0.05, 0.2]))),
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 6.0))
        proc.send_signal(sig)
        proc.wait(timeout=60)
        assert all(decodes_completely(p) for p in _finals(out))
        if sig != signal.SIGKILL and proc.returncode == 130:
            assert _temps(out) == []
    assert run_eern(str(src), "-o", str(out), *FAST).returncode == 0
    assert len(_finals(out)) == 24 and _temps(out) == []


# ----------------------------------------------------------------------------------- conventions (issue 11)


def test_image_data_is_refused_to_a_terminal_as_gzip_does(tmp_path):
    """``eern upscale - < a.png`` with a terminal as stdout used to write PNG bytes to it and exit 0."""
    import pty

    image = save(tmp_path / "a.png", smooth())
    master, slave = pty.openpty()
    try:
        with open(image, "rb") as stdin:
            result = subprocess.run(eern_cmd("-", *FAST), stdin=stdin, stdout=slave, stderr=subprocess.PIPE,
                                    env=cli_env(), timeout=120, cwd=REPO)
        os.set_blocking(master, False)
        try:
            written = os.read(master, 1 << 16)
        except BlockingIOError:
            written = b""
    finally:
        os.close(master)
        os.close(slave)
    err = result.stderr.decode()
    assert result.returncode == 2 and written == b""
    assert len(err.strip().splitlines()) == 1 and err.startswith("eern: error:") and "-o FILE" in err and "pipe" in err


def test_dry_run_json_is_the_plan_alone_and_claims_nothing_done(tmp_path, capsys):
    folder = tmp_path / "in"
    save(folder / "a.png", smooth())
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, out, err = eern(capsys, str(folder), "-o", str(tmp_path / "out"), "--dry-run", "--json")
    assert code == 0
    document = json.loads(out)  # nothing but the JSON on stdout
    assert document["schema"] == "eern.upscale/1" and document["dry_run"] is True
    assert "done" not in document and document["planned"] == 2
    files = {Path(f["input"]).name: f for f in document["files"]}
    assert files["a.png"]["status"] == "planned" and files["a.png"]["action"] == "write"
    assert files["a.png"]["notes"] == []
    assert files["bad.png"]["notes"] and files["bad.png"]["notes"][0].startswith("could not be read")
    assert "[2/2] would write" in err and not (tmp_path / "out").exists()
    code, out, _ = eern(capsys, str(folder), "-o", str(tmp_path / "out"), "--dry-run")
    assert "could not be read" in out.splitlines()[1]  # the plain list says it too


def test_json_lists_every_output_written_skipped_and_failed(tmp_path, capsys):
    folder = tmp_path / "in"
    save(folder / "a.png", smooth())
    save(folder / "b.png", smooth(seed=1))
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out_dir = tmp_path / "out"
    assert eern(capsys, str(folder / "a.png"), "-o", str(out_dir) + "/")[0] == 0
    code, out, _ = eern(capsys, str(folder), "-o", str(out_dir), "--json", "--quiet")
    document = json.loads(out)
    assert code == 1 and document["done"] == 1 and "planned" not in document
    status = {Path(f["input"]).name: f["status"] for f in document["files"]}
    assert status == {"a.png": "skipped", "b.png": "written", "c.png": "failed"}
    failed = next(f for f in document["files"] if f["status"] == "failed")
    assert failed["error"] and failed["output"].endswith("c.png")
    assert [f["index"] for f in document["files"]] == [1, 2, 3]


def test_progress_lines_come_in_input_order_each_with_its_number(tmp_path, capsys):
    """A file that fails to decode is known before an earlier file is written: its line used to come first,
    without its [i/N]."""
    folder = tmp_path / "in"
    save(folder / "a.png", smooth(40, 40))
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    save(folder / "c.png", smooth(seed=2))
    code, _, err = eern(capsys, str(folder), "-o", str(tmp_path / "out"))
    numbered = [line for line in err.splitlines() if line.startswith("[")]
    assert code == 1 and [line.split("]")[0] for line in numbered] == ["[1/3", "[2/3", "[3/3"]
    assert "a.png" in numbered[0] and "eern: error:" in numbered[1] and "b.png" in numbered[1]


def test_a_pipe_s_progress_line_reads_naturally():
    result = run_eern("-", *FAST, input=encoded(smooth()))
    err = result.stderr.decode()
    assert result.returncode == 0 and "- -> -" not in err
    assert "[1/1] standard input -> standard output (96x80" in err


def test_quality_on_png_output_is_said_to_be_ignored_once(tmp_path, capsys):
    save(tmp_path / "a.png", smooth())
    save(tmp_path / "b.png", smooth(seed=1))
    code, _, err = eern(capsys, str(tmp_path), "-q", "80", "--dry-run")
    assert code == 0 and err.count("--quality applies to JPEG, WebP, HEIC and AVIF only; ignored for png") == 1
    code, _, err = eern(capsys, str(tmp_path), "-q", "80", "-f", "jpg", "--dry-run")
    assert "--quality" not in err


@pytest.mark.parametrize("args", [[], ["--alpha", "bogus-value", "x.png"], ["x.png", "--no-such-flag"],
                                  ["x.png", "--scale", "many"], ["x.png", "--alpha"]])
def test_click_s_own_usage_errors_are_one_line_too(args):
    result = subprocess.run([sys.executable, "-m", "eern_cli", "upscale", *args], capture_output=True, text=True,
                            env=cli_env(), timeout=60, cwd=REPO)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("eern: error:"), result.stderr
    assert "╭" not in result.stderr and result.stdout == ""
    if not args:
        assert "missing argument 'INPUT'" in lines[0]


def test_the_model_s_short_flags_are_the_same_as_benchmark_s(tmp_path, capsys):
    a = save(tmp_path / "a.png", smooth())
    weights = str(REPO / "weights" / "team25_EERN.pt")
    code, _, _ = eern(capsys, str(a), "-d", "cpu", "-p", "fp32", "-t", "16", "-w", weights)
    assert code == 0 and (tmp_path / "a_x4.png").exists()


def _imports_torch(*args: str, cwd: Path) -> tuple[int, bool]:
    """Run ``eern ARGS`` in a fresh interpreter; return its exit code and whether torch got imported."""
    probe = ("import sys\nfrom eern_cli.cli.app import main\ncode = 0\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit as exc:\n    code = exc.code or 0\n"
             "print('TORCH', 'torch' in sys.modules, code, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=cli_env(),
                            timeout=120, cwd=cwd)
    verdict = result.stderr.strip().splitlines()[-1].split()
    assert verdict[0] == "TORCH", result.stderr
    return int(verdict[2]), verdict[1] == "True"


def test_dry_run_help_and_an_up_to_date_rerun_do_not_import_torch(tmp_path):
    from eern_cli.engine.choices import surely_cpu_only

    save(tmp_path / "a.png", smooth())
    save(tmp_path / "b.png", smooth(seed=1))
    for command in (["--help"], ["upscale", "--help"], ["info", "--help"], ["benchmark", "--help"],
                    ["export", "--help"]):
        assert _imports_torch(*command, cwd=tmp_path) == (0, False), command
    if not surely_cpu_only():
        pytest.skip("a GPU may be here: 'auto' asks torch")
    assert _imports_torch("upscale", "a.png", "b.png", "-p", "fp32", "--dry-run", cwd=tmp_path) == (0, False)
    # the model runs (and, for --precision auto, the CPU's measurement is cached, under OMP_NUM_THREADS=1)
    assert _imports_torch("upscale", "a.png", "b.png", "--quiet", cwd=tmp_path) == (0, True)
    assert _imports_torch("upscale", "a.png", "b.png", cwd=tmp_path) == (0, False)  # all up to date
    assert _imports_torch("upscale", "a.png", "b.png", "--dry-run", cwd=tmp_path) == (0, False)


def test_debug_travels_in_the_context_not_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EERN_DEBUG", raising=False)
    a = save(tmp_path / "a.png", smooth())
    (tmp_path / "w.pt").write_bytes(b"garbage")
    with pytest.raises(Exception) as raised:
        main(["--debug", "upscale", str(a), *FAST, "--weights", str(tmp_path / "w.pt")])
    assert "w.pt" in str(raised.value) and "EERN_DEBUG" not in os.environ
