"""Running a batch (``batch/runner.py``): isolation, resume via provenance, events, interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers_images import decodes_completely, encoded, save, smooth
from PIL import Image

from eern_cli.batch import runner as batch
from eern_cli.batch.planner import plan
from eern_cli.images import atomic, provenance
from eern_cli.images.encode import EncodeOptions
from eern_cli.upscaler import Upscaler
from eern_cli.weights.checkpoints import sha256_file


def run(upscaler, inputs, *, events=None, **kw):
    plan_kw = {k: kw.pop(k) for k in ("output", "recursive", "suffix", "fmt") if k in kw}
    encode_kw = {k: kw.pop(k) for k in ("quality", "subsampling", "lossless") if k in kw}
    jobs = plan([str(i) for i in inputs], scale=kw.get("scale", 4.0), **plan_kw).jobs
    options = batch.RunOptions(encode=EncodeOptions(**encode_kw), **kw)
    return batch.run(jobs, upscaler, options, events)


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------------------------- running


def test_one_bad_file_never_stops_the_batch(tmp_path, upscaler):
    src = tmp_path / "in"
    for i in range(3):
        save(src / f"good{i}.png", smooth(seed=i))
    data = encoded(smooth(64, 64), "JPEG")
    (src / "cut.jpg").write_bytes(data[: len(data) // 2])
    (src / "text.png").write_text("not an image")
    (src / "zero.png").write_bytes(b"")
    events = []
    summary = run(upscaler, [src], output=tmp_path / "out", events=events.append)
    assert (summary.done, summary.failed, summary.skipped) == (3, 3, 0)
    assert tree(tmp_path / "out") == ["good0.png", "good1.png", "good2.png"]
    reasons = {Path(f["input"]).name: f["error"] for f in summary.failures}
    assert "truncated" in reasons["cut.jpg"] and "not an image" in reasons["text.png"]
    assert "empty" in reasons["zero.png"]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "summary" and kinds.count("file_failed") == 3
    assert all(decodes_completely(p) for p in (tmp_path / "out").iterdir())


def test_output_is_the_model_result_with_provenance(tmp_path, upscaler):
    rgb = smooth()
    a = save(tmp_path / "a.png", rgb)
    run(upscaler, [a])
    out = Image.open(tmp_path / "a_x4.png")
    assert np.array_equal(np.asarray(out), upscaler.upscale_array(rgb))
    record = provenance.from_image(out)
    assert record.input_sha256 == sha256_file(a)
    assert record.weights_sha256 == upscaler.weights.sha256 and record.precision == "fp32" and record.scale == 4


def test_events_follow_each_file(tmp_path, upscaler):
    a = save(tmp_path / "a.png", smooth())
    events = []
    run(upscaler, [a], events=events.append)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and "file_start" in kinds and "tile" in kinds
    assert kinds.index("file_start") < kinds.index("tile") < kinds.index("file_done") < kinds.index("summary")
    done = next(e for e in events if e["event"] == "file_done")
    assert done["width"] == 96 and done["height"] == 80 and done["output"].endswith("a_x4.png")


def test_resume_skips_done_outputs_and_redoes_stale_ones(tmp_path, upscaler):
    src = tmp_path / "in"
    for i in range(3):
        save(src / f"{i}.png", smooth(seed=i))
    out = tmp_path / "out"
    assert run(upscaler, [src], output=out).done == 3
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    again = run(upscaler, [src], output=out)
    assert (again.done, again.skipped) == (0, 3)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    save(src / "1.png", smooth(seed=42))  # a changed input is redone ...
    changed = run(upscaler, [src], output=out)
    assert (changed.done, changed.skipped) == (1, 2)
    assert out.joinpath("0.png").stat().st_mtime_ns == stamps["0.png"]

    other = run(upscaler, [src], output=out, alpha="bicubic")  # ... and so is every output of other settings
    assert other.done == 3

    forced = run(upscaler, [src], output=out, alpha="bicubic", overwrite=True)
    assert forced.done == 3


def test_resume_respects_lossy_settings(tmp_path, upscaler):
    a = save(tmp_path / "a.png", smooth())
    assert run(upscaler, [a], fmt="jpg", quality=80).done == 1
    assert run(upscaler, [a], fmt="jpg", quality=80).skipped == 1
    assert run(upscaler, [a], fmt="jpg", quality=60).done == 1


def test_foreign_file_at_the_output_is_left_alone(tmp_path, upscaler):
    a = save(tmp_path / "a.png", smooth())
    foreign = save(tmp_path / "a_x4.png", np.zeros((4, 4, 3), np.uint8))
    before = foreign.read_bytes()
    events = []
    summary = run(upscaler, [a], events=events.append)
    assert summary.skipped == 1 and foreign.read_bytes() == before
    assert "not made by eern" in next(e for e in events if e["event"] == "file_skipped")["reason"]
    assert run(upscaler, [a], overwrite=True).done == 1 and foreign.read_bytes() != before


def test_dry_run_writes_nothing(tmp_path, upscaler):
    a = save(tmp_path / "a.png", smooth())
    b = save(tmp_path / "b.png", smooth(seed=1))
    run(upscaler, [b])
    events = []
    summary = run(upscaler, [a, b], dry_run=True, events=events.append)
    plans = [(e["input"], e["action"]) for e in events if e["event"] == "plan"]
    assert plans == [(str(a), "write")] and summary.skipped == 1
    assert not (tmp_path / "a_x4.png").exists()


def test_stale_temps_of_a_crashed_run_are_swept(tmp_path, upscaler):
    a = save(tmp_path / "in" / "a.png", smooth())
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.png.eern-999999999-0123abcd.tmp"
    stale.write_bytes(b"half a png")
    run(upscaler, [a], output=out)
    assert tree(out) == ["a.png"]


@pytest.mark.parametrize("model", ["upscaler", "batching"])  # one by one, and the 6 images as one batch
def test_interrupt_stops_cleanly(tmp_path, model, request):
    upscaler = request.getfixturevalue(model)
    src = tmp_path / "in"
    for i in range(6):
        save(src / f"{i}.png", smooth(seed=i))
    out = tmp_path / "out"
    seen = []

    def on_event(e):
        seen.append(e)
        if e["event"] == "tile" and e["index"] == 3:  # in a batch: after the forward, 1 and 2 being written
            raise KeyboardInterrupt

    summary = run(upscaler, [src], output=out, events=on_event)
    assert summary.interrupted and summary.done <= 2 and seen[-1]["event"] == "summary"
    written = list(out.iterdir()) if out.exists() else []
    assert all(decodes_completely(p) for p in written)
    assert not [p for p in written if atomic.is_temp(p.name)]
    rest = run(upscaler, [src], output=out)
    assert rest.done + rest.skipped == 6 and rest.skipped == summary.done


# ----------------------------------------------------------------------------------------------- small images


def forward_batch_sizes(upscaler, monkeypatch) -> list[int]:
    """The batch size of every forward ``upscaler`` runs from now on (a spy that calls the real one)."""
    sizes = []
    real = upscaler.forward_whole

    def spy(x):
        sizes.append(x.shape[0])
        return real(x)

    monkeypatch.setattr(upscaler, "forward_whole", spy)
    return sizes


@pytest.fixture(scope="module")
def batching(device):
    """bf16 on the CPU: same-shape small images share one forward (``Upscaler.batch_size``)."""
    if device != "cpu":
        pytest.skip("batches run on the CPU only (Upscaler.batch_size)")
    return Upscaler(device=device, precision="bf16")


def test_small_images_of_one_shape_share_a_forward(tmp_path, batching, monkeypatch):
    """Landscape and portrait images alternate; each shape goes through the model as one batch, and every output
    is what the image gives alone (tolerance: 0 levels). A broken file, an RGBA image and an up-to-date output
    among them keep their own outcome, and every file gets its own events."""
    src, out = tmp_path / "in", tmp_path / "out"
    images = {}
    for i in range(8):
        images[f"{i}.png"] = smooth(*((24, 20) if i % 3 else (20, 24)), seed=i)  # 3 portrait, 5 landscape
    for name, rgb in images.items():
        save(src / name, rgb)
    rgba = np.dstack([smooth(24, 20, seed=9), np.full((20, 24), 200, np.uint8)])
    save(src / "5a.png", rgba)
    (src / "3a.png").write_text("not an image")
    run(batching, [src / "4.png"], output=out)  # 4.png is up to date: skipped in the middle of its group
    sizes = forward_batch_sizes(batching, monkeypatch)
    events = []
    summary = run(batching, [src], output=out, events=events.append)
    assert (summary.done, summary.skipped, summary.failed) == (8, 1, 1)
    assert sorted(sizes) == [1, 1, 3, 4]  # 3 portrait, 4 landscape (one skipped), RGBA colour and alpha alone
    for name, rgb in images.items():
        assert np.array_equal(np.asarray(Image.open(out / name)), batching.upscale_array(rgb)), name
    names = {e["index"]: Path(e["input"]).name for e in events if "input" in e}
    kinds = {}
    for e in events:
        if "index" in e:
            kinds.setdefault(names[e["index"]], []).append(e["event"])
    assert kinds.pop("4.png") == ["file_skipped"] and kinds.pop("3a.png") == ["file_failed"]
    assert kinds.pop("5a.png") == ["file_start", "tile", "tile", "file_done"]  # colour and alpha
    assert kinds == {name: ["file_start", "tile", "file_done"] for name in images if name != "4.png"}
    done = [e for e in events if e["event"] == "file_done" and e["input"].endswith(tuple(images))]
    assert all(e["width"] == 4 * images[Path(e["input"]).name].shape[1] for e in done) and len(done) == 7


def test_a_file_that_fails_in_a_group_fails_alone(tmp_path, batching, monkeypatch):
    """Four images share a forward; the output folder of one cannot be made (a file is in its place)."""
    src, out = tmp_path / "in", tmp_path / "out"
    for i in range(3):
        save(src / f"{i}.png", smooth(seed=i))
    save(src / "sub" / "3.png", smooth(seed=3))
    out.mkdir()
    (out / "sub").write_text("a file where the output folder would be")
    sizes = forward_batch_sizes(batching, monkeypatch)
    summary = run(batching, [src], output=out, recursive=True)
    assert sizes == [4] and (summary.done, summary.failed) == (3, 1)
    assert summary.failures[0]["input"].endswith("3.png")
    assert tree(out) == ["0.png", "1.png", "2.png", "sub"]


def test_multi_frame_to_a_single_frame_format_fails_before_inference(tmp_path, upscaler):
    ims = [Image.fromarray(smooth(seed=i)) for i in range(2)]
    ims[0].save(tmp_path / "anim.gif", save_all=True, append_images=ims[1:], duration=40)
    events = []
    summary = run(upscaler, [tmp_path / "anim.gif"], fmt="jpg", events=events.append)
    assert summary.failed == 1 and "holds one" in summary.failures[0]["error"]
    assert "file_start" not in [e["event"] for e in events]
    assert run(upscaler, [tmp_path / "anim.gif"]).done == 1
    with Image.open(tmp_path / "anim_x4.gif") as im:
        assert im.n_frames == 2 and im.size == (96, 80)


def test_statistics_are_filled(tmp_path, upscaler):
    a = save(tmp_path / "a.png", smooth())
    summary = run(upscaler, [a])
    assert summary.seconds > 0 and summary.model_seconds > 0 and summary.encode_seconds > 0
    assert set(summary.to_dict()) >= {"total", "done", "skipped", "failed", "failures", "interrupted"}


def sleeping_model(device: str):
    """A model that takes 0.2 s per image and needs no core (it sleeps), on ``device``."""
    import time
    from types import SimpleNamespace

    def slow_nearest(array, progress=None):
        time.sleep(0.2)
        return np.repeat(np.repeat(array, 4, axis=0), 4, axis=1)

    return SimpleNamespace(upscale_array=slow_nearest, weights=SimpleNamespace(sha256="0" * 64),
                           precision="fp32", tile=0, device=device)


def test_encoding_overlaps_a_gpu_model(tmp_path, monkeypatch):
    """With a model on a GPU and an encoder that each take 0.2 s, a batch of 6 takes about 6 x 0.2 s, not
    6 x 0.4 s: decode and encode run beside the model."""
    src = tmp_path / "in"
    for i in range(6):
        save(src / f"{i}.png", smooth(seed=i))
    monkeypatch.setenv("EERN_TEST_ENCODE_DELAY", "0.2")
    summary = run(sleeping_model("cuda"), [src], output=tmp_path / "out")
    assert summary.done == 6
    assert summary.model_seconds >= 1.2 and summary.encode_seconds >= 1.2
    assert summary.seconds < 0.8 * (summary.model_seconds + summary.encode_seconds), summary


def test_encoding_takes_turns_with_a_cpu_model_on_every_core(tmp_path, monkeypatch):
    """A CPU model with a torch thread on every core: the encoders run between its calls, never beside it
    (a core taken from one of torch's threads stalls them all), so the times add up."""
    import os

    import torch

    src = tmp_path / "in"
    for i in range(6):
        save(src / f"{i}.png", smooth(seed=i))
    monkeypatch.setenv("EERN_TEST_ENCODE_DELAY", "0.2")
    threads = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        summary = run(sleeping_model("cpu"), [src], output=tmp_path / "out")
    finally:
        torch.set_num_threads(threads)
    assert summary.done == 6
    assert summary.model_seconds >= 1.2 and summary.encode_seconds >= 1.2
    assert summary.seconds > 0.95 * (summary.model_seconds + summary.encode_seconds), summary
