"""``UpscaleBatch``: called directly on batches, and through ``Dataset.map_batches`` on a real local Ray
instance; every image equals ``Upscaler``'s (exactly: same code, same precision, 0 grey levels apart)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_images import disk_rgba, save, smooth
from PIL import Image

from eern_cli.batch.frames import upscale_frame
from eern_cli.errors import InputImageError
from eern_cli.images.decode import Frame
from eern_cli.raydata import UpscaleBatch


@pytest.fixture(scope="module")
def stage(device) -> UpscaleBatch:
    return UpscaleBatch(device=device, precision="fp32", threads=1)


def test_batch_of_one_size_comes_back_stacked_other_columns_untouched(stage):
    images = np.stack([smooth(20, 16, seed=1), smooth(20, 16, seed=2)])
    out = stage({"image": images, "path": np.array(["a.png", "b.png"]), "label": np.array([3, 4])})
    assert out["image"].shape == (2, 64, 80, 3) and out["image"].dtype == np.uint8
    for image, result in zip(images, out["image"], strict=True):
        assert np.array_equal(result, stage.upscaler.upscale_array(image))  # 0 grey levels apart
    assert list(out["path"]) == ["a.png", "b.png"] and list(out["label"]) == [3, 4]


def test_every_kind_of_image_keeps_its_channels_and_dtype(stage):
    rgba = disk_rgba(16)
    grey16 = smooth(12, 10, channels=1, dtype=np.uint16)
    grey_alpha = np.stack([smooth(12, 10, channels=1), rgba[:10, :12, 3]], axis=2)
    column = np.empty(4, dtype=object)
    for i, image in enumerate([rgba, grey16, grey_alpha, grey16[..., None]]):
        column[i] = image
    out = stage({"image": column})["image"]
    assert [o.shape for o in out] == [(64, 64, 4), (40, 48), (40, 48, 2), (40, 48, 1)]
    assert [o.dtype for o in out] == [np.uint8, np.uint16, np.uint8, np.uint16]
    frame = upscale_frame(stage.upscaler, Frame(rgba[..., :3].copy(), rgba[..., 3].copy()))  # as eern upscale does
    assert np.array_equal(out[0][..., :3], frame.color) and np.array_equal(out[0][..., 3], frame.alpha)
    assert np.array_equal(out[1], stage.upscaler.upscale_array(grey16))
    assert np.array_equal(out[3][..., 0], out[1])


def test_bad_batches_are_refused_with_what_to_do(stage):
    with pytest.raises(InputImageError, match="column"):
        stage({"pixels": np.zeros((1, 4, 4, 3), np.uint8)})
    with pytest.raises(InputImageError, match="uint8 or uint16"):
        stage({"image": np.zeros((1, 4, 4, 3), np.float64)})
    with pytest.raises(InputImageError, match="H x W x C"):
        stage({"image": np.zeros((1, 4, 4, 5), np.uint8)})


def test_map_batches_on_a_local_cluster_equals_upscaler(tmp_path, stage, device):
    ray = pytest.importorskip("ray", reason="the Ray extra is not installed: pip install 'eern[ray]'")
    sizes = [(24, 20), (31, 17), (24, 20), (16, 28), (40, 12)]  # variable sizes, two alike
    for i, (w, h) in enumerate(sizes):
        save(tmp_path / f"{i}.png", smooth(w, h, seed=i))
    # Logical CPUs: 2 for the actor pool, 1 for the read task (with 2, the pool takes both and the read waits).
    ray.init(num_cpus=3, include_dashboard=False, object_store_memory=80 * 2**20, logging_level="ERROR",
             log_to_driver=False)
    try:
        ds = ray.data.read_images(str(tmp_path), include_paths=True)
        ds = ds.map_batches(UpscaleBatch, fn_constructor_kwargs={"device": device, "precision": "fp32", "threads": 1},
                            compute=ray.data.ActorPoolStrategy(size=2), batch_size=2).materialize()
        rows = ds.take_all()
        ds.write_images(str(tmp_path / "out"), column="image", file_format="png")  # the README's last line
    finally:
        ray.shutdown()
    assert len(rows) == len(sizes)
    expected = {}
    for row in rows:
        i = int(row["path"].rsplit("/", 1)[1].split(".")[0])
        w, h = sizes[i]
        expected[i] = stage.upscaler.upscale_array(smooth(w, h, seed=i))
        assert np.array_equal(row["image"], expected[i])  # 0 grey levels apart
    written = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "out").iterdir())]
    assert len(written) == len(sizes)
    assert all(any(w.shape == e.shape and np.array_equal(w, e) for e in expected.values()) for w in written)
