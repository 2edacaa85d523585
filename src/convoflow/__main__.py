"""`python -m convoflow ...` is the `convoflow` command."""

from convoflow.cli import main

# Guarded: a spawned worker process (engine/cpu.py) may import the parent's main module.
if __name__ == "__main__":
    main()
