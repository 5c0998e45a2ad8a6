"""logic_reasoner on DWIE dev: the backbone alone vs backbone + logic_reasoner, same
backbone, same run (issue 6's headline figure).

    python benchmarks/run.py [--quick] --only accuracy_logic_dwie --corpus-dir ../shared/corpus
    python benchmarks/run.py [--quick] --only accuracy_logic_redocred --corpus-dir ../shared/corpus
    python benchmarks/logic_dwie.py run --corpus-dir ../shared/corpus [--work DIR] [--quick] [--dataset redocred]
    python benchmarks/logic_dwie.py train-reasoner BACKBONE_MODEL TRAIN.spacy OUTPUT [--docs N] [--dev DEV.spacy]
    python benchmarks/logic_dwie.py candidate-backbone BACKBONE_MODEL OUTPUT
    python benchmarks/logic_dwie.py evaluate PIPELINE DEV.spacy TRAIN.spacy RULES.txt --output FILE [--limit N]
    python benchmarks/run.py [--quick] --only memory_logic_dwie --corpus-dir ../shared/corpus  (after the above)

The reasoner is trained with `spacy train` and configs/logic_dwie.cfg (its `initialize`
runs the EM on the backbone's scores of the training documents; the loop only evaluates
and saves), as a user trains it; `train-reasoner` is that step on its own, and
`candidate-backbone` saves the backbone copy that config sources.

1. The backbone, configs/docre_dwie_cpu.cfg (every pair of gold entity clusters of a
   document, across sentences; BACKBONE_CONFIG), is trained with `spacy train` on the
   DWIE train split; the checkpoint is selected on dev F1 (model-best). Results up to
   2026-11-22 used configs/rationale_dwie_cpu.cfg (sentence-scoped pairs); each result
   names its backbone.
2. The backbone then scores the training documents: every label of every candidate pair
   with a probability of at least `FLOOR` becomes a scored relation (the backbone's
   `keep_candidates` with `candidate_floor = FLOOR`; below FLOOR they would cost time and
   memory, and the reasoner reads an unscored label as very unlikely anyway). A
   logic_reasoner with its default settings is added after the frozen backbone and
   trained on those documents by `spacy train` with configs/logic_dwie.cfg (its
   `initialize`: generator pre-training on gold paths, extractor fit, EM, and the
   threshold with the best F1 on those documents).
3. On dev with gold entities and clusters: "backbone" is the backbone's own decisions
   (argmax per pair); "backbone, threshold tuned on train" is its candidate scores at the
   threshold with the best F1 on the reasoner's training documents (tuned as the
   reasoner's is, the like-for-like comparison); "backbone + logic_reasoner" is the same
   candidate scores refined by the reasoner at its tuned threshold. Each gets P/R/F1 and
   Ign F1 (official DocRED definition, training facts from the whole train split), the
   logic score of the gold DWIE rules, and F1 per entity-pair distance bucket; the
   relations the reasoner added and removed; seconds per document of each.
   LogiRE picks one global threshold on dev and reports it on test. Test is held back
   here, so the thresholds come from the training documents; `best_threshold` adds, for
   comparison only, each system's F1 at the threshold that is best on this same dev set
   (an exact scan of the sorted scores; optimistic for both).
"""
import argparse
import dataclasses
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import spacy
import torch
from spacy.cli.train import train
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from spacy_relext.logic.evaluation import (
    doc_relation_threshold_scan,
    read_logic_rules,
    score_doc_relations_by_distance,
    score_logic,
)
from spacy_relext.logic.logic_reasoner import load_reasoners
from spacy_relext.logic.rules_em import EMSettings
from spacy_relext.relations import get_relations, set_relations
from spacy_relext.scorer import collect_train_facts, score_doc_relations

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
from logic_rules_dwie import gold_rules_recovered  # noqa: E402
from timing import current_rss_mb, peak_rss_since_reset_mb, reset_peak_rss  # noqa: E402

