"""Low-resource Wiki80 with and without contrastive pre-training (CP), plus diagnose tables.

    python benchmarks/cp_wiki80.py --corpus-dir ../shared/corpus --work training/cp_bench \
        [--cp-steps 150] [--dev-per-relation 40] [--subsets train_0.01 train_0.1] [--semeval-train 2000] [--limit N]

Steps, all in one run on one machine:
1. Convert Wiki80 `train_0.01`/`train_0.1` and FewRel validation (the shared copy already
   lacks every sentence of the held-back Wiki80 dev set); `--limit N` keeps the first N
   documents of each (the harness's smoke mode).
2. Dev split: per FewRel relation (all 16 are Wiki80 relations), `--dev-per-relation`
   instances whose sentence is in neither training file.
3. CP data: the other FewRel instances plus `train_0.1`, minus any sentence or (head, tail)
   name pair of the dev split; `pretrain-cp` also checks the sentences against the dev file.
4. Fine-tune MiniLM and MiniLM+CP identically (C+M) on 1% and 10% as spaCy pipelines
   (configs/cp_finetune.cfg, spaCy's own training loop, as `spacy train` runs it; the
   last model is kept, dev is never used for selection), then `diagnose` them on the dev
   split under all five entity representations. Every dev Doc has two entities and one
   gold relation, and the pipeline decodes at most one relation per entity pair, so the
   relation recall is the accuracy the paper reports (written as `acc`, with p, r, f).
5. With `--semeval-train N`: the same MiniLM pipeline on N SemEval training sentences,
   diagnosed on a held-out 10% of the SemEval training file (relation micro-F1; "Other"
   sentences hold no relation).

Figures recorded before this script used the spaCy pipeline (commit cf192e2 and earlier)
came from the removed `train-pair` classifier; they must be rerun.
Writes the figures to `--out`; `benchmarks/run.py --only cp_wiki80` runs it with the
settings of project.yml and writes `benchmarks/results/cp_wiki80.json`.
"""
import argparse
import io
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import spacy  # noqa: E402
from spacy.tokens import DocBin  # noqa: E402
from spacy.training.initialize import init_nlp  # noqa: E402
from spacy.training.loop import train as spacy_train  # noqa: E402

from spacy_relext.convert import convert, split_docbin  # noqa: E402
from spacy_relext.encoders import installed_encoder  # noqa: E402
from spacy_relext.cp.diagnose import diagnose_pipeline  # noqa: E402
from spacy_relext.cp.pretrain import CPSettings, pretrain_cp  # noqa: E402
from spacy_relext.cp.sentence_pairs import doc_pairs, read_docs, read_pairs, sentence_key  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402


SUBSETS = ("train_0.01", "train_0.1")
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cp_finetune.cfg"
# Docs spaCy's training loop evaluates on (its dev hook; never used to pick a model)
N_PROBE = 32


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def names(pair) -> tuple:
    return (" ".join(pair.words[slice(*pair.head)]).lower(), " ".join(pair.words[slice(*pair.tail)]).lower())


def write(docs, path: Path) -> str:
    db = DocBin(store_user_data=True)
    for doc in docs:
        db.add(doc)
    db.to_disk(path)
    return str(path)


def build_splits(corpus: Path, work: Path, per_relation: int, seed: int, limit: int = 0) -> dict:
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
    by_label: dict = {}
    for doc in read_docs([files["fewrel_val"]]):
        pairs = list(doc_pairs(doc))
        if len(pairs) == 1 and sentence_key(pairs[0].words) not in train_keys:
            by_label.setdefault(pairs[0].label, []).append((doc, pairs[0]))
    rng = random.Random(seed)
    dev, rest = [], []
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        dev.extend(items[:per_relation])
        rest.extend(items[per_relation:])
    dev_keys = {sentence_key(p.words) for _, p in dev}
    dev_names = {names(p) for _, p in dev}
    cp_docs = [d for d, p in rest if sentence_key(p.words) not in dev_keys and names(p) not in dev_names]
    cp_docs += [
        d for d in read_docs([files["train_0.1"]])
        if all(sentence_key(p.words) not in dev_keys and names(p) not in dev_names for p in doc_pairs(d))
    ]
    wiki_labels = {p.label for p in read_pairs([files["train_0.1"]])}
    return {
        "train_0.01": str(files["train_0.01"]),
        "train_0.1": str(files["train_0.1"]),
        "dev": write([d for d, _ in dev], work / "wiki80_dev_from_fewrel.spacy"),
        "cp": write(cp_docs, work / "cp_corpus.spacy"),
        "dev_labels_in_wiki80": {p.label for _, p in dev} <= wiki_labels,
        "overlap_dev_train": len(dev_keys & train_keys),
        "n_dev": len(dev),
        "n_cp_sentences": len(cp_docs),
    }


