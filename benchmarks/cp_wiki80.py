"""Low-resource Wiki80 with and without contrastive pre-training (CP) on leak-free data.

    python benchmarks/cp_wiki80.py --corpus-dir ../shared/corpus --work training/cp_bench \\
        [--cp-steps 600] [--cp-batch-pairs 16] [--mlm-warmup-steps 100] [--seeds 0,1,2] \\
        [--subsets train_0.01 train_0.1] [--jobs 2] [--limit N]

1. Fine-tuning and evaluation data: Wiki80 `train_0.01` / `train_0.1`; dev: `--dev-per-relation`
   FewRel-validation instances of each of its 16 relations (all Wiki80 relations) whose
   sentence is in neither training file (the shared FewRel copy already lacks every
   sentence of the held-back Wiki80 dev set).
2. Pre-training data, made leak-free by `pretrain-cp --exclude` (its report is kept in the
   result): NYT validation (distant labels, 24 Freebase relations), the DWIE training split
   and Re-DocRED's 400 training documents (human labels: their instances of a Wiki80
   relation are dropped; Re-DocRED's Wikidata ids are named by its rel_info.json). No FewRel
   or Wiki80 instance is pre-trained on (Peng et al., 2020, section 4.2, exclude the test
   entity pairs; here every instance of the fine-tuning and dev files is excluded too).
3. Two pre-trainings from the installed MiniLM with one budget and seed: CP, and CP with
   the labels permuted over the instances (the control: same sentences, bag sizes and
   steps, no relation signal). The MLM head, which MiniLM lacks, is warmed first.
4. A frozen-encoder probe of MiniLM, CP and the control (`spacy_relext.cp.probe`): 1-NN and
   linear readers fitted on `train_0.1` (and on `train_0.01`), scored on dev.
5. Fine-tuning of each encoder (configs/cp_finetune.cfg, C+M, spaCy's training loop, the
   last model kept, dev never used for selection) on 1% and 10%, once per seed in
   `--seeds`; dev accuracy = relation recall (each dev Doc holds one gold relation between
   its two entities and at most one relation is decoded per pair). Median, min and max
   over seeds per cell, as the paper reports the median.

Pre-trainings and fine-tunings run as subprocesses, `--jobs` at a time with one torch
thread each; each finished run leaves WORK/runs/NAME.json, so a stopped series resumes
where it stopped when run again with the same --work. `benchmarks/run.py --only
cp_wiki80` runs it with project.yml's settings and writes benchmarks/results/cp_wiki80.json.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import spacy  # noqa: E402
from spacy.tokens import DocBin  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402

SUBSETS = ("train_0.01", "train_0.1")
CONFIG = HERE.parent / "configs" / "cp_finetune.cfg"
# Docs spaCy's training loop evaluates on (its dev hook; never used to pick a model)
N_PROBE_DOCS = 32


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def write(docs, path: Path) -> str:
    db = DocBin(store_user_data=True)
    for doc in docs:
        db.add(doc)
    db.to_disk(path)
    return str(path)


def build_finetune_splits(corpus: Path, work: Path, per_relation: int, seed: int, limit: int = 0) -> Dict:
    """Wiki80 1% / 10% and the dev split drawn from FewRel validation (see the module)."""
    from spacy_relext.cp.sentence_pairs import doc_pairs, read_docs, read_pairs, sentence_key

    files = {}
    for name, fmt, src in (
        ("train_0.01", "wiki80", corpus / "wiki80" / "train_0.01.txt"),
        ("train_0.1", "wiki80", corpus / "wiki80" / "train_0.1.txt"),
        ("fewrel_val", "fewrel", corpus / "fewrel" / "val_wiki.minus_wiki80_dev.json"),
    ):
        files[name] = work / f"{name}.spacy"
        if not files[name].exists():
            data.convert_first(fmt, src, files[name], limit)
    train_keys = {sentence_key(p.words) for p in read_pairs([files["train_0.01"], files["train_0.1"]])}
    by_label: Dict[str, List] = {}
    for doc in read_docs([files["fewrel_val"]]):
        pairs = list(doc_pairs(doc))
        if len(pairs) == 1 and sentence_key(pairs[0].words) not in train_keys:
            by_label.setdefault(pairs[0].label, []).append(doc)
    rng = random.Random(seed)
    dev = []
    for label in sorted(by_label):
        docs = by_label[label]
        rng.shuffle(docs)
        dev.extend(docs[:per_relation])
    wiki_labels = {p.label for p in read_pairs([files["train_0.1"]])}
    dev_path = write(dev, work / "wiki80_dev_from_fewrel.spacy")
    dev_pairs = read_pairs([dev_path])
    dev_labels = {p.label for p in dev_pairs}
    return {"train_0.01": str(files["train_0.01"]), "train_0.1": str(files["train_0.1"]), "dev": dev_path,
            "n_dev": len(dev), "dev_relations": len(dev_labels), "dev_labels_in_wiki80": dev_labels <= wiki_labels,
            "overlap_dev_train_sentences": len({sentence_key(p.words) for p in dev_pairs} & train_keys)}


def build_pretraining_sources(corpus: Path, work: Path, smoke: bool) -> Dict:
    """The corpora CP reads (before its overlap check): name -> .spacy path, and which
    of them carry human labels."""
    nyt = work / "nyt_val.spacy"
    if not nyt.exists():
        data.convert_first("nyt", corpus / "nyt" / "val_triples.json", nyt, data.SMOKE_DOCS if smoke else 0)
    return {
        "corpora": {"nyt_val": str(nyt),
                    "dwie_train": str(data.dataset("dwie", corpus, work, smoke)["train"]),
                    "redocred_train": str(data.dataset("redocred", corpus, work, smoke)["train"])},
        "human_labelled": ["dwie_train", "redocred_train"],
        "label_names": str(corpus / "redocred" / "rel_info.json"),
    }


def run_json(path: Path) -> Optional[Dict]:
    return json.loads(path.read_text()) if path.is_file() else None


def pretrain_command(args: argparse.Namespace, sources: Dict, splits: Dict, output: Path, shuffle: bool) -> List[str]:
    from spacy_relext.encoders import installed_encoder

    corpora = sources["corpora"]
    command = [
        sys.executable, "-m", "spacy_relext", "pretrain-cp", str(output),
        "--corpora", *corpora.values(),
        "--exclude", splits["train_0.01"], splits["train_0.1"], splits["dev"],
        "--human-labelled", *(corpora[name] for name in sources["human_labelled"]),
        "--label-names", sources["label_names"], "--dev", splits["dev"],
        "--encoder", installed_encoder(),
        "--max-steps", str(args.cp_steps), "--batch-pairs", str(args.cp_batch_pairs),
        "--warmup-steps", str(max(1, args.cp_steps // 10)), "--learning-rate", str(args.cp_learning_rate),
        "--mlm-warmup-steps", str(args.mlm_warmup_steps), "--max-length", "64",
        "--checkpoint-every", "100", "--seed", str(args.seed), "--no-progress",
    ]
    if shuffle:
        command.append("--shuffle-labels")
    if (output / "checkpoint").is_dir():
        command.append("--resume")  # the same run, stopped: continue it
    return command


def pretrain(args: argparse.Namespace, sources: Dict, splits: Dict, shuffle: bool) -> Dict:
    """One `pretrain-cp` run as a subprocess (one thread), its model's info read back."""
    name = "cp_shuffled" if shuffle else "cp"
    row_path = args.work / "runs" / f"{name}.json"
    done = run_json(row_path)
    if done is not None:
        return done
    output = args.work / name
    started = time.perf_counter()
    log_path = args.work / "runs" / f"{name}.log"
    with log_path.open("w") as out:
        proc = subprocess.run(pretrain_command(args, sources, splits, output, shuffle), stdout=out,
                              stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode:
        raise RuntimeError(f"pretrain-cp ({name}) failed, see {log_path}")
    info = json.loads((output / "model" / "relext_cp.json").read_text())
    row = {"name": name, "model": str(output / "model"), "wall_s": round(time.perf_counter() - started, 1),
           "steps": info["steps"], "pairs": info["pairs"], "sentences": info["sentences"],
           "relations": info["relations"], "mlm_warmup_steps": info["mlm_warmup_steps"],
           "loss_log": info["loss_log"], "exclusion": info["exclusion"]}
    row_path.write_text(json.dumps(row, indent=2))
    return row


def finetune_command(encoder: str, train: str, dev: str, output: Path, epochs: int, seed: int, row: Path) -> List[str]:
    return [sys.executable, str(Path(__file__).resolve()), "finetune", "--encoder", encoder, "--train", train,
            "--dev", dev, "--output", str(output), "--epochs", str(epochs), "--seed", str(seed), "--row", str(row)]


def run_finetune(row: Path, command: List[str], message: str) -> None:
    """Run one `finetune` subprocess with one torch thread, its output in ROW.log, unless
    its row exists (a stopped series resumes)."""
    if row.is_file():
        return
    log(message)
    with (row.parent / f"{row.stem}.log").open("w") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})


