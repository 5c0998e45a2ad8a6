"""RERE benchmark: cPU vs BCE detector loss, robustness to removed training triples
(the paper's Figure 3 experiment) and relation-first vs query-every-relation speed.

    python benchmarks/rere.py TRAIN.spacy DEV.spacy OUT_DIR [--steps 3000] [--drops 0,0.1,0.3,0.5]
        [--train-limit N] [--dev-limit N]

For every (drop, loss) it removes that fraction of the training triples at random
(seeded), trains `configs/rere_cpu.cfg` for `--steps` steps, and evaluates `model-best`
on dev. The speed comparison runs on the first model (drop 0, first loss): the same
pipeline with the extractor querying the detected relations vs every label, in the same
process. Only the first `--train-limit` documents of TRAIN.spacy and the first
`--dev-limit` of DEV.spacy are used (0, the default: all); the dev limit holds for
training, scores and speed alike. Results go to OUT_DIR/results.json; progress to
stdout. With `--speed-model MODEL` it only runs the speed comparison on that pipeline
(OUT_DIR/speed.json); with `--sweep` it only re-scores the trained runs in OUT_DIR over
detector thresholds (OUT_DIR/sweep.json); with `--oracle-model MODEL` it only scores that
pipeline's extractor queried with the gold relations (OUT_DIR/oracle.json).
"""

import argparse
import json
import random
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import spacy
from spacy.cli.train import train
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from spacy_relext.entities import sentence_spans
from spacy_relext.relations import (SENT_EXT_ATTR, get_relations, get_sentence_scores, install_extensions,
                                    install_sentence_extension, set_relations)

sys.path.insert(0, str(Path(__file__).parent))
from timing import alternate, rate  # noqa: E402

CONFIG = Path(__file__).parents[1] / "configs" / "rere_cpu.cfg"
KEYS = [
    "triple_exact_p",
    "triple_exact_r",
    "triple_exact_f",
    "triple_partial_p",
    "triple_partial_r",
    "triple_partial_f",
    "rel_detect_p",
    "rel_detect_r",
    "rel_detect_f",
]


def read_docs(path: Path, vocab, limit: int = 0) -> List[Doc]:
    """The first `limit` documents of the DocBin at `path` (0: all)."""
    docs = DocBin().from_disk(path).get_docs(vocab)
    return list(islice(docs, limit) if limit else docs)


def drop_triples(src: Path, dest: Path, fraction: float, seed: int, limit: int = 0) -> Dict[str, int]:
    """Copy the first `limit` documents of a DocBin (0: all), removing each gold relation
    with probability `fraction`."""
    install_extensions()
    nlp = spacy.blank("en")
    rng = random.Random(seed)
    docs, kept, total = [], 0, 0
    for doc in read_docs(src, nlp.vocab, limit):
        rels = get_relations(doc)
        keep = [rel for rel in rels if rng.random() >= fraction]
        set_relations(doc, keep)
        kept, total = kept + len(keep), total + len(rels)
        docs.append(doc)
    DocBin(store_user_data=True, docs=docs).to_disk(dest)
    return {"kept": kept, "total": total}


def evaluate(model_dir: Path, dev: Path, detector_threshold: Optional[float] = None, limit: int = 0) -> Dict[str, Any]:
    nlp = spacy.load(model_dir)
    if detector_threshold is not None:
        nlp.get_pipe("relation_detector").cfg["threshold"] = detector_threshold
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in read_docs(dev, nlp.vocab, limit)]
    scores = nlp.evaluate(examples)
    return {key: round(100 * scores[key], 2) for key in KEYS}


def sweep(out: Path, dev: Path, thresholds: List[float], limit: int = 0) -> Dict[str, Any]:
    """Dev triple exact F1 of every trained run for several detector thresholds (tuned
    on dev, hence optimistic: reported apart from the fixed-threshold figures)."""
    result = {}
    for model_dir in sorted(out.glob("drop*/model-best")):
        scores = {th: evaluate(model_dir, dev, th, limit)["triple_exact_f"] for th in thresholds}
        best = max(scores, key=scores.get)
        result[model_dir.parent.name] = {"triple_exact_f": scores, "best_threshold": best}
        print(model_dir.parent.name, json.dumps(result[model_dir.parent.name]), flush=True)
    return result


def unlabelled_copy(nlp: Language, doc: Doc, stop: str) -> Doc:
    """A copy of a gold Doc's words (and sentence starts) without its relations, run
    through the pipeline's components before the one named `stop`."""
    copy = Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc],
               sent_starts=[bool(t.is_sent_start) for t in doc] if doc.has_annotation("SENT_START") else None)
    for name, proc in nlp.pipeline:
        if name == stop:
            break
        copy = proc(copy)
    return copy


