"""The ``eern`` command: a thin Typer layer over the library, and its one error boundary.

Every command lives in its own module and imports torch lazily, inside the command, so that ``--help``, a
dry run and an up-to-date re-run start without it. Every error the user can cause, Typer's own usage errors
included, becomes one line on stderr (what went wrong, with which file, what to do) and a non-zero exit
code (2 for usage). ``--debug`` (anywhere on the command line, or ``EERN_DEBUG=1``) shows the traceback
instead; it reaches the commands through Typer's context object, ``CliState``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from eern_cli import __version__
from eern_cli.cli.benchmark import benchmark
from eern_cli.cli.export import export
from eern_cli.cli.info import info
from eern_cli.cli.options import Command, Group
from eern_cli.cli.upscale import upscale
from eern_cli.errors import EernError

app = typer.Typer(
    name="eern",
    help="x4 super-resolution with EERN (NTIRE 2024 Efficient SR): exact tiling, CPU and GPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=Group,
)
app.command(cls=Command)(upscale)
app.command(cls=Command)(info)
app.command(cls=Command)(benchmark)
app.command(cls=Command)(export)

# Typer vendors click in recent versions and uses the real one in older ones: find its UsageError either way.
_ClickUsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


@dataclass(frozen=True)
class CliState:
    """What every command may need from the command line as a whole (Typer's ``ctx.obj``)."""

    debug: bool = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"eern {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, metavar="", help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", metavar="", help="Show the full traceback of an error (may stand anywhere).")] = False,
) -> None:
    """Upscale photos x4 with the EERN model; see 'eern COMMAND --help'."""


def as_flag(name: str, value: str | None) -> str:
    """How a setting named in a library hint (``{scratch=DIR}``) is written for the command line: ``--scratch DIR``."""
    flag = "--" + name.replace("_", "-")
    return flag if value in (None, "True") else f"{flag} {value}"


def error_line(exc: BaseException) -> str:
    text = exc.describe(as_flag) if isinstance(exc, EernError) else str(exc)
    return f"eern: error: {text}"


def _usage_line(exc: Exception, args: list[str], commands: dict) -> str:
    """Click's usage error as one sentence, with where to read more: "Missing argument 'INPUT'." and the
    like, which Typer would otherwise draw in a box under the usage text."""
    message = exc.format_message().strip().rstrip(".")  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        path = ctx.command_path
    else:
        path = " ".join(["eern", *[a for a in args[:1] if a in commands]])
    return f"eern: error: {message[:1].lower()}{message[1:]}. See '{path} --help'"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; ``--debug`` may stand anywhere on the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EERN_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    for stream in (sys.stdout, sys.stderr):  # file names that are not valid UTF-8 must not crash a report
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="eern", standalone_mode=False, obj=CliState(debug=debug))
    except _ClickUsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # 'eern' alone: the help, as asked for
            print(exc.ctx.get_help())  # type: ignore[attr-defined]
            sys.exit(0)
        print(_usage_line(exc, args, command.commands), file=sys.stderr)
        sys.exit(2)
    except EernError as exc:
        if debug:
            raise
        print(error_line(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print("eern: interrupted", file=sys.stderr)
        sys.exit(130)
    except MemoryError:
        if debug:
            raise
        print("eern: error: out of memory. Use a smaller --tile or --scratch DIR", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        if debug:
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"eern: error: {exc.strerror or exc}{where}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # a bug of ours: still one line, with the way to see more
        if debug:
            raise
        print(
            f"eern: internal error: {type(exc).__name__}: {exc}. Re-run with --debug and report it",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
