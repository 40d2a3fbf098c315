"""Ray stays optional: not imported unless ``--ray`` is given, and a clear exit 2 when the extra is missing."""

from __future__ import annotations

import subprocess
import sys

from helpers_images import FAST, REPO, cli_env, save, smooth

# Runs eern's CLI in a fresh interpreter, then says whether Ray was imported. With "hide", Ray looks
# uninstalled (as without eern[ray]).
_PROBE = """
import sys
if sys.argv[1] == "hide":
    sys.modules["ray"] = None
from eern_cli.cli.app import main
try:
    main(sys.argv[2:])
finally:
    print("ray imported:", sys.modules.get("ray") is not None)
"""


def probe(mode: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _PROBE, mode, *args], capture_output=True, text=True, timeout=120,
                          env=cli_env(), cwd=REPO)


def test_without_the_extra_ray_says_what_to_install_exit_2(tmp_path):
    image = save(tmp_path / "a.png", smooth())
    result = probe("hide", "upscale", str(image), "-o", str(tmp_path / "out"), "--ray", "local")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == ("eern: error: running on a Ray cluster needs Ray, which is not installed. "
                    "Install it with: pip install 'eern[ray]'")
    assert not (tmp_path / "out").exists()


def test_a_local_run_and_help_never_import_ray(tmp_path):
    image = save(tmp_path / "a.png", smooth())
    result = probe("keep", "upscale", str(image), "-o", str(tmp_path / "b.png"), *FAST)
    assert result.returncode == 0, result.stderr
    assert "ray imported: False" in result.stdout and (tmp_path / "b.png").exists()
    result = probe("keep", "upscale", "--help")
    assert "--ray" in result.stdout and "ray imported: False" in result.stdout
