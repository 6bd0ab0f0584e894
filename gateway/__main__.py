"""``python -m gateway``: the command-line entry point (see gateway.cli)."""

from gateway.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
