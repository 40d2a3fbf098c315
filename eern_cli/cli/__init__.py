"""The ``eern`` command line: a thin Typer layer over the library, and its one error boundary."""
