"""RERE's false-negative experiment as the paper runs it (Xie et al., 2021, Figure 3):
training triples removed at random, the cPU loss told the removal rate, against BCE.

    python benchmarks/rere_false_negatives.py TRAIN.spacy DEV.spacy --work DIR [--dataset conll04] \\
        [--drops 0.1,0.3,0.5] [--seeds 0,1,2] [--steps 3000] [--jobs 2] [--train-limit N] [--dev-limit N] \\
        [--config configs/rere_cpu.cfg]

For each seed and removal rate `drop`: a tenth of the training documents (seeded) is held
out for threshold tuning; every gold relation of the training documents, both parts, is
removed with probability `drop` (what a user with that false-negative rate has); then
the config (`--config`, configs/rere_cpu.cfg by default; a `warmup_linear.v1` learning
rate is fitted to `--steps`) is trained on the rest twice, the relation detector's loss cPU with
tau = `drop` (the paper sets tau to the false-negative rate) and BCE, with the same data and
seed. `drop` 0 trains on every triple with the config's own tau (the default a user gets):
the pipeline's accuracy on complete data. The paper plots precision-recall curves; per run,
on dev:
- `detector_pr_auc`: average precision (area under the precision-recall curve) of the
  detector's probability of every (sentence, label) against the gold labels: threshold-free;
- `unlabelled_mean` against `mu`: the detector's mean probability of the (sentence, label)
  pairs left unlabelled in the training documents, and cPU's target for it, `mu = pi (tau +
  1)` (`pi` the labelled share); it should settle near `mu` under cPU and near 0 under BCE;
- triple exact and partial F1 at the detector and extractor thresholds tuned together
  (`spacy_relext.rere.thresholds.tune_thresholds`) on the held-out tenth;
- `oracle_triple_exact_f`: the extractor alone, queried with each dev sentence's gold
  relations (`rere.oracle_queries`, at the tuned extractor threshold), so that the two
  stages' errors are told apart.
Runs are subprocesses, `--jobs` at a time with one thread each, each leaving
WORK/runs/NAME.json, so a stopped series resumes with the same --work; the result,
benchmarks/results/rere_false_negatives_DATASET.json, holds every run and per (drop, loss)
the mean and sample standard deviation over seeds.
"""
import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DEFAULT_CONFIG = HERE.parent / "configs" / "rere_cpu.cfg"
METRICS = ("detector_pr_auc", "unlabelled_mean", "mu", "triple_exact_f", "triple_partial_f", "oracle_triple_exact_f",
           "train_s")


def average_precision(scores: Sequence[float], gold: Sequence[bool]) -> float:
    """Area under the precision-recall curve as average precision: the mean, over the gold
    items, of the precision among the items scored at least as high (ties ranked together)."""
    n_gold = sum(gold)
    if not n_gold:
        return 0.0
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    total, hits, i = 0.0, 0, 0
    while i < len(order):
        j = i
        while j < len(order) and scores[order[j]] == scores[order[i]]:
            j += 1
        tied_hits = sum(gold[order[k]] for k in range(i, j))
        hits += tied_hits
        total += tied_hits * hits / j
        i = j
    return total / n_gold


