"""`python -m client ...`: the same command line as `ltx-mock client ...`."""

from .cli import main

if __name__ == "__main__":
    main()