def finetune(encoder: str, train: str, output: Path, *, epochs: int, seed: int) -> "spacy.Language":
    """configs/cp_finetune.cfg trained on `train` from `encoder` (a Hugging Face directory:
    MiniLM or a pretrain-cp model/), as `spacy train` runs it; the last model is kept."""
    output.mkdir(parents=True, exist_ok=True)
    probe = write(list(read_docs([train]))[:N_PROBE], output / "probe.spacy")
    overrides = {"paths.train": train, "paths.dev": probe, "paths.encoder": encoder, "system.seed": seed,
                 "training.max_epochs": epochs, "training.max_steps": 0, "training.eval_frequency": 100000}
    nlp = init_nlp(spacy.util.load_config(CONFIG, overrides=overrides))
    log_file = io.StringIO()
    nlp, _ = spacy_train(nlp, output, stdout=log_file, stderr=log_file)
    return nlp


def finetune_and_diagnose(encoder: str, train: str, dev_docs, output: Path, *, epochs: int, seed: int) -> dict:
    started = time.perf_counter()
    nlp = finetune(encoder, train, output, epochs=epochs, seed=seed)
    seconds = time.perf_counter() - started
    table = with_accuracy(diagnose_pipeline(nlp, dev_docs))
    return {"train_seconds": round(seconds, 1), "model": str(output / "model-last"), "scores": rounded(table)}


def with_accuracy(table: dict) -> dict:
    """`acc` = relation recall: one gold relation between the two entities of each dev Doc,
    at most one relation decoded per entity pair (no symmetric labels in Wiki80)."""
    return {rep: {**scores, "acc": scores["r"]} for rep, scores in table.items()}


def rounded(table: dict) -> dict:
    return {k: {m: round(v, 4) for m, v in s.items()} for k, s in table.items()}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/cp_bench"))
    parser.add_argument("--cp-steps", type=int, default=150)
    parser.add_argument("--cp-batch-pairs", type=int, default=16)
    parser.add_argument("--dev-per-relation", type=int, default=40)
    parser.add_argument("--epochs-1", type=int, default=10, help="Fine-tuning epochs on train_0.01")
    parser.add_argument("--epochs-10", type=int, default=2, help="Fine-tuning epochs on train_0.1")
    parser.add_argument("--subsets", nargs="+", choices=SUBSETS, default=list(SUBSETS),
                        help="Wiki80 training subsets to fine-tune on (both encoders each)")
    parser.add_argument("--semeval-train", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0,
                        help="Convert only the first N documents of each input (0: all)")
    parser.add_argument("--out", type=Path, default=Path("training/cp_bench/cp_wiki80.json"),
                        help="Where the figures are written (after every run, so a stopped run keeps them)")
    return parser