def finetune_run(args: argparse.Namespace) -> None:
    """The `finetune` subcommand: configs/cp_finetune.cfg trained on --train from --encoder
    (as `spacy train` runs it; the last model kept), C+M accuracy on --dev into --row."""
    import io

    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as spacy_train

    from spacy_relext.cp.diagnose import diagnose_pipeline
    from spacy_relext.cp.sentence_pairs import read_docs

    args.output.mkdir(parents=True, exist_ok=True)
    probe = write(list(read_docs([args.train]))[:N_PROBE_DOCS], args.output / "probe.spacy")
    overrides = {"paths.train": args.train, "paths.dev": probe, "paths.encoder": args.encoder,
                 "system.seed": args.seed, "training.max_epochs": args.epochs, "training.max_steps": 0,
                 "training.eval_frequency": 100000}
    started = time.perf_counter()
    nlp = init_nlp(spacy.util.load_config(CONFIG, overrides=overrides))
    log_file = io.StringIO()
    nlp, _ = spacy_train(nlp, args.output, stdout=log_file, stderr=log_file)
    seconds = time.perf_counter() - started
    scores = diagnose_pipeline(nlp, list(read_docs([args.dev])), representations=["C+M"])["C+M"]
    row = {"train_seconds": round(seconds, 1), "acc": scores["r"], "p": scores["p"], "f": scores["f"],
           "gold": scores["gold"], "epochs": args.epochs, "seed": args.seed}
    args.row.write_text(json.dumps(row, indent=2))


