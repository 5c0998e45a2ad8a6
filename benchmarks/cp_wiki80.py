"""Low-resource Wiki80 with and without contrastive pre-training (CP), plus diagnose tables.

    python benchmarks/cp_wiki80.py --corpus-dir ../shared/corpus --work training/cp_bench \
        [--cp-steps 150] [--dev-per-relation 40] [--subsets train_0.01 train_0.1] [--semeval-train 2000]

Steps, all in one run on one machine:
1. Convert Wiki80 `train_0.01`/`train_0.1` and FewRel validation (the shared copy already
   lacks every sentence of the held-back Wiki80 dev set).
2. Dev split: per FewRel relation (all 16 are Wiki80 relations), `--dev-per-relation`
   instances whose sentence is in neither training file.
3. CP data: the other FewRel instances plus `train_0.1`, minus any sentence or (head, tail)
   name pair of the dev split; `pretrain-cp` also checks the sentences against the dev file.
4. Fine-tune MiniLM and MiniLM+CP identically (C+M) on 1% and 10%, accuracy on the dev split
   under all five entity representations.
5. With `--semeval-train N`: a MiniLM pair classifier on N SemEval training sentences,
   diagnosed on a held-out 10% of the SemEval training file (micro-F1 without Other).
Writes the figures to `--out`; `benchmarks/run.py --only cp_wiki80` runs it with the
settings of project.yml and writes `benchmarks/results/cp_wiki80.json`.
"""
import argparse
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from spacy.tokens import DocBin  # noqa: E402

from spacy_relext.convert import convert, split_docbin  # noqa: E402
from spacy_relext.encoders import installed_encoder  # noqa: E402
from spacy_relext.cp.pair_classifier import PairTrainSettings, diagnose, train_pair_classifier  # noqa: E402
from spacy_relext.cp.pretrain import CPSettings, pretrain_cp  # noqa: E402
from spacy_relext.cp.sentence_pairs import doc_pairs, read_docs, read_pairs, sentence_key  # noqa: E402


SUBSETS = ("train_0.01", "train_0.1")


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


def build_splits(corpus: Path, work: Path, per_relation: int, seed: int) -> dict:
    files = {}
    for name, fmt, src in (
        ("train_0.01", "wiki80", corpus / "wiki80" / "train_0.01.txt"),
        ("train_0.1", "wiki80", corpus / "wiki80" / "train_0.1.txt"),
        ("fewrel_val", "fewrel", corpus / "fewrel" / "val_wiki.minus_wiki80_dev.json"),
    ):
        files[name] = work / f"{name}.spacy"
        if not files[name].exists():
            convert(fmt, src, files[name], show_progress=False)
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


def finetune_and_diagnose(encoder: str, train: str, dev_pairs, settings: PairTrainSettings) -> dict:
    started = time.perf_counter()
    classifier = train_pair_classifier(read_pairs([train], settings.negative_label), encoder, settings)
    seconds = time.perf_counter() - started
    table = diagnose(classifier, dev_pairs)
    return {"train_seconds": round(seconds, 1), "scores": rounded(table)}


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
    parser.add_argument("--out", type=Path, default=Path("training/cp_bench/cp_wiki80.json"),
                        help="Where the figures are written (after every run, so a stopped run keeps them)")
    return parser


def run(args: argparse.Namespace) -> dict:
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"args": {k: str(v) for k, v in vars(args).items()}}
    splits = build_splits(args.corpus_dir, args.work, args.dev_per_relation, args.seed)
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

    cp = pretrain_cp(cp_settings, args.work / "cp", progress=report)
    result["pretrain"] = {
        "steps": cp.steps, "pairs": cp.pairs, "train_seconds": round(cp.seconds, 1),
        "wall_seconds": round(time.perf_counter() - started, 1), "pairs_per_second": round(cp.pairs_per_second, 2),
        "last_loss": round(cp.last_loss, 4), "batch_pairs": args.cp_batch_pairs, "max_length": cp_settings.max_length,
    }
    log(f"pretrain: {result['pretrain']}")
    dev_pairs = read_pairs([splits["dev"]])
    result["wiki80"] = {}
    epochs = {"train_0.01": args.epochs_1, "train_0.1": args.epochs_10}
    for subset in args.subsets:
        for name, encoder in (("MiniLM", minilm), ("MiniLM+CP", cp.model_dir)):
            settings = PairTrainSettings(epochs=epochs[subset], batch_size=16, learning_rate=5e-5, seed=args.seed)
            run = finetune_and_diagnose(encoder, splits[subset], dev_pairs, settings)
            result["wiki80"][f"{subset} {name}"] = run
            log(f"{subset} {name}: {run}")
            args.out.write_text(json.dumps(result, indent=2))
    if args.semeval_train:
        full = args.work / "semeval.spacy"
        convert("semeval", args.corpus_dir / "semeval2010_task8" / "SemEval2010_task8_training" / "TRAIN_FILE.TXT",
                full, show_progress=False)
        train, dev = args.work / "semeval_train.spacy", args.work / "semeval_dev.spacy"
        split_docbin(full, train, dev, dev_fraction=0.1, seed=args.seed)
        train_pairs = read_pairs([train], "Other")
        random.Random(args.seed).shuffle(train_pairs)
        settings = PairTrainSettings(epochs=2, batch_size=16, negative_label="Other", seed=args.seed)
        started = time.perf_counter()
        classifier = train_pair_classifier(train_pairs[: args.semeval_train], minilm, settings)
        table = diagnose(classifier, read_pairs([dev], "Other"))
        result["semeval_diagnose"] = {
            "train_pairs": min(args.semeval_train, len(train_pairs)),
            "seconds": round(time.perf_counter() - started, 1),
            "scores": rounded(table),
        }
        log(f"semeval: {result['semeval_diagnose']}")
    args.out.write_text(json.dumps(result, indent=2))
    log(f"wrote {args.out}")
    return result


def bench(corpus_dir: Path, work: Path, quick: bool) -> dict:
    """The harness's entry point (full mode only, about 45 min on 2 cores): the settings
    of project.yml's benchmark-cp-wiki80 command."""
    args = make_parser().parse_args(["--corpus-dir", str(corpus_dir), "--work", str(work / "cp_bench"),
                                     "--cp-steps", "60", "--epochs-1", "6", "--epochs-10", "1",
                                     "--out", str(work / "cp_bench" / "cp_wiki80.json")])
    return {"data": "Wiki80 train_0.01 / train_0.1; dev: 40 FewRel validation instances per relation (640)",
            "figures": run(args)}


def main() -> None:
    run(make_parser().parse_args())


if __name__ == "__main__":
    main()