def make_data(train: Path, out: Path, drop: float, seed: int, limit: int) -> Dict[str, object]:
    """The training and held-out DocBins of one (drop, seed), relations removed with `drop`."""
    import spacy
    from spacy.tokens import DocBin

    from spacy_relext.relations import get_relations, install_extensions, set_relations
    from rere import read_docs

    install_extensions()
    vocab = spacy.blank("en").vocab
    docs = read_docs(train, vocab, limit)
    rng = random.Random(seed)
    held = set(rng.sample(range(len(docs)), max(1, len(docs) // 10)))
    kept = total = 0
    parts: Dict[str, List] = {"train": [], "heldout": []}
    for i, doc in enumerate(docs):
        rels = get_relations(doc)
        keep = [rel for rel in rels if rng.random() >= drop]
        set_relations(doc, keep)
        kept, total = kept + len(keep), total + len(rels)
        parts["heldout" if i in held else "train"].append(doc)
    paths = {}
    for name, part in parts.items():
        paths[name] = out / f"{name}.spacy"
        DocBin(store_user_data=True, docs=part).to_disk(paths[name])
    return {"train": str(paths["train"]), "heldout": str(paths["heldout"]), "kept": kept, "total": total,
            "train_docs": len(parts["train"]), "heldout_docs": len(parts["heldout"])}


def detector_probabilities(nlp, docs) -> Tuple[List[List[float]], List[List[str]]]:
    """The detector's probability of every label for every sentence of `docs` (gold Docs,
    their relations hidden from the pipeline), and each sentence's gold labels."""
    from spacy_relext.entities import sentence_spans
    from spacy_relext.relations import get_relations
    from rere import unlabelled_copy

    detector = nlp.get_pipe("relation_detector")
    inputs = [unlabelled_copy(nlp, doc, "relation_detector") for doc in docs]
    gold = [[r.label for r in get_relations(doc) if sent.start <= r.head.start < sent.end]
            for doc, copy in zip(docs, inputs) for sent in sentence_spans(copy)]
    probs = detector.model.ops.to_numpy(detector.predict(inputs)) if inputs else []
    return [list(map(float, row)) for row in probs], gold


def evaluate_run(model: Path, dev: Path, train: Path, heldout: Path, tau: float, dev_limit: int) -> Dict[str, float]:
    import spacy
    from spacy.training import Example

    from spacy_relext.rere.pu_loss import cpu_mu
    from spacy_relext.rere.thresholds import apply_thresholds, tune_thresholds
    from rere import oracle_queries, read_docs

    nlp = spacy.load(model)
    labels = nlp.get_pipe("relation_detector").labels
    dev_docs = read_docs(dev, nlp.vocab, dev_limit)
    probs, gold = detector_probabilities(nlp, dev_docs)
    flat_scores = [p for row in probs for p in row]
    flat_gold = [label in golds for golds in gold for label in labels]
    train_probs, train_gold = detector_probabilities(nlp, read_docs(train, nlp.vocab))
    unlabelled = [p for row, golds in zip(train_probs, train_gold) for p, label in zip(row, labels)
                  if label not in golds]
    prior = nlp.get_pipe("relation_detector").cfg.get("prior") or 0.0
    heldout_examples = [Example(nlp.make_doc(d.text), d) for d in read_docs(heldout, nlp.vocab)]
    search = tune_thresholds(nlp, heldout_examples)
    apply_thresholds(nlp, search)
    scores = nlp.evaluate([Example(nlp.make_doc(d.text), d) for d in dev_docs])
    oracle = oracle_queries(nlp, dev, dev_limit)
    return {"detector_pr_auc": average_precision(flat_scores, flat_gold),
            "unlabelled_mean": statistics.fmean(unlabelled) if unlabelled else 0.0,
            "mu": cpu_mu(prior, tau), "prior": prior, "thresholds": list(search.best),
            "heldout_triple_exact_f": search.best_score,
            "triple_exact_f": scores["triple_exact_f"], "triple_partial_f": scores["triple_partial_f"],
            "triple_exact_p": scores["triple_exact_p"], "triple_exact_r": scores["triple_exact_r"],
            # oracle_queries reports percentages; the other scores here are fractions
            "oracle_triple_exact_f": oracle["triple_exact_f"] / 100,
            "oracle_triple_partial_f": oracle["triple_partial_f"] / 100}


def data_dir(work: Path, drop: float, seed: int) -> Path:
    return work / "data" / f"drop{drop}_seed{seed}"


def run_one(args: argparse.Namespace, drop: float, seed: int, loss: str) -> None:
    """Train and evaluate one run (the `one` subcommand does this in a subprocess)."""
    import time

    from spacy.cli.train import train
    from thinc.api import Config

    from accuracy import schedule_overrides

    data = json.loads((data_dir(args.work, drop, seed) / "data.json").read_text())
    name = f"drop{drop}_seed{seed}_{loss}"
    started = time.perf_counter()
    overrides = {"paths.train": data["train"], "paths.dev": str(args.dev),
                 "components.relation_detector.loss": loss,
                 "training.max_steps": args.steps, "training.eval_frequency": max(1, args.steps // 6),
                 "training.seed": seed, "corpora.dev.limit": args.dev_limit,
                 **schedule_overrides(args.config, args.steps)}
    if drop > 0:  # with nothing removed, the config's own tau (what a user's pipeline has)
        overrides["components.relation_detector.tau"] = drop
    train(args.config, args.work / "models" / name, overrides=overrides)
    train_s = time.perf_counter() - started
    tau = drop if drop > 0 else Config().from_disk(args.config)["components"]["relation_detector"]["tau"]
    scores = evaluate_run(args.work / "models" / name / "model-best", args.dev, Path(data["train"]),
                          Path(data["heldout"]), tau, args.dev_limit)
    row = {"drop": drop, "seed": seed, "loss": loss, "tau": tau if loss == "cpu" else None,
           "train_s": round(train_s, 1), **{k: data[k] for k in ("kept", "total", "train_docs", "heldout_docs")},
           **scores}
    (args.work / "runs" / f"{name}.json").write_text(json.dumps(row, indent=2))


def main() -> None:
    from machine import machine_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("train", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("--work", type=Path, default=Path("training/rere_fn"))
    parser.add_argument("--dataset", default="conll04")
    parser.add_argument("--drops", type=lambda t: [float(x) for x in t.split(",")], default=[0.1, 0.3, 0.5])
    parser.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[0, 1, 2])
    parser.add_argument("--losses", type=lambda t: t.split(","), default=["cpu", "bce"])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=0)
    parser.add_argument("--dev-limit", type=int, default=0)
    parser.add_argument("--one", nargs=3, metavar=("DROP", "SEED", "LOSS"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args()
    (args.work / "runs").mkdir(parents=True, exist_ok=True)
    if args.one:
        run_one(args, float(args.one[0]), int(args.one[1]), args.one[2])
        return
    jobs = [(drop, seed, loss) for seed in args.seeds for drop in args.drops for loss in args.losses]
    for drop in args.drops:  # both losses of a (drop, seed) train on the same files, written here first
        for seed in args.seeds:
            folder = data_dir(args.work, drop, seed)
            if not (folder / "data.json").is_file():
                folder.mkdir(parents=True, exist_ok=True)
                made = make_data(args.train, folder, drop, seed, args.train_limit)
                (folder / "data.json").write_text(json.dumps(made))

    def launch(job) -> None:
        drop, seed, loss = job
        row = args.work / "runs" / f"drop{drop}_seed{seed}_{loss}.json"
        if row.is_file():
            return
        print(f"drop {drop} seed {seed} {loss}", flush=True)
        command = [sys.executable, __file__, str(args.train), str(args.dev), "--work", str(args.work),
                   "--steps", str(args.steps), "--train-limit", str(args.train_limit),
                   "--dev-limit", str(args.dev_limit), "--config", str(args.config), "--one", str(drop), str(seed), loss]
        with row.with_suffix(".log").open("w") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})

    machine = machine_info()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(launch, jobs))
    rows = [json.loads((args.work / "runs" / f"drop{d}_seed{s}_{l}.json").read_text()) for d, s, l in jobs]
    summary = {}
    for drop in args.drops:
        for loss in args.losses:
            cell = [r for r in rows if r["drop"] == drop and r["loss"] == loss]
            summary[f"drop {drop} {loss}"] = {
                metric: {"mean": statistics.fmean(r[metric] for r in cell),
                         "std": statistics.stdev([r[metric] for r in cell]) if len(cell) > 1 else 0.0}
                for metric in METRICS}
    out = args.out or HERE / "results" / f"rere_false_negatives_{args.dataset}.json"
    argv = " ".join(sys.argv[1:])
    out.write_text(json.dumps({
        "name": out.stem, "mode": "full" if not (args.train_limit or args.dev_limit) else "smoke",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python benchmarks/rere_false_negatives.py {argv}", "machine": machine,
        "data": f"{args.dataset}: training file {args.train} (a tenth held out for thresholds), dev {args.dev}",
        "figures": {"config": os.path.relpath(args.config.resolve(), HERE.parent), "steps": args.steps,
                    "seeds": args.seeds, "summary": summary, "runs": rows},
    }, indent=2) + "\n")
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