def summary(values: List[float]) -> Dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values),
            "values": values}


def run(args: argparse.Namespace) -> Dict:
    from spacy_relext.cp.probe import probe_encoder
    from spacy_relext.cp.sentence_pairs import read_pairs
    from spacy_relext.encoders import installed_encoder

    (args.work / "runs").mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result: Dict = {"args": {k: str(v) for k, v in vars(args).items() if k != "func"}}
    splits = build_finetune_splits(args.corpus_dir, args.work, args.dev_per_relation, args.seed, args.limit)
    sources = build_pretraining_sources(args.corpus_dir, args.work, smoke=bool(args.limit))
    result["splits"], result["pretraining_sources"] = splits, sources
    log(f"splits: {splits}")

    def save() -> None:
        args.out.write_text(json.dumps(result, indent=2))

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # the real run and its control, side by side
        real, control = pool.map(lambda shuffle: pretrain(args, sources, splits, shuffle), (False, True))
    result["pretrain"] = {"MiniLM+CP": real, "MiniLM+CP-shuffled": control}
    log(f"pretrain: {real['steps']} steps, {real['pairs']} pairs, {real['wall_s']} s; "
        f"control {control['wall_s']} s")
    save()
    encoders = {"MiniLM": installed_encoder(), "MiniLM+CP": real["model"], "MiniLM+CP-shuffled": control["model"]}

    dev_pairs = read_pairs([splits["dev"]])
    result["probe"] = {}
    for subset in args.subsets:
        train_pairs = read_pairs([splits[subset]])
        for name, encoder in encoders.items():
            started = time.perf_counter()
            scores = probe_encoder(encoder, train_pairs, dev_pairs, max_length=64, seed=args.seed)
            result["probe"][f"{subset} {name}"] = {**scores, "seconds": round(time.perf_counter() - started, 1)}
            log(f"probe {subset} {name}: {scores}")
    save()

    epochs = {"train_0.01": args.epochs_1, "train_0.1": args.epochs_10}
    jobs = []
    for seed in args.seeds:
        for subset in args.subsets:
            for name, encoder in encoders.items():
                key = f"{subset}_{name.replace('+', '_')}_seed{seed}"
                row = args.work / "runs" / f"{key}.json"
                jobs.append((subset, name, seed, row, finetune_command(
                    encoder, splits[subset], splits["dev"], args.work / "finetune" / key, epochs[subset], seed, row)))

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(lambda job: run_finetune(job[3], job[4], f"fine-tune {job[0]} {job[1]} seed {job[2]}"), jobs))
    result["wiki80"] = {}
    for subset in args.subsets:
        for name in encoders:
            rows = [run_json(row) for s, n, _, row, _ in jobs if s == subset and n == name]
            result["wiki80"][f"{subset} {name}"] = {
                "acc": summary([r["acc"] for r in rows]),
                "train_seconds": summary([r["train_seconds"] for r in rows]),
                "epochs": epochs[subset], "seeds": list(args.seeds),
            }
    save()
    log(f"wrote {args.out}")
    return result


