"""eern's exceptions (``errors.py``): each a builtin too, carrying data, with hints that name settings once."""

from __future__ import annotations

import pytest

from eern_cli import errors
from eern_cli.cli.app import as_flag, error_line


@pytest.mark.parametrize("cls,builtin", [
    (errors.UsageError, ValueError), (errors.InputImageError, ValueError),
    (errors.InputNotFoundError, FileNotFoundError), (errors.OutputError, OSError),
    (errors.WeightsError, ValueError), (errors.WeightsNotFoundError, FileNotFoundError),
    (errors.IntegrityError, OSError), (errors.DownloadError, ConnectionError), (errors.DeviceError, RuntimeError),
    (errors.InsufficientMemoryError, MemoryError),
])
def test_every_error_is_also_the_builtin_a_caller_would_catch(cls, builtin):
    with pytest.raises(builtin):
        raise cls("went wrong", path="a.png")


def test_a_hint_names_settings_as_arguments_in_the_library_and_as_flags_in_the_cli():
    exc = errors.InsufficientMemoryError("a 9000x9000 image needs about 40 GiB", size=(9000, 9000),
                                         needed_bytes=40 << 30, available_bytes=8 << 30,
                                         hint="use {scratch=DIR} or {precision=bf16}, or re-run with {debug=True}")
    assert exc.hint == "use scratch=DIR or precision=bf16, or re-run with debug=True"
    assert str(exc) == ("a 9000x9000 image needs about 40 GiB. "
                        "Use scratch=DIR or precision=bf16, or re-run with debug=True")
    assert error_line(exc) == ("eern: error: a 9000x9000 image needs about 40 GiB. "
                               "Use --scratch DIR or --precision bf16, or re-run with --debug")
    assert (exc.size, exc.needed_bytes, exc.available_bytes) == ((9000, 9000), 40 << 30, 8 << 30)
    assert as_flag("max_pixels", "N") == "--max-pixels N" and as_flag("output", None) == "--output"


def test_the_path_is_named_once():
    assert str(errors.InputImageError("'a.png' is empty", path="a.png")) == "'a.png' is empty"
    assert str(errors.OutputError("cannot write", path="o/b.png")) == "cannot write (o/b.png)"


def test_a_missing_extra_says_what_to_install():
    exc = errors.MissingExtraError("HEIC needs 'pillow_heif'", extra="formats", package="pillow_heif")
    assert isinstance(exc, ImportError) and exc.exit_code == 2
    assert str(exc).endswith("Install it with: pip install 'eern[formats]'")


def test_first_line():
    assert errors.first_line(ValueError("one\ntwo")) == "one"
    assert errors.first_line(KeyError()) == "KeyError"


def test_sentence():
    assert errors.sentence("use --tile 256") == "Use --tile 256" and errors.sentence("") == ""
