"""The document-level backbone on DWIE dev, seeds side by side (issue 23).

    python -m spacy train configs/docre_dwie_cpu.cfg --paths.train training/bench/data/dwie_train.spacy \\
        --paths.dev training/bench/data/dwie_dev.spacy --system.seed SEED -o RUN_DIR
    python benchmarks/docre_backbone.py RUN_DIR [RUN_DIR ...] --config configs/docre_dwie_cpu.cfg \\
        [--corpus-dir ../shared/corpus] [--name docre_backbone_dwie_cpu]

Each RUN_DIR is one `spacy train` run of the config (its model-best, selected on dev F1, is
scored). Per run, on dev with gold entities and clusters (benchmarks/logic_dwie.py
`evaluate`): P/R/F1, Ign F1 (DocRED's definition, training facts from the whole train
split), the logic score of the gold DWIE rules, F1 by entity-pair distance, F1 on the facts
whose entities share a sentence and on those that never do (the facts a sentence-scoped
backbone cannot score), and the F1 at the best threshold on dev (optimistic). The result,
benchmarks/results/NAME.json, has every run and the mean and sample standard deviation.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example

from spacy_relext.logic.evaluation import read_logic_rules
from spacy_relext.scorer import collect_train_facts, entity_facts

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
import logic_dwie  # noqa: E402
from machine import machine_info  # noqa: E402

RESULTS = Path(__file__).parent / "results"
HEADLINE = ("f", "ign_f", "p", "r", "logic")


def sentence_of_char(gold: Doc, sentencizer) -> Dict[int, int]:
    """The sentence index of each token's first character (the scorer keys a fact's
    entities by their mentions' character offsets). Sentences from the Doc, else from a
    sentencizer, as the backbone's pipeline splits them."""
    doc = gold if gold.has_annotation("SENT_START") else sentencizer(gold.copy())
    sent_of = {}
    for i, sent in enumerate(doc.sents):
        for token in sent:
            sent_of[token.idx] = i
    return sent_of


def f_by_sentence_scope(predicted: List[Doc], gold: List[Doc]) -> Dict[str, Dict[str, float]]:
    """P/R/F1 of the facts whose two entities are mentioned in one sentence somewhere
    ("same_sentence") and of those that never are ("cross_sentence")."""
    sentencizer = spacy.blank("en").add_pipe("sentencizer")
    counts = {"same_sentence": [0, 0, 0], "cross_sentence": [0, 0, 0]}  # tp, predicted, gold
    for pred_doc, gold_doc in zip(predicted, gold):
        gold_facts, pred_facts = entity_facts(Example(pred_doc, gold_doc), logic_dwie.SPANS_KEY, None)
        sent_of = sentence_of_char(gold_doc, sentencizer)

        def scope(fact) -> str:
            _, head, tail = fact
            head_sents = {sent_of.get(start) for start, _ in head}
            tail_sents = {sent_of.get(start) for start, _ in tail}
            return "same_sentence" if head_sents & tail_sents else "cross_sentence"

        for fact in pred_facts:
            counts[scope(fact)][1] += 1
            counts[scope(fact)][0] += fact in gold_facts
        for fact in gold_facts:
            counts[scope(fact)][2] += 1
    out = {}
    for name, (tp, n_pred, n_gold) in counts.items():
        p, r = tp / n_pred if n_pred else 0.0, tp / n_gold if n_gold else 0.0
        out[name] = {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0, "predicted": n_pred, "gold": n_gold}
    return out


def score_run(run: Path, paths: dict, train_facts: set, rules: list, dev_limit: int = 0) -> Dict:
    nlp = spacy.load(run / "model-best")
    dev_gold = data.read(paths["dev"], nlp.vocab, dev_limit)
    figures = logic_dwie.compare(nlp, dev_gold, train_facts, rules)
    inputs = [data.entity_only(d, nlp.vocab, logic_dwie.SPANS_KEY) for d in dev_gold]
    decided = logic_dwie.backbone_scores(nlp, inputs, False)
    figures["f_by_sentence_scope"] = f_by_sentence_scope(decided, dev_gold)
    figures["seed"] = nlp.config.interpolate()["training"]["seed"]
    figures["steps_selected"] = nlp.meta.get("performance", {})
    figures["run"] = str(run)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="spacy train output directories (one per seed)")
    parser.add_argument("--config", default="configs/docre_dwie_cpu.cfg", help="The config the runs trained")
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--name", default="docre_backbone_dwie_cpu", help="Result file name (without .json)")
    parser.add_argument("--dev-limit", type=int, default=0, help="Score only the first N dev documents (0: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = data.dataset("dwie", args.corpus_dir, Path("training/bench"))
    rules = read_logic_rules(args.corpus_dir / "dwie" / "rules" / "dwie.grules.txt")
    train_facts = collect_train_facts(data.read(paths["train"], spacy.blank("en").vocab), spans_key=logic_dwie.SPANS_KEY)
    rows = []
    for run in args.runs:
        logic_dwie.log(f"scoring {run}")
        rows.append(score_run(run, paths, train_facts, rules, args.dev_limit))
    series = {metric: [row["scores"]["backbone"][metric] for row in rows] for metric in HEADLINE}
    for scope in ("same_sentence", "cross_sentence"):
        series[f"f_{scope}"] = [row["f_by_sentence_scope"][scope]["f"] for row in rows]
    series["f_best_threshold_on_dev"] = [row["best_threshold_on_dev"]["backbone"]["f"] for row in rows]
    summary = {name: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
               for name, v in series.items() if all(x is not None for x in v)}
    result = {"name": args.name, "mode": "full" if not args.dev_limit else f"dev limit {args.dev_limit}",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(["python", *sys.argv]),
              "machine": machine_info(), "data": paths["split"],
              "figures": {"config": args.config, "dev_limit": args.dev_limit,
                          "train_command": f"python -m spacy train {args.config} --paths.train {paths['train']} "
                                           f"--paths.dev {paths['dev']} --system.seed SEED -o RUN_DIR",
                          "seeds": [r["seed"] for r in rows], "summary": summary, "runs": rows}}
    out = RESULTS / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