def make_parser() -> argparse.ArgumentParser:
    # no abbreviations: the subcommand's --epochs must not read as an abbreviation of --epochs-1
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    sub = parser.add_subparsers(dest="command")
    tune = sub.add_parser("finetune", help="one fine-tuning run (what the series starts as a subprocess)")
    tune.add_argument("--encoder", required=True)
    tune.add_argument("--train", required=True)
    tune.add_argument("--dev", required=True)
    tune.add_argument("--output", type=Path, required=True)
    tune.add_argument("--epochs", type=int, required=True)
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--row", type=Path, required=True)
    tune.set_defaults(func=finetune_run)
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/cp_bench"))
    parser.add_argument("--cp-steps", type=int, default=600)
    parser.add_argument("--cp-batch-pairs", type=int, default=16)
    parser.add_argument("--cp-learning-rate", type=float, default=5e-5)
    parser.add_argument("--mlm-warmup-steps", type=int, default=100)
    parser.add_argument("--dev-per-relation", type=int, default=40)
    parser.add_argument("--epochs-1", type=int, default=6, help="Fine-tuning epochs on train_0.01")
    parser.add_argument("--epochs-10", type=int, default=1, help="Fine-tuning epochs on train_0.1")
    parser.add_argument("--subsets", nargs="+", choices=SUBSETS, default=list(SUBSETS))
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[0, 1, 2],
                        help="Fine-tuning seeds, comma-separated")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the dev split and the pre-trainings")
    parser.add_argument("--jobs", type=int, default=2, help="Runs at a time, one thread each")
    parser.add_argument("--limit", type=int, default=0,
                        help="Convert only the first N documents of each input (0: all; the smoke mode)")
    parser.add_argument("--out", type=Path, default=Path("training/cp_bench/cp_wiki80.json"),
                        help="Where the figures are written (after each stage)")
    parser.set_defaults(func=run)
    return parser


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> Dict:
    """The harness's entry point (full mode only): project.yml's benchmark-cp-wiki80
    settings (smoke mode: 2 CP steps, one epoch, one seed, the first documents of each input)."""
    work = work / ("cp_bench_smoke" if smoke else "cp_bench")
    sizes: List[str] = []
    if smoke:
        sizes = ["--cp-steps", "2", "--mlm-warmup-steps", "1", "--epochs-1", "1", "--epochs-10", "1",
                 "--dev-per-relation", "2", "--limit", str(data.SMOKE_DOCS * 4), "--seeds", "0",
                 "--subsets", "train_0.01"]
    args = make_parser().parse_args(["--corpus-dir", str(corpus_dir), "--work", str(work), *sizes,
                                     "--out", str(work / "cp_wiki80.json")])
    data_text = ("Wiki80 train_0.01 / train_0.1; dev: 40 FewRel validation instances per relation (640); "
                 "pre-training: NYT val, DWIE train split, Re-DocRED 400 training documents, after pretrain-cp's "
                 "overlap check")
    if smoke:
        data_text = "smoke mode: the first documents of each input"
    return {"data": data_text, "figures": run(args)}


def main() -> None:
    args = make_parser().parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