def oracle_queries(model: Union[Path, Language], dev: Path, limit: int = 0) -> Dict[str, Any]:
    """The extractor alone, every dev sentence queried with its gold relation labels (a
    perfect first stage): the triple scores it reaches, so the errors of the two stages
    are told apart. Run on the CPU (listener) and the query-mode (MiniLM) extractor alike;
    `model` is a saved pipeline or a loaded one (with its thresholds as they are set)."""
    install_sentence_extension()
    nlp = model if isinstance(model, Language) else spacy.load(model)
    extractor = nlp.get_pipe("span_extractor")
    examples = []
    for gold in read_docs(dev, nlp.vocab, limit):
        doc = unlabelled_copy(nlp, gold, "relation_detector")
        for sent in sentence_spans(doc):
            labels = {r.label for r in get_relations(gold) if sent.start <= r.head.start < sent.end}
            setattr(sent._, SENT_EXT_ATTR, {label: 1.0 for label in labels})
        examples.append(Example(extractor(doc), gold))
    scores = extractor.score(examples)
    return {key: round(100 * scores[key], 2) for key in KEYS if key.startswith("triple_")}


def speed(model_dir: Path, dev: Path, repeats: int, limit: int = 0) -> Dict[str, Any]:
    """Sentences/s of relation-first extraction vs querying every label, measured
    alternately in one process (benchmarks/timing.py); speedup = time(all) / time(first)."""
    nlp = spacy.load(model_dir)
    texts = [doc.text for doc in read_docs(dev, nlp.vocab, limit)]
    extractor = nlp.get_pipe("span_extractor")
    result: Dict[str, Any] = {"labels": len(extractor.labels), "batch_size": 64}

    def run(query_all: bool):
        def pipe():
            extractor.cfg["query_all_labels"] = query_all
            return list(nlp.pipe(texts, batch_size=64))
        return pipe

    timed = alternate(run(False), run(True), repeats)
    extractor.cfg["query_all_labels"] = False
    docs = run(False)()
    n_sents = sum(len(sentence_spans(doc)) for doc in docs)
    detected = sum(len(get_sentence_scores(s) or {}) for doc in docs for s in sentence_spans(doc))
    result.update({
        "sentences": n_sents,
        "detected_relations_per_sentence": round(detected / n_sents, 3),
        "relation_first_sents_per_s": rate(n_sents, timed["a"]),
        "all_relations_sents_per_s": rate(n_sents, timed["b"]),
        "speedup": timed["ratio"],
    })
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--drops", default="0,0.1,0.3,0.5")
    parser.add_argument("--losses", default="cpu,bce")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=0, help="Use only the first N training documents (0: all)")
    parser.add_argument("--dev-limit", type=int, default=0, help="Use only the first N dev documents (0: all)")
    parser.add_argument("--speed-model", type=Path, default=None)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--oracle-model", type=Path, default=None,
                        help="Only score this pipeline's extractor with the gold relations as its queries")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.oracle_model is not None:
        oracle = {"model": str(args.oracle_model), **oracle_queries(args.oracle_model, args.dev, args.dev_limit)}
        print(json.dumps(oracle), flush=True)
        (args.out / "oracle.json").write_text(json.dumps(oracle, indent=2))
        return
    if args.sweep:
        result = sweep(args.out, args.dev, [0.3, 0.5, 0.7, 0.9], args.dev_limit)
        (args.out / "sweep.json").write_text(json.dumps(result, indent=2))
        return
    if args.speed_model is not None:
        speeds = speed(args.speed_model, args.dev, args.repeats, args.dev_limit)
        print(json.dumps(speeds), flush=True)
        (args.out / "speed.json").write_text(json.dumps(speeds, indent=2))
        return
    results: List[Dict[str, Any]] = []
    first_model = None
    for drop in [float(x) for x in args.drops.split(",")]:
        train_path = args.out / f"train_drop{drop}.spacy"
        counts = drop_triples(args.train, train_path, drop, args.seed, args.train_limit)
        for loss in args.losses.split(","):
            run_dir = args.out / f"drop{drop}_{loss}"
            print(f"training loss={loss} drop={drop} ({counts['kept']}/{counts['total']} triples)", flush=True)
            start = time.perf_counter()
            overrides = {
                "paths.train": str(train_path),
                "paths.dev": str(args.dev),
                "components.relation_detector.loss": loss,
                "training.max_steps": args.steps,
                "training.eval_frequency": max(1, args.steps // 6),
                "training.seed": args.seed,
                "corpora.dev.limit": args.dev_limit,
            }
            train(CONFIG, run_dir, overrides=overrides)
            scores = evaluate(run_dir / "model-best", args.dev, limit=args.dev_limit)
            results.append(
                {"loss": loss, "drop": drop, **counts, "train_s": round(time.perf_counter() - start), **scores}
            )
            print(json.dumps(results[-1]), flush=True)
            first_model = first_model or run_dir / "model-best"
            (args.out / "results.json").write_text(json.dumps({"runs": results}, indent=2))
    speeds = speed(first_model, args.dev, args.repeats, args.dev_limit)
    print(json.dumps(speeds), flush=True)
    (args.out / "results.json").write_text(json.dumps({"runs": results, "speed": speeds}, indent=2))


if __name__ == "__main__":
    main()
