"""Command line: `python -m spacy_relext <command> ...` (see `--help`)."""
from .cli import main

if __name__ == "__main__":
    main()
