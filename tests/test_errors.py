"""eern's errors: each is also the builtin a caller expects, and reads as one line with a sentence for a hint."""

from __future__ import annotations

import pytest

from eern_cli import errors


@pytest.mark.parametrize("kind,builtin", [
    (errors.UsageError, ValueError), (errors.InputImageError, ValueError),
    (errors.InputNotFoundError, FileNotFoundError), (errors.OutputError, OSError),
    (errors.WeightsError, ValueError), (errors.WeightsNotFoundError, FileNotFoundError),
    (errors.IntegrityError, OSError), (errors.DownloadError, ConnectionError), (errors.DeviceError, RuntimeError),
    (errors.InsufficientMemoryError, MemoryError),
])
def test_each_error_is_also_a_builtin(kind: type, builtin: type) -> None:
    assert issubclass(kind, errors.EernError) and issubclass(kind, builtin)


def test_message_path_and_hint_make_one_line() -> None:
    error = errors.InputImageError("cannot read it", path="a.png", hint="check the file")
    assert str(error) == "cannot read it (a.png). Check the file"
    assert str(errors.InputImageError("cannot read 'a.png'", path="a.png")) == "cannot read 'a.png'"
    assert errors.UsageError("x").exit_code == 2 and errors.OutputError("x").exit_code == 1


def test_first_line_and_sentence() -> None:
    assert errors.first_line(ValueError("first\nsecond")) == "first"
    assert errors.first_line(KeyError()) == "KeyError"
    assert errors.first_line("  text\n more") == "text"
    assert errors.sentence("use --tile 256") == "Use --tile 256" and errors.sentence("") == ""
