"""Where the exact tiling keeps its full-resolution maps."""

from __future__ import annotations

import torch

from eern_cli.engine.model import EERN
from eern_cli.engine.scratch import allocate_feature_map, feature_bytes_per_pixel


def test_scratch_bytes_per_pixel() -> None:
    net = EERN()
    assert feature_bytes_per_pixel(net, torch.float32) == (84 + 21) * 4
    assert feature_bytes_per_pixel(net, torch.bfloat16) == (84 + 21) * 2


def test_maps_live_where_asked_and_are_channels_last(tmp_path) -> None:
    for scratch in (None, "host", tmp_path):
        t = allocate_feature_map((1, 21, 30, 40), torch.bfloat16, torch.device("cpu"), scratch)
        assert t.shape == (1, 21, 30, 40) and t.dtype == torch.bfloat16
        assert t.is_contiguous(memory_format=torch.channels_last)
        t[0, 3, 29, 39] = 7.0
        assert float(t[0, 3, 29, 39]) == 7.0
    assert list(tmp_path.iterdir()) == []  # the mapped file is unlinked at once


def test_scratch_on_a_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path) -> None:
    import resource
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from eern_cli.engine.scratch import allocate_feature_map\n"
        "from eern_cli.errors import OutputError\n"
        "try:\n"
        "    allocate_feature_map((1, 84, 200, 200), torch.float32, torch.device('cpu'), sys.argv[1])\n"
        "except OutputError as exc:\n"
        "    print(exc)\n"
    )

    def limit_file_size() -> None:  # a "disk" that holds 1 MB per file; the maps need 13 MB each
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))

    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, preexec_fn=limit_file_size
    )
    assert done.returncode == 0, done.stderr
    assert "no space" in done.stdout and str(tmp_path) in done.stdout
    assert list(tmp_path.iterdir()) == []
