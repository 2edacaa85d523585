"""`python -m convoflow ...` is the `convoflow` command."""

from convoflow.cli import main

main()
