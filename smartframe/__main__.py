"""``python -m smartframe``: the same command as ``smartframe``."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="smartframe")