def run(args: argparse.Namespace) -> dict:
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"args": {k: str(v) for k, v in vars(args).items()}}
    splits = build_splits(args.corpus_dir, args.work, args.dev_per_relation, args.seed, args.limit)
    result["splits"] = splits
    log(f"splits: {splits}")
    minilm = installed_encoder()
    cp_settings = CPSettings(
        corpora=[splits["cp"]], dev=[splits["dev"]], encoder=minilm, batch_pairs=args.cp_batch_pairs,
        max_steps=args.cp_steps, warmup_steps=max(1, args.cp_steps // 10), learning_rate=5e-5,
        checkpoint_every=50, seed=args.seed,
    )
    started = time.perf_counter()
    def report(step: int, total: int, losses: dict) -> None:
        if step % 10 == 0:
            log(f"cp step {step}/{total} {losses}")

    cp = pretrain_cp(cp_settings, args.work / "cp", overwrite=True, progress=report)
    result["pretrain"] = {
        "steps": cp.steps, "pairs": cp.pairs, "train_seconds": round(cp.seconds, 1),
        "wall_seconds": round(time.perf_counter() - started, 1), "pairs_per_second": round(cp.pairs_per_second, 2),
        "last_loss": round(cp.last_loss, 4), "batch_pairs": args.cp_batch_pairs, "max_length": cp_settings.max_length,
    }
    log(f"pretrain: {result['pretrain']}")
    dev_docs = list(read_docs([splits["dev"]]))
    result["wiki80"] = {}
    epochs = {"train_0.01": args.epochs_1, "train_0.1": args.epochs_10}
    for subset in args.subsets:
        for name, encoder in (("MiniLM", minilm), ("MiniLM+CP", cp.model_dir)):
            output = args.work / "finetune" / f"{subset}_{name.replace('+', '_')}"
            run = finetune_and_diagnose(encoder, splits[subset], dev_docs, output, epochs=epochs[subset],
                                        seed=args.seed)
            result["wiki80"][f"{subset} {name}"] = run
            log(f"{subset} {name}: {run}")
            args.out.write_text(json.dumps(result, indent=2))
    if args.semeval_train:
        full = args.work / "semeval.spacy"
        convert("semeval", args.corpus_dir / "semeval2010_task8" / "SemEval2010_task8_training" / "TRAIN_FILE.TXT",
                full, overwrite=True, show_progress=False)
        train, dev = args.work / "semeval_train.spacy", args.work / "semeval_dev.spacy"
        split_docbin(full, train, dev, dev_fraction=0.1, seed=args.seed, overwrite=True)
        train_docs = list(read_docs([train]))
        random.Random(args.seed).shuffle(train_docs)
        subset = write(train_docs[: args.semeval_train], args.work / "semeval_train_subset.spacy")
        started = time.perf_counter()
        nlp = finetune(minilm, subset, args.work / "finetune" / "semeval_MiniLM", epochs=2, seed=args.seed)
        table = diagnose_pipeline(nlp, list(read_docs([dev])))
        result["semeval_diagnose"] = {
            "train_docs": min(args.semeval_train, len(train_docs)),
            "seconds": round(time.perf_counter() - started, 1),
            "scores": rounded(table),
        }
        log(f"semeval: {result['semeval_diagnose']}")
    args.out.write_text(json.dumps(result, indent=2))
    log(f"wrote {args.out}")
    return result


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point (full mode only, about 45 min on 2 cores): the settings
    of project.yml's benchmark-cp-wiki80 command (smoke mode: 2 CP steps, one epoch, the
    first 48 documents of each input)."""
    work = work / ("cp_bench_smoke" if smoke else "cp_bench")
    sizes = ["--cp-steps", "60", "--epochs-1", "6", "--epochs-10", "1"]
    if smoke:
        sizes = ["--cp-steps", "2", "--epochs-1", "1", "--epochs-10", "1", "--dev-per-relation", "2", "--limit", "48"]
    args = make_parser().parse_args(["--corpus-dir", str(corpus_dir), "--work", str(work), *sizes,
                                     "--out", str(work / "cp_wiki80.json")])
    data_text = "Wiki80 train_0.01 / train_0.1; dev: 40 FewRel validation instances per relation (640)"
    if smoke:
        data_text = "smoke mode: the first 48 documents of Wiki80 train_0.01 / train_0.1 and FewRel validation"
    return {"data": data_text, "figures": run(args)}


def main() -> None:
    run(make_parser().parse_args())


if __name__ == "__main__":
    main()
