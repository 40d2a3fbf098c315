"""Videos through the batch, end to end: every frame equal to upscaling that decoded frame, frame count, times
and audio kept; kill -9 at random moments then a re-run gives the file a clean run gives; bad videos refused
with one line while the rest of the batch is done; the missing extra named."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers_images import FAST, REPO, cli_env, eern_cmd, run_eern
from helpers_video import add_silence, audio_samples, av, make_video, video_frames, video_stamps

from eern_cli.batch import runner as batch
from eern_cli.batch.frames import upscale_frame
from eern_cli.batch.planner import plan
from eern_cli.images.decode import Frame
from eern_cli.video.chunks import work_folder
from eern_cli.video.encode import VideoOptions
from eern_cli.video.runner import read_record

CLI = [*FAST, "--threads", "1"]


@pytest.fixture(scope="module")
def upscaler(device):
    import torch

    from eern_cli.upscaler import Upscaler

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny frames gain nothing from more; a busy machine makes spinning threads slow
    yield Upscaler(device=device, precision="fp32")
    torch.set_num_threads(threads)


def run(upscaler, inputs, events=None, output=None, **video):
    jobs = plan([str(i) for i in inputs], output=output).jobs
    return batch.run(jobs, upscaler, batch.RunOptions(video=VideoOptions(**video)), events)


def upscaled_source(upscaler, path):
    return [upscale_frame(upscaler, Frame(rgb)).color for rgb in video_frames(path)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_lossless_video_is_every_frame_upscaled_exactly_with_times_and_audio_kept(tmp_path, upscaler):
    src = make_video(tmp_path / "clip.mkv", frames=12, fps=12)
    events = []
    summary = run(upscaler, [src], events.append, codec="ffv1", chunk_seconds=0.34)
    out = tmp_path / "clip_x4.mkv"
    assert (summary.done, summary.failed) == (1, 0)
    frames = video_frames(out)
    expected = upscaled_source(upscaler, src)
    assert len(frames) == len(expected) == 12
    for mine, theirs in zip(frames, expected):  # FFV1 stores RGB: 0 grey levels
        np.testing.assert_array_equal(mine, theirs)
    times, duration, width, height = video_stamps(out)
    src_times, src_duration, *_ = video_stamps(src)
    assert (width, height) == (192, 128)
    assert times == pytest.approx(src_times, abs=1e-3) and duration == pytest.approx(src_duration, abs=1e-3)
    np.testing.assert_array_equal(audio_samples(out), audio_samples(src))
    chunks = [e for e in events if e["event"] == "chunk"]
    assert [e["chunk"] for e in chunks] == [1, 2, 3] and chunks[-1]["frames_done"] == 12
    assert not work_folder(out).exists()
    record = read_record(out)
    assert record is not None and record.tool == "eern" and record.scale == 4.0
    again = run(upscaler, [src], events.append, codec="ffv1", chunk_seconds=0.34)
    assert again.skipped == 1 and events[-2]["reason"] == "up to date"
    assert run(upscaler, [src], codec="ffv1", chunk_seconds=0.5).done == 1  # other settings: redone
    planned = []
    jobs = plan([str(src)], output=str(tmp_path / "new.mkv")).jobs
    batch.run(jobs, upscaler, batch.RunOptions(dry_run=True), planned.append)
    assert [e["action"] for e in planned if e["event"] == "plan"] == ["write"]
    assert not (tmp_path / "new.mkv").exists() and not work_folder(tmp_path / "new.mkv").exists()


def test_default_mp4_is_within_the_codec_loss_of_the_upscaled_frames(tmp_path, upscaler):
    src = make_video(tmp_path / "clip.mp4", frames=6, fps=12)
    assert run(upscaler, [src], output=tmp_path / "big.mp4").done == 1
    frames = video_frames(tmp_path / "big.mp4")
    expected = upscaled_source(upscaler, src)
    assert len(frames) == 6
    # H.264 at CRF 18 with 4:2:0 chroma: at least 30 dB from the upscaled frames (RGB PSNR, 0..255 scale).
    assert min(psnr(a, b) for a, b in zip(frames, expected)) > 30
    np.testing.assert_array_equal(audio_samples(tmp_path / "big.mp4"), audio_samples(src))
    assert video_stamps(tmp_path / "big.mp4")[1] == pytest.approx(video_stamps(src)[1], abs=1e-3)


# ----------------------------------------------------------------------------------------------- real processes


def test_kill_9_or_ctrl_c_at_random_moments_then_a_rerun_gives_the_clean_runs_file(tmp_path):
    """H.264 in MKV, 4 chunks: a kill loses at most the chunk in flight; the finished file is byte-identical."""
    src = make_video(tmp_path / "clip.mkv", frames=12, fps=12)
    args = [str(src), *CLI, "--chunk-seconds", "0.25", "--events"]
    clean = tmp_path / "clean.mkv"
    assert run_eern(*args, "-o", str(clean), timeout=300).returncode == 0
    reference = clean.read_bytes()
    rng = random.Random(14)
    out = tmp_path / "out.mkv"
    for trial, sig in enumerate((signal.SIGKILL, signal.SIGINT)):
        process = subprocess.Popen(eern_cmd(*args, "-o", str(out)), stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=cli_env(), cwd=REPO)
        chunks_to_wait = rng.randint(0, 3)
        for line in process.stdout:  # wait for that many finished chunks (0: kill during start-up)
            if chunks_to_wait and json.loads(line)["event"] == "chunk":
                chunks_to_wait -= 1
            if chunks_to_wait == 0:
                break
        time.sleep(rng.uniform(0, 0.3))
        process.send_signal(sig)
        code = process.wait(timeout=300)
        process.stdout.close()
        if sig == signal.SIGINT:  # Ctrl-C: stops cleanly, no temporary file left anywhere
            assert code in (0, 130) and not list(tmp_path.rglob("*.tmp"))
        assert not out.exists() or out.read_bytes() == reference  # never a half-written output
        result = run_eern(*args, "-o", str(out), "--overwrite", timeout=300)
        assert result.returncode == 0, result.stderr.decode()
        events = [json.loads(line) for line in result.stdout.splitlines()]
        done = [e for e in events if e["event"] == "file_done"][0]
        assert out.read_bytes() == reference, (trial, done["notes"])
        assert not work_folder(out).exists() and not list(tmp_path.rglob("*.tmp"))
        out.unlink()


def test_bad_videos_are_refused_with_one_line_and_the_rest_of_the_batch_is_done(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = make_video(folder / "good.mkv", frames=3, audio=False)
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(2).bytes(4000))
    whole = make_video(tmp_path / "whole.mkv", frames=24, audio=False).read_bytes()
    (folder / "cut.mkv").write_bytes(whole[: len(whole) * 2 // 3])
    with av.open(str(folder / "sound.webm"), "w") as container:  # audio only
        add_silence(container, "libopus", 48000)
    result = run_eern(str(folder), *CLI, "-o", str(tmp_path / "out"))
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err
    for name, why in (("corrupt.mp4", "not a video eern can read"), ("cut.mkv", "truncated"),
                      ("sound.webm", "no video stream")):
        lines = [line for line in err.splitlines() if "eern: error:" in line and name in line]
        assert len(lines) == 1 and why in lines[0], err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.mkv"]
    assert len(video_frames(tmp_path / "out" / "good.mkv")) == 3 and good.exists()


def test_without_pyav_the_extra_to_install_is_named(tmp_path):
    src = make_video(tmp_path / "clip.mkv", frames=2, audio=False)
    blocked = ("import sys; sys.modules['av'] = None; from eern_cli.cli.app import main; "
               "main(sys.argv[1:])")

    def eern(*args):
        return subprocess.run([sys.executable, "-c", blocked, "upscale", *args], capture_output=True, env=cli_env(),
                              cwd=REPO, timeout=120)

    result = eern(str(src), *CLI)
    assert result.returncode == 1 and "pip install 'eern[video]'" in result.stderr.decode()
    assert not (tmp_path / "clip_x4.mkv").exists()
    flag = eern(str(src), "--codec", "h264")
    assert flag.returncode == 2 and "pip install 'eern[video]'" in flag.stderr.decode()
    assert len(flag.stderr.decode().strip().splitlines()) == 1
