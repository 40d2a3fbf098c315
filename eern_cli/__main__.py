"""``python -m eern_cli`` and the ``eern`` command.

The command line's modules are imported inside ``run`` so that a Ctrl-C during start-up ends like any other
interruption (exit 130, no traceback).
"""

import sys


def run() -> None:
    try:
        from eern_cli.cli.app import main
    except KeyboardInterrupt:
        print("eern: interrupted", file=sys.stderr)
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
