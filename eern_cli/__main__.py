"""``python -m eern_cli`` is the same as the ``eern`` command."""

from .cli import main

if __name__ == "__main__":
    main()
