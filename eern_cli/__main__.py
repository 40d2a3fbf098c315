"""``python -m eern_cli`` and the ``eern`` command.

The command line's modules are imported inside ``run`` so that a Ctrl-C during start-up ends like any other
interruption (exit 130, no traceback).
"""

import signal
import sys


def run() -> None:
    try:
        from eern_cli.cli.app import main
    except KeyboardInterrupt:
        print("eern: interrupted", file=sys.stderr)
        sys.exit(130)
    try:
        main()
    finally:
        # The outcome is decided and every output is complete or gone: a Ctrl-C now would only interrupt the
        # interpreter's clean-up (torch's finalizers) and print a traceback after eern's last line. Only here,
        # in the process's own entry point: a program that calls ``main()`` keeps its own Ctrl-C.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    run()
