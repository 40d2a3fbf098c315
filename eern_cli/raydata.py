"""EERN as a Ray Data stage, for people who already have a pipeline::

    ds = ray.data.read_images("s3://bucket/photos")
    ds = ds.map_batches(UpscaleBatch, fn_constructor_kwargs={"device": "cuda"},
                        compute=ray.data.ActorPoolStrategy(size=4), batch_size=8, num_gpus=1)
    ds.write_images("s3://bucket/photos_x4", column="image")

``UpscaleBatch`` is built once per actor (one model each) and called on batches in Ray Data's default format,
a dict of numpy arrays. The ``image`` column holds H x W x C uint8 or uint16 arrays as ``read_images`` makes
them (H x W for grey; C = 1, 2, 3 or 4: grey, grey + alpha, RGB, RGBA), all of one size or each of its own;
every image comes back x4 with the same dtype and channels, upscaled exactly as ``eern upscale`` does (alpha
separately, through the model). The other columns pass through untouched. Nothing here imports Ray.
"""

from __future__ import annotations

import os

import numpy as np

from eern_cli.batch.frames import upscale_frame
from eern_cli.errors import InputImageError
from eern_cli.images.decode import Frame


class UpscaleBatch:
    """``Dataset.map_batches(UpscaleBatch, fn_constructor_kwargs={...}, compute=ActorPoolStrategy(size=N))``.

    Constructor keywords are ``Upscaler``'s (``weights``, ``device``, ``precision``, ``tile``, ``scratch``),
    plus ``column``, the column that holds the images, and ``threads``, torch's CPU threads in this actor.
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None, *, device: str = "auto",
                 precision: str = "auto", tile: int | None = None, scratch: str | None = None,
                 column: str = "image", threads: int | None = None) -> None:
        import torch

        from eern_cli.upscaler import Upscaler

        if threads:
            torch.set_num_threads(threads)
        self.column = column
        self.upscaler = Upscaler(weights, device=device, precision=precision, tile=tile, scratch=scratch)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.column not in batch:
            raise InputImageError(f"the batch has no '{self.column}' column (it has: {', '.join(batch)})",
                                  hint="pass column=... in fn_constructor_kwargs")
        images = [self.upscale_image(np.asarray(image)) for image in batch[self.column]]
        return {**batch, self.column: _column(images)}

    def upscale_image(self, image: np.ndarray) -> np.ndarray:
        """One image, x4, same dtype and channels."""
        if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3) or \
                (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
            raise InputImageError(f"expected an H x W x C uint8 or uint16 image, got {image.dtype} {image.shape}",
                                  hint="read images with ray.data.read_images, or convert them to uint8")
        channels = 1 if image.ndim == 2 else image.shape[2]
        color = image if image.ndim == 2 else image[..., :3] if channels >= 3 else image[..., 0]
        alpha = image[..., channels - 1] if channels in (2, 4) else None
        out = upscale_frame(self.upscaler, Frame(np.ascontiguousarray(color), None if alpha is None
                                                 else np.ascontiguousarray(alpha)))
        if image.ndim == 2:
            return out.color
        planes = [out.color if out.color.ndim == 3 else out.color[..., None]]
        if out.alpha is not None:
            planes.append(out.alpha[..., None])
        return np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]


def _column(images: list[np.ndarray]) -> np.ndarray:
    """One array when every image has the same shape, else an object array of them (Ray's ragged tensors)."""
    if len({(image.shape, image.dtype) for image in images}) <= 1 and images:
        return np.stack(images)
    column = np.empty(len(images), dtype=object)
    for i, image in enumerate(images):
        column[i] = image
    return column
