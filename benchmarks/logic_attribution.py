"""Where the logic_reasoner's gain comes from, on a trained document-level backbone
(issue 23): the reasoner's rule set and EM length varied, seeds repeated, on dev.

    python benchmarks/logic_attribution.py BACKBONE --corpus-dir ../shared/corpus \\
        [--dataset dwie|redocred] [--variants full,direct,bias,em0,em5,count] [--seeds 0,1,2] [--work DIR]

BACKBONE is a trained backbone pipeline (e.g. the model-best of configs/docre_dwie_cpu.cfg).
Each variant trains a logic_reasoner after it with `spacy train configs/logic_dwie.cfg`
(benchmarks/logic_dwie.py `train_reasoner`), with the reasoner's EM seed set per run:

- full: the default reasoner (the generator's rules plus r <- r, 2 EM iterations);
- direct: only the direct rules r <- r (per-signature recalibration of the backbone's
  own score of the fact, nothing multi-hop);
- bias: no rule bodies, the per-signature bias alone (the type prior);
- em0 / em5: the full reasoner after 0 / 5 EM iterations;
- count: the generator trained with count-weighted signature sampling (the earlier default).

Per run, on dev with gold entities (benchmarks/logic_dwie.py `compare`): the backbone
alone and with the reasoner (P/R/F1, Ign F1, logic score); F1 split by whether the
backbone wrote the fact as a candidate (probability >= logic_dwie.FLOOR) or not; and the
share of the reasoner's relations whose strongest explanation is the direct rule, another
one-step rule, a multi-hop rule (two or more atoms), or no rule (bias only). Each run is
kept in WORK/DATASET_MODE/RUN/row.json, so an interrupted series resumes; the result,
benchmarks/results/logic_attribution_DATASET.json, has every row and per variant the mean
and sample standard deviation over seeds.
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
from spacy_relext.relations import get_relations
from spacy_relext.scorer import collect_train_facts, entity_facts

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
import logic_dwie  # noqa: E402
from machine import machine_info  # noqa: E402

RESULTS = Path(__file__).parent / "results"
VARIANTS = {
    "full": {},
    "direct": {"rule_set": "direct"},
    "bias": {"rule_set": "none"},
    "em0": {"em_iterations": 0},
    "em5": {"em_iterations": 5},
    "count": {"signature_sampling": "count"},
}
HEADLINE = ("f", "ign_f", "p", "r", "logic")


def explanation_kind(rel) -> str:
    """How a reasoner relation is explained by its strongest rule: "direct" (r <- r),
    "one_step" (another single atom, e.g. an inverse), "multi_hop" (two or more atoms)
    or "none" (no rule contributes: the bias alone)."""
    if not rel.rules:
        return "none"
    head, body = rel.rules[0].split(" <- ", 1)
    atoms = body.rsplit("  [", 1)[0].split(" ^ ")
    if len(atoms) > 1:
        return "multi_hop"
    same_label = atoms[0].split("(", 1)[0] == head.split("(", 1)[0]
    same_order = atoms[0].split("(", 1)[1] == head.split("(", 1)[1]
    return "direct" if same_label and same_order else "one_step"


def prf(predicted: set, gold: set) -> Dict[str, float]:
    tp = len(predicted & gold)
    p = tp / len(predicted) if predicted else 0.0
    r = tp / len(gold) if gold else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0, "predicted": len(predicted), "gold": len(gold)}


def attribution(nlp, dev_gold: List[Doc]) -> Dict:
    """F1 split by whether the backbone wrote the fact, and the explanation kinds."""
    inputs = [data.entity_only(d, nlp.vocab, logic_dwie.SPANS_KEY) for d in dev_gold]
    candidates = logic_dwie.backbone_scores(nlp, [d.copy() for d in inputs], True)
    refined = list(nlp.get_pipe("logic_reasoner").pipe([d.copy() for d in candidates]))
    split = {"scored": (set(), set()), "unscored": (set(), set())}
    kinds = {"direct": 0, "one_step": 0, "multi_hop": 0, "none": 0}
    for i, (cand, out, gold) in enumerate(zip(candidates, refined, dev_gold)):
        gold_facts, scored = entity_facts(Example(cand, gold), logic_dwie.SPANS_KEY, None)
        _, predicted = entity_facts(Example(out, gold), logic_dwie.SPANS_KEY, None)
        tag = lambda facts: {(i, *fact) for fact in facts}  # noqa: E731 (facts of several docs in one set)
        split["scored"][0].update(tag(predicted & scored))
        split["scored"][1].update(tag(gold_facts & scored))
        split["unscored"][0].update(tag(predicted - scored))
        split["unscored"][1].update(tag(gold_facts - scored))
        for rel in get_relations(out):
            if rel.source == "logic_reasoner":
                kinds[explanation_kind(rel)] += 1
    total = max(1, sum(kinds.values()))
    return {"f_by_backbone_candidate": {name: prf(*sets) for name, sets in split.items()},
            "explanations": kinds, "explanation_share": {k: v / total for k, v in kinds.items()}}


def run_one(backbone: Path, paths: dict, out: Path, variant: str, seed: int, rules: list, train_facts: set,
            mode: str = "full") -> Dict:
    row_path = out / "row.json"
    if row_path.exists():
        return json.loads(row_path.read_text(encoding="utf8"))
    mode_settings = logic_dwie.SETTINGS[mode]
    settings = {**mode_settings["reasoner"], **VARIANTS[variant], "seed": seed}
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    nlp, figures = logic_dwie.train_reasoner(backbone, paths, out, mode_settings["reasoner_docs"],
                                             mode_settings["dev_docs"], settings)
    dev_gold = data.read(paths["dev"], nlp.vocab, mode_settings["dev_docs"])
    figures.update(logic_dwie.compare(nlp, dev_gold, train_facts, rules))
    figures.update(attribution(nlp, dev_gold))
    row = {"variant": variant, "seed": seed, "settings": settings, "wall_s": round(time.perf_counter() - started, 1),
           **figures}
    row_path.write_text(json.dumps(row, indent=2, default=str) + "\n", encoding="utf8")
    return row


def summary(rows: List[Dict]) -> Dict:
    """Per variant: mean and sample std over seeds of the reasoner's and the (tuned)
    backbone's headline figures, the scored/unscored F1 and the multi-hop share."""
    out = {}
    for variant in dict.fromkeys(row["variant"] for row in rows):
        mine = [row for row in rows if row["variant"] == variant]
        series = {}
        for name, key in (("reasoner", "backbone+logic_reasoner"), ("backbone_tuned", "backbone, threshold tuned on train")):
            for metric in HEADLINE:
                values = [row["scores"][key][metric] for row in mine if row["scores"][key].get(metric) is not None]
                series[f"{name}_{metric}"] = values
        for part in ("scored", "unscored"):
            series[f"reasoner_f_{part}"] = [row["f_by_backbone_candidate"][part]["f"] for row in mine]
        series["multi_hop_share"] = [row["explanation_share"]["multi_hop"] for row in mine]
        out[variant] = {"seeds": [row["seed"] for row in mine],
                        **{name: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
                           for name, v in series.items() if v}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backbone", type=Path, help="Trained backbone pipeline (e.g. .../model-best)")
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--dataset", choices=["dwie", "redocred"], default="dwie")
    parser.add_argument("--variants", default="full,direct,bias", help=f"Comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0,1,2", help="Comma-separated EM seeds")
    parser.add_argument("--work", type=Path, default=Path("training/logic_attribution"))
    parser.add_argument("--collect-only", action="store_true",
                        help="Train nothing: write the result from the runs already finished in WORK (parallel "
                             "series each write only their own rows)")
    parser.add_argument("--smoke", action="store_true",
                        help="A few documents and EM steps, to check the script (result kept in WORK, not in results/)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    paths = data.dataset(args.dataset, args.corpus_dir, Path("training/bench"))
    rules_path = args.corpus_dir / "dwie" / "rules" / "dwie.grules.txt"
    rules = read_logic_rules(rules_path) if args.dataset == "dwie" else []
    vocab = spacy.blank("en").vocab
    train_facts = collect_train_facts(data.read(paths["train"], vocab), spans_key=logic_dwie.SPANS_KEY)
    mode = "smoke" if args.smoke else "full"
    work = args.work / f"{args.dataset}_{mode}"
    result_path = work / "result.json" if args.smoke else RESULTS / f"logic_attribution_{args.dataset}.json"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for variant in variants:
        for seed in (int(s) for s in args.seeds.split(",")):
            if args.collect_only and not (work / f"{variant}_s{seed}" / "row.json").exists():
                continue
            logic_dwie.log(f"{variant}, seed {seed}")
            rows.append(run_one(args.backbone, paths, work / f"{variant}_s{seed}", variant, seed, rules, train_facts,
                                mode))
            result = {"name": f"logic_attribution_{args.dataset}", "mode": mode,
                      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "command": " ".join(["python", *sys.argv]), "machine": machine_info(), "data": paths["split"],
                      "figures": {"backbone": str(args.backbone), "summary": summary(rows), "rows": rows,
                                  # rows trained by earlier runs of this script (same backbone and work folder)
                                  "collected_only": args.collect_only}}
            result_path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf8")
    print(json.dumps(result["figures"]["summary"], indent=2))


if __name__ == "__main__":
    main()
