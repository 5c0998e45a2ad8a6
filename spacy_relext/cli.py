"""`python -m spacy_relext <command>`: corpus conversion, splitting, the demo and learned rules.

The CLI is the only place that prints; library functions return values or raise.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spacy_relext", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="Convert a raw corpus into a .spacy DocBin")
    convert.add_argument("format", help="Corpus format (see `convert --help`)")
    convert.add_argument("input", type=Path, help="Raw corpus file (or directory for dwie)")
    convert.add_argument("output", type=Path, help="Output .spacy file")
    convert.add_argument("--no-progress", action="store_true", help="Hide the progress bar")
    convert.set_defaults(run=_run_convert)

    split = commands.add_parser("split", help="Split a .spacy file into train and dev by document")
    split.add_argument("input", type=Path)
    split.add_argument("train_output", type=Path)
    split.add_argument("dev_output", type=Path)
    split.add_argument("--dev-fraction", type=float, default=0.1)
    split.add_argument("--seed", type=int, default=0)
    split.set_defaults(run=_run_split)

    demo = commands.add_parser("demo", help="Train the CPU default on the bundled CoNLL04 sample, print relations")
    demo.add_argument("--max-steps", type=int, default=300, help="Training steps (a few minutes on 2 cores)")
    demo.set_defaults(run=_run_demo)

    rules = commands.add_parser("rules", help="Print the rules a logic_reasoner learned, per relation, with weights")
    rules.add_argument("pipeline", type=Path, help="Saved pipeline directory")
    rules.add_argument("--top", type=int, default=10, help="Rules shown per relation and type pair")
    rules.set_defaults(run=_run_rules)

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)


def _run_convert(args: argparse.Namespace) -> None:
    from .convert import convert

    summary = convert(args.format, args.input, args.output, show_progress=not args.no_progress)
    print(summary.format())


def _run_split(args: argparse.Namespace) -> None:
    from .convert import split_docbin

    n_train, n_dev = split_docbin(args.input, args.train_output, args.dev_output, dev_fraction=args.dev_fraction, seed=args.seed)
    print(f"Wrote {n_train} docs to {args.train_output} and {n_dev} docs to {args.dev_output}")


def _run_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo(max_steps=args.max_steps)


def _run_rules(args: argparse.Namespace) -> None:
    from .pipeline.logic_reasoner import load_reasoners

    for name, reasoner in load_reasoners(args.pipeline):
        print(f"# {name} (backbone: {reasoner.cfg['backbone']})")
        for label, head_type, tail_type, bias, rules in reasoner.learned_rules():
            print(f"{label}({head_type}, {tail_type})  bias {bias:.3f}")
            for body, weight in rules[: args.top]:
                print(f"  {weight:8.3f}  {label}(x, y) <- {body}")
