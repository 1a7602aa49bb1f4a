"""``python -m lmerpy``: the same command line as the ``lmerpy`` console script (see
:mod:`lmerpy.cli`)."""
import sys


def main(argv=None):
    """Entry point of the ``lmerpy`` console script; returns the exit status."""
    from .cli import main as run
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
