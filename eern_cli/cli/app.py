"""The ``eern`` command: a thin Typer layer over the library, and its one error boundary.

Every command lives in its own ``cli_*`` module and imports torch lazily, inside the command, so that
``eern --help`` stays fast. Errors the user can cause are ``EernError``s: they become one line on stderr
(what went wrong, with which file, what to do) and a non-zero exit code. ``--debug`` (or ``EERN_DEBUG=1``)
shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from eern_cli import __version__
from eern_cli.cli.benchmark import benchmark
from eern_cli.cli.export import export
from eern_cli.cli.info import info
from eern_cli.cli.upscale import upscale
from eern_cli.errors import EernError

app = typer.Typer(
    name="eern",
    help="x4 super-resolution with EERN (NTIRE 2024 Efficient SR): exact tiling, CPU and GPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command(no_args_is_help=True)(upscale)
app.command()(info)
app.command()(benchmark)
app.command(no_args_is_help=True)(export)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"eern {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
) -> None:
    """Upscale photos x4 with the EERN model; see 'eern COMMAND --help'."""


def as_flag(name: str, value: str | None) -> str:
    """How a setting named in a library hint (``{scratch=DIR}``) is written for the command line: ``--scratch DIR``."""
    flag = "--" + name.replace("_", "-")
    return flag if value in (None, "True") else f"{flag} {value}"


def error_line(exc: BaseException) -> str:
    text = exc.describe(as_flag) if isinstance(exc, EernError) else str(exc)
    return f"eern: error: {text}"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; ``--debug`` may stand anywhere on the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EERN_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    if debug:
        os.environ["EERN_DEBUG"] = "1"  # commands that report per-file errors show tracebacks too
    for stream in (sys.stdout, sys.stderr):  # file names that are not valid UTF-8 must not crash a report
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        app(args=args, prog_name="eern")
    except SystemExit:
        raise
    except EernError as exc:
        if debug:
            raise
        print(error_line(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
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