CONFIGS = Path(__file__).parents[1] / "configs"
BACKBONE = "rationale_masker"
# The document-level backbone (every entity pair, across sentences); rationale_dwie_cpu.cfg
# is the sentence-scoped RE2 backbone of the earlier figures.
BACKBONE_CONFIG = "docre_dwie_cpu.cfg"
BACKBONE_DESCRIPTIONS = {
    "docre_dwie_cpu.cfg": "configs/docre_dwie_cpu.cfg (rationale_masker with a DocumentPairClassifier: every pair of "
                          "gold entity clusters across sentences, multi-label, CPU tok2vec trained from scratch)",
    "rationale_dwie_cpu.cfg": "configs/rationale_dwie_cpu.cfg (rationale_masker, pair_level cluster, sentence-scoped "
                              "candidates, gold entity clusters, CPU tok2vec trained from scratch)",
}
SPANS_KEY = "entities"
FLOOR = 0.01  # backbone candidate probabilities below it are not passed to the reasoner
SCAN_FLOOR = 0.05  # lowest threshold of the dev threshold scan
BACKBONE_THRESHOLD = "backbone_threshold_tuned_on_train"  # nlp.meta key (see train_reasoner)
# mode -> backbone steps, training docs for the reasoner, dev docs, reasoner settings
SETTINGS = {
    "smoke": {"backbone_steps": 2, "reasoner_docs": 4, "dev_docs": 2,
              "reasoner": {"generator_pretrain_steps": 5, "em_iterations": 1, "generator_em_steps": 2,
                           "extractor_epochs": 1}},
    "quick": {"backbone_steps": 60, "reasoner_docs": 24, "dev_docs": 16,
              "reasoner": {"generator_pretrain_steps": 50, "em_iterations": 0, "extractor_epochs": 20}},
    "full": {"backbone_steps": 3000, "reasoner_docs": 0, "dev_docs": 0, "reasoner": {}},  # the defaults
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def train_backbone(paths: dict, out: Path, steps: int, dev_docs: int, config: str = BACKBONE_CONFIG) -> float:
    overrides = {"paths.train": str(paths["train"]), "paths.dev": str(paths["dev"]), "training.max_steps": steps,
                 "training.eval_frequency": max(1, steps // 4), "training.seed": 0, "corpora.dev.limit": dev_docs}
    started = time.perf_counter()
    train(CONFIGS / config, out, overrides=overrides)
    return time.perf_counter() - started


def backbone_scores(nlp: Language, docs: List[Doc], keep_candidates: bool) -> List[Doc]:
    """Run the pipeline up to the backbone on `docs`, in batches of 8: the backbone's own
    decisions, or (`keep_candidates`) every candidate label with a probability of at
    least FLOOR (the backbone's `candidate_floor`: written without a floor, the 60-odd
    labels of every candidate pair took about 5 s per DWIE document)."""
    set_candidates(nlp, keep_candidates)
    with nlp.select_pipes(disable=[n for n in nlp.pipe_names if n == "logic_reasoner"]):
        return list(nlp.pipe(docs, batch_size=8))


def set_candidates(nlp: Language, keep_candidates: bool) -> None:
    """Make the backbone write its decisions only, or its candidate scores above FLOOR."""
    nlp.get_pipe(BACKBONE).cfg.update(keep_candidates=keep_candidates, candidate_floor=FLOOR)


def evaluate(predicted: List[Doc], gold: List[Doc], train_facts: set, rules: list) -> Dict:
    examples = [Example(p, g) for p, g in zip(predicted, gold)]
    scores = score_doc_relations(examples, train_facts=train_facts, spans_key=SPANS_KEY)
    logic = score_logic(examples, rules, spans_key=SPANS_KEY) if rules else {}  # no gold rules for Re-DocRED
    by_distance = score_doc_relations_by_distance(examples, spans_key=SPANS_KEY)
    return {"p": scores["docre_p"], "r": scores["docre_r"], "f": scores["docre_f"],
            "ign_f": scores["docre_ign_f"], "logic": logic.get("logic"),
            "logic_rules_fired": logic.get("logic_rules_fired"), "f_by_distance": by_distance["docre_distance"],
            "relations": sum(len(get_relations(doc)) for doc in predicted)}


def best_threshold(predicted: List[Doc], gold: List[Doc]) -> Dict:
    """The threshold with the best F1 on these documents and that F1 (an exact scan of
    the sorted fact scores, as LogiRE tunes its threshold on dev)."""
    return doc_relation_threshold_scan([Example(p, g) for p, g in zip(predicted, gold)], spans_key=SPANS_KEY)


def at_threshold(docs: List[Doc], threshold: float) -> List[Doc]:
    """Copies of `docs` keeping the relations scored at least `threshold`."""
    out = [doc.copy() for doc in docs]
    for doc in out:
        set_relations(doc, [rel for rel in get_relations(doc) if rel.score >= threshold])
    return out


def facts(doc: Doc) -> set:
    return {(rel.label, rel.head.start, rel.head.end, rel.tail.start, rel.tail.end) for rel in get_relations(doc)}


def candidate_backbone(backbone: Path, out: Path) -> Language:
    """Save a copy of the backbone pipeline that writes its candidate scores above FLOOR:
    the pipeline configs/logic_dwie.cfg sources (paths.backbone)."""
    nlp = spacy.load(backbone)
    set_candidates(nlp, True)
    nlp.to_disk(out)
    return nlp


def train_reasoner(backbone: Path, paths: dict, out: Path, n_docs: int, dev_docs: int,
                   reasoner_settings: dict) -> Tuple[Language, dict]:
    """Train a logic_reasoner after the frozen backbone of the pipeline `backbone` on the
    first `n_docs` (0: all) training documents with the backbone's candidate scores:
    `spacy train` with configs/logic_dwie.cfg (`reasoner_settings` go to
    [initialize.components.logic_reasoner]; the backbone and reasoner land in
    `out`/model-last). The backbone's own F1-best threshold on the same documents is kept
    in `nlp.meta`, so the backbone can be compared at a threshold tuned like the
    reasoner's. RETURNS the trained pipeline and the figures."""
    source = out / "candidate_backbone"
    nlp = candidate_backbone(backbone, source)
    train_gold = data.read(paths["train"], nlp.vocab)
    train_gold = train_gold[:n_docs] if n_docs else train_gold
    log(f"backbone scores on {len(train_gold)} training docs")
    started = time.perf_counter()
    scored = backbone_scores(nlp, [data.entity_only(d, nlp.vocab, SPANS_KEY) for d in train_gold], True)
    scoring_s = time.perf_counter() - started
    backbone_threshold = best_threshold(scored, train_gold)["threshold"]
    del nlp, scored
    gc.collect()
    log("training the reasoner (spacy train configs/logic_dwie.cfg)")
    overrides = {"paths.backbone": str(source), "paths.train": str(paths["train"]), "paths.dev": str(paths["dev"]),
                 "corpora.train.limit": n_docs, "corpora.dev.limit": dev_docs,
                 **{f"initialize.components.logic_reasoner.{key}": value for key, value in reasoner_settings.items()}}
    started = time.perf_counter()
    train(CONFIGS / "logic_dwie.cfg", out / "reasoner", overrides=overrides)
    train_s = time.perf_counter() - started
    nlp = spacy.load(out / "reasoner" / "model-last")
    nlp.meta[BACKBONE_THRESHOLD] = backbone_threshold
    reasoner = nlp.get_pipe("logic_reasoner")
    settings = {**dataclasses.asdict(EMSettings()), **reasoner_settings}
    return nlp, {"reasoner_settings": {"backbone": BACKBONE, **settings},
                 "reasoner_threshold": reasoner.threshold, BACKBONE_THRESHOLD: backbone_threshold,
                 "reasoner_train_docs": len(train_gold), "backbone_candidate_floor": FLOOR,
                 "reasoner_train_backbone_scoring_s": round(scoring_s, 1),
                 "reasoner_train_s": round(train_s, 1)}


def compare(nlp: Language, dev_gold: List[Doc], train_facts: set, rules: list) -> dict:
    """Dev figures of the backbone alone and, when `nlp` has one, backbone + reasoner."""
    torch.set_num_threads(1)  # per-document times of backbone and reasoner on one thread each
    vocab = nlp.vocab
    dev_inputs = [data.entity_only(d, vocab, SPANS_KEY) for d in dev_gold]
    n_docs = max(1, len(dev_inputs))
    log(f"dev: backbone alone on {len(dev_inputs)} docs")
    started = time.perf_counter()
    alone = backbone_scores(nlp, [d.copy() for d in dev_inputs], False)
    backbone_dev_s = time.perf_counter() - started
    candidates = backbone_scores(nlp, [d.copy() for d in dev_inputs], True)
    out = {"dev_docs": len(dev_inputs), "gold_rules": len(rules),
           "scores": {"backbone": evaluate(alone, dev_gold, train_facts, rules)},
           "backbone_ms_per_doc": round(1000 * backbone_dev_s / n_docs, 1),
           "best_threshold_on_dev": {"backbone": best_threshold(candidates, dev_gold)}}
    if nlp.meta.get(BACKBONE_THRESHOLD) is not None:
        tuned = at_threshold(candidates, nlp.meta[BACKBONE_THRESHOLD])
        out["scores"]["backbone, threshold tuned on train"] = evaluate(tuned, dev_gold, train_facts, rules)
    if "logic_reasoner" not in nlp.pipe_names:
        return out
    reasoner = nlp.get_pipe("logic_reasoner")
    log("dev: reasoner")
    started = time.perf_counter()
    refined = list(reasoner.pipe([d.copy() for d in candidates]))
    out["reasoner_ms_per_doc"] = round(1000 * (time.perf_counter() - started) / n_docs, 1)
    out["scores"]["backbone+logic_reasoner"] = evaluate(refined, dev_gold, train_facts, rules)
    gold_facts = [facts(g) for g in dev_gold]
    before, after = [facts(d) for d in alone], [facts(d) for d in refined]
    added = [a - b for a, b in zip(after, before)]
    removed = [b - a for a, b in zip(after, before)]
    out.update({
        "reasoner_added": sum(map(len, added)),
        "reasoner_added_correct": sum(len(a & g) for a, g in zip(added, gold_facts)),
        "reasoner_removed": sum(map(len, removed)),
        "reasoner_removed_correct": sum(len(r & g) for r, g in zip(removed, gold_facts)),
    })
    log("dev: best thresholds")
    threshold = reasoner.cfg["threshold"]
    reasoner.cfg["threshold"] = SCAN_FLOOR  # the reasoner's scores below its threshold, for the scan
    scan = list(reasoner.pipe([d.copy() for d in candidates]))
    reasoner.cfg["threshold"] = threshold
    out["best_threshold_on_dev"]["backbone+logic_reasoner"] = best_threshold(scan, dev_gold)
    return out


def logic_benchmark(paths: dict, out: Path, mode: str, rules_path: Optional[Path],
                    backbone_config: str = BACKBONE_CONFIG) -> dict:
    """Train the backbone and the reasoner, then compare them on dev (see the module
    docstring); `mode`: a key of SETTINGS; `rules_path`: the gold logic rules (DWIE),
    None where there are none."""
    settings = SETTINGS[mode]
    log(f"training the backbone ({settings['backbone_steps']} steps)")
    backbone_s = train_backbone(paths, out / "backbone", settings["backbone_steps"], settings["dev_docs"],
                                backbone_config)
    nlp, reasoner_figures = train_reasoner(out / "backbone" / "model-best", paths, out, settings["reasoner_docs"],
                                           settings["dev_docs"], settings["reasoner"])
    train_gold = data.read(paths["train"], nlp.vocab)
    figures = {"backbone": BACKBONE_DESCRIPTIONS[backbone_config],
               "backbone_steps": settings["backbone_steps"], "backbone_train_s": round(backbone_s, 1)}
    figures.update(reasoner_figures)
    nlp.to_disk(out / "backbone_logic")
    rules = []
    if rules_path is not None:
        figures["reasoner_gold_rules"] = gold_rules_recovered(nlp.get_pipe("logic_reasoner"), rules_path)
        rules = read_logic_rules(rules_path)
    dev_gold = data.read(paths["dev"], nlp.vocab, settings["dev_docs"])
    figures.update(compare(nlp, dev_gold, collect_train_facts(train_gold, spans_key=SPANS_KEY), rules))
    return figures


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point (benchmarks/run.py: accuracy_logic_dwie)."""
    paths = data.dataset("dwie", corpus_dir, work, smoke)
    mode = data.mode_name(quick, smoke)
    rules_path = corpus_dir / "dwie" / "rules" / "dwie.grules.txt"
    figures = logic_benchmark(paths, work / f"accuracy_logic_dwie_{mode}", mode, rules_path)
    return {"data": paths["split"], "figures": figures}


def bench_redocred(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point for Re-DocRED (accuracy_logic_redocred): the same
    comparison on a seeded split of its dev set (its train set is not in the corpus),
    without a logic score (no gold rules)."""
    paths = data.dataset("redocred", corpus_dir, work, smoke)
    mode = data.mode_name(quick, smoke)
    figures = logic_benchmark(paths, work / f"accuracy_logic_redocred_{mode}", mode, None)
    return {"data": paths["split"], "figures": figures}


def reasoner_memory(pipeline: Path, docbin: Path) -> dict:
    """Load only the logic_reasoner of `pipeline` and run it on the Doc in `docbin`
    (which carries the backbone's candidate scores): the RSS before and the peak RSS
    while it runs (run in a fresh process by `largest_doc_memory`)."""
    torch.set_num_threads(1)
    [(_, reasoner)] = load_reasoners(pipeline)
    [doc] = data.read(docbin, reasoner.vocab)
    gc.collect()
    rss_before, exact = current_rss_mb(), reset_peak_rss()
    started = time.perf_counter()
    out = reasoner(doc)
    return {"reasoner_s": round(time.perf_counter() - started, 2), "rss_before_mb": round(rss_before),
            "peak_mb": round(peak_rss_since_reset_mb()), "peak_measured_from_start_of_run": exact,
            "relations_written": len(get_relations(out))}


def largest_doc_memory(pipeline: Path, dev: Path, work: Path) -> dict:
    """The reasoner's peak memory on the dev document with the most entities: the
    backbone writes its candidate scores here, then a fresh process loads only the
    reasoner and runs it on that Doc (`reasoner_memory`)."""
    nlp = spacy.load(pipeline)
    docs = data.read(dev, nlp.vocab)
    n_entities = [len({span.id_ for span in doc.spans[SPANS_KEY]}) for doc in docs]
    largest = max(range(len(docs)), key=lambda i: n_entities[i])
    [scored] = backbone_scores(nlp, [data.entity_only(docs[largest], nlp.vocab, SPANS_KEY)], True)
    docbin = work / "largest_dev_doc.spacy"
    DocBin(docs=[scored], store_user_data=True).to_disk(docbin)
    command = [sys.executable, __file__, "reasoner-memory", str(pipeline), str(docbin)]
    child = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return {"doc_index": largest, "entities": n_entities[largest], "tokens": len(docs[largest]),
            "backbone_candidates": len(get_relations(scored)), **child,
            "reasoner_increase_mb": child["peak_mb"] - child["rss_before_mb"]}


def bench_memory(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point (memory_logic_dwie): the reasoner trained by
    accuracy_logic_dwie (run that first, in the same mode) on the largest dev document."""
    paths = data.dataset("dwie", corpus_dir, work, smoke)
    pipeline = work / f"accuracy_logic_dwie_{data.mode_name(quick, smoke)}" / "backbone_logic"
    if not pipeline.exists():
        raise FileNotFoundError(f"{pipeline} is missing: run accuracy_logic_dwie first (same mode)")
    return {"data": paths["split"], "figures": largest_doc_memory(pipeline, paths["dev"], work)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="The whole benchmark (as benchmarks/run.py runs it)")
    run.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    run.add_argument("--work", type=Path, default=Path("training/bench"))
    run.add_argument("--quick", action="store_true")
    run.add_argument("--dataset", choices=["dwie", "redocred"], default="dwie")
    fit = sub.add_parser("train-reasoner", help="Add a logic_reasoner to a trained backbone pipeline and train it")
    fit.add_argument("backbone", type=Path, help="Pipeline with the backbone (e.g. .../model-best)")
    fit.add_argument("train", type=Path, help="Training DocBin")
    fit.add_argument("output", type=Path, help="Where to save backbone + logic_reasoner")
    fit.add_argument("--docs", type=int, default=SETTINGS["full"]["reasoner_docs"], help="Training docs used (0: all)")
    fit.add_argument("--dev", type=Path, help="Dev DocBin spacy train evaluates on (default: the training DocBin)")
    cand = sub.add_parser("candidate-backbone", help="Save a backbone copy that writes its candidate scores "
                                                     "(the source of configs/logic_dwie.cfg)")
    cand.add_argument("backbone", type=Path)
    cand.add_argument("output", type=Path)
    ev = sub.add_parser("evaluate", help="Dev figures: backbone alone, and backbone + reasoner if present")
    ev.add_argument("pipeline", type=Path)
    ev.add_argument("dev", type=Path)
    ev.add_argument("train", type=Path, help="Training DocBin (facts for Ign F1)")
    ev.add_argument("rules", type=Path, nargs="?", help="dwie/rules/dwie.grules.txt (none: no logic score)")
    ev.add_argument("--output", type=Path, required=True, help="Metrics JSON")
    ev.add_argument("--limit", type=int, default=0, help="Score only the first N dev documents (0: all)")
    mem = sub.add_parser("reasoner-memory", help="Peak memory of a pipeline's logic_reasoner on one Doc (a DocBin)")
    mem.add_argument("pipeline", type=Path)
    mem.add_argument("docbin", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "reasoner-memory":
        print(json.dumps(reasoner_memory(args.pipeline, args.docbin)))
        return
    if args.command == "candidate-backbone":
        candidate_backbone(args.backbone, args.output)
        return
    if args.command == "train-reasoner":
        paths = {"train": args.train, "dev": args.dev or args.train}
        nlp, figures = train_reasoner(args.backbone, paths, args.output.parent / f"{args.output.name}_work", args.docs,
                                      0, SETTINGS["full"]["reasoner"])
        nlp.to_disk(args.output)
    elif args.command == "evaluate":
        nlp = spacy.load(args.pipeline)
        train_facts = collect_train_facts(data.read(args.train, nlp.vocab), spans_key=SPANS_KEY)
        rules = read_logic_rules(args.rules) if args.rules else []
        figures = compare(nlp, data.read(args.dev, nlp.vocab, args.limit), train_facts, rules)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf8")
    elif args.command == "run":
        figures = (bench_redocred if args.dataset == "redocred" else bench)(args.corpus_dir, args.work, args.quick)
    else:
        parser.error("give a command: run, train-reasoner, candidate-backbone, evaluate or reasoner-memory")
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
