"""`python -m imgbuild.cli`."""

from .app import main

main()
