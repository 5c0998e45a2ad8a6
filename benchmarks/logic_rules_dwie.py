"""logic_reasoner on DWIE without a backbone: which gold DWIE rules the rule generator
recovers after its pre-training on the paths of the gold training graphs, and the cost
of rule scoring per document.

    python benchmarks/logic_rules_dwie.py TRAIN.spacy DEV.spacy RULES.txt [--steps 1000] [--out FILE]
    python benchmarks/run.py --only logic_rules_dwie --corpus-dir ../shared/corpus

TRAIN/DEV come from `python -m spacy_relext convert dwie` and `split`; RULES is
`dwie/rules/dwie.grules.txt` (`<n> [body relations] head`, `~rel` = inverse). A gold
rule counts as recovered when its body is among the rules sampled (n_rules=50,
deduplicated) for some signature (head type, head relation, tail type), and "top 5"
when it is among that signature's 5 rules of highest generator probability. Rule
scoring cost is the reasoner's `predict` on the dev Docs (the values of the backbone
logits do not change the work), the largest Doc first and alone.
"""
import argparse
import ast
import json
import sys
import time
from pathlib import Path

import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402

NO_BACKBONE = "logic_bench_no_backbone"


@Language.component(NO_BACKBONE)
def no_backbone(doc: Doc) -> Doc:
    return doc


def read_gold_rules(path: Path):
    for line in path.read_text(encoding="utf8").splitlines():
        if line.strip():
            _, rest = line.split(" ", 1)
            body_text, head = rest.rsplit("]", 1)
            yield ast.literal_eval(body_text + "]"), head.strip()


def gold_rules_recovered(reasoner, rules_path: Path) -> dict:
    """How many gold rules are among the rules `reasoner` holds for their head relation
    (any signature), and among its 5 best by the generator's prior."""
    labels = {label: i for i, label in enumerate(reasoner.labels)}
    n, ident = len(labels), 2 * len(labels)
    extractor = reasoner.module.extractor
    gold_rules, recovered, top5, applicable = [], 0, 0, 0
    for body, head in read_gold_rules(rules_path):
        names = [atom.lstrip("~") for atom in body] + [head]
        ok = all(name in labels for name in names)
        channels = [labels[a.lstrip("~")] + (n if a.startswith("~") else 0) for a in body if ok]
        channels += [ident] * (reasoner.cfg["rule_length"] - len(channels))
        found = found5 = False
        for q, (_, r, _) in enumerate(reasoner.cfg["signatures"] if ok else []):
            if r != labels[head]:
                continue
            slots = extractor.rule_mask[q].nonzero()[:, 0]
            ranked = slots[torch.argsort(extractor.log_prior[q, slots], descending=True)].tolist()
            bodies = [extractor.bodies[q, k].tolist() for k in ranked]
            found |= channels in bodies
            found5 |= channels in bodies[:5]
        applicable += ok
        recovered += found
        top5 += found5
        gold_rules.append({"body": body, "head": head, "in_training_labels": ok, "sampled": found, "top5": found5})
    return {"gold_rules": len(gold_rules), "gold_rules_with_known_labels": applicable,
            "recovered_in_sampled_rules": recovered, "recovered_in_top5": top5, "rules": gold_rules}


def rules_dwie(train_path: Path, dev_path: Path, rules_path: Path, steps: int) -> dict:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    nlp = spacy.blank("en")
    nlp.add_pipe(NO_BACKBONE)
    reasoner = nlp.add_pipe("logic_reasoner", config={"backbone": NO_BACKBONE, "spans_key": "entities"})
    train = list(DocBin().from_disk(train_path).get_docs(nlp.vocab))
    dev = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    start = time.perf_counter()
    # the generator alone, pre-trained on the gold paths: no EM, no extractor training
    nlp.config["initialize"]["components"]["logic_reasoner"] = {
        "em_iterations": 0, "extractor_epochs": 0, "generator_pretrain_steps": steps}
    nlp.initialize(lambda: [Example(doc, doc) for doc in train])
    init_s = time.perf_counter() - start

    recovery = gold_rules_recovered(reasoner, rules_path)
    extractor = reasoner.module.extractor
    dev.sort(key=lambda doc: -len(doc.spans["entities"]))
    start = time.perf_counter()
    with torch.inference_mode():
        reasoner.predict(dev[:1])
    largest_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.inference_mode():
        for doc in dev:
            reasoner.predict([doc])
    predict_s = time.perf_counter() - start
    n_rules = int(extractor.rule_mask.sum())
    return {
        "train_docs": len(train),
        "dev_docs": len(dev),
        "relations": len(reasoner.labels),
        "entity_types": len(reasoner.cfg["types"]) - 1,
        "signatures": len(reasoner.cfg["signatures"]),
        "generator_pretrain_steps": steps,
        "unique_rules_sampled": n_rules,
        "initialize_s": round(init_s, 1),
        **{k: v for k, v in recovery.items() if k != "rules"},
        "dev_predict_ms_per_doc": round(1000 * predict_s / max(1, len(dev)), 1),
        "largest_dev_doc_entities": len(reasoner._entities(dev[0])) if dev else 0,
        "largest_dev_doc_s": round(largest_s, 2),
        # Peak memory is not reported here: this process's max RSS is already set by
        # initialize (rule sampling). memory_logic_dwie measures the trained reasoner on the
        # largest dev document in a fresh process.
        "rules": recovery["rules"],
    }


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point (full mode only: initialize alone takes about 30 min;
    smoke mode: 5 generator steps on the smoke sets)."""
    paths = data.dataset("dwie", corpus_dir, work, smoke)
    steps = 5 if smoke else 1000
    figures = rules_dwie(paths["train"], paths["dev"], corpus_dir / "dwie" / "rules" / "dwie.grules.txt", steps)
    return {"data": paths["split"], "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("dev")
    parser.add_argument("rules", type=Path)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None, help="Also write the figures to this JSON file")
    args = parser.parse_args()
    result = rules_dwie(args.train, args.dev, args.rules, args.steps)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2), encoding="utf8")
    print(json.dumps({k: v for k, v in result.items() if k != "rules"}, indent=2))


if __name__ == "__main__":
    main()
