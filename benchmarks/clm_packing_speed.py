"""Inference speed of clm_classifier: packed (PL-Marker, packing="subject") vs one pass
per ordered pair (PURE-style, packing="pair"), same encoder and weights, same Docs,
measured alternately in one run (benchmarks/timing.py).

    python benchmarks/clm_packing_speed.py DEV.spacy [--mode trf|listener] [--limit 40] [--repeats 3] [--spans-key KEY]

Gold entities from the DocBin are used (from `doc.spans[KEY]` with --spans-key, as SciERC
stores its overlapping mentions); weights are untrained (speed only). Prints sentences/s
for both and the speed-up (time per pair / time packed).
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import spacy  # noqa: E402
import torch  # noqa: E402
from spacy.training import Example  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
from timing import alternate, rate  # noqa: E402

TRF = {"@architectures": "spacy-relext.LevitatedMarkerTransformer.v1", "encoder": {"@misc": "spacy-relext.installed_encoder.v1"}}
MODES = {"trf": "MiniLM (faithful, LevitatedMarkerTransformer)", "listener": "listener (CPU default, own tok2vec)"}


def packing_speed(dev: Path, mode: str, limit: int, repeats: int, spans_key: str = "") -> dict:
    nlp = spacy.blank("en")
    config = {"model": TRF} if mode == "trf" else {}
    clm = nlp.add_pipe("clm_classifier", config={**config, "spans_key": spans_key or None})
    gold = data.read(dev, nlp.vocab, limit)
    docs = [data.entity_only(d, nlp.vocab, spans_key) for d in gold]  # entities only: the input at inference
    nlp.initialize(lambda: [Example(doc, ref) for doc, ref in zip(docs, gold)])
    n_sents = sum(len(list(doc.sents)) for doc in docs)
    n_pairs = sum(len(clm.get_pairs(doc)) for doc in docs)

    def variant(packing: str):
        def pipe():
            clm.cfg["packing"] = packing
            return list(nlp.pipe([d.copy() for d in docs], batch_size=32))
        return pipe

    with torch.inference_mode():
        timed = alternate(variant("subject"), variant("pair"), repeats)
    return {"mode": MODES[mode], "dataset": dev.stem, "docs": len(docs), "sentences": n_sents, "pairs": n_pairs,
            "torch_threads": torch.get_num_threads(), "packed_sents_per_s": rate(n_sents, timed["a"]),
            "per_pair_sents_per_s": rate(n_sents, timed["b"]), "speedup": timed["ratio"]}


# dataset -> (spans_key, documents in quick mode, in full mode). SciERC dev (the issue's
# setting: 50 abstracts, 275 sentences) has several sentences per document.
DATASETS = {"conll04": ("", 40, 80), "scierc": ("entities", 8, 50)}
SMOKE_LIMIT = 1  # documents per dataset in smoke mode


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point: both modes on CoNLL04 and SciERC dev, gold entities."""
    rows, splits = [], []
    for name, (spans_key, quick_limit, full_limit) in DATASETS.items():
        paths = data.dataset(name, corpus_dir, work, smoke)
        limit = SMOKE_LIMIT if smoke else quick_limit if quick else full_limit
        rows += [packing_speed(paths["dev"], mode, limit, 3, spans_key) for mode in MODES]
        splits.append(f"{paths['split']}; first {limit} dev documents, gold entities")
    return {"data": " | ".join(splits), "figures": {"rows": rows}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dev", type=Path)
    parser.add_argument("--mode", choices=list(MODES), default="trf")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spans-key", default="", help="Read mentions from doc.spans[KEY] (SciERC: entities)")
    args = parser.parse_args()
    print(json.dumps(packing_speed(args.dev, args.mode, args.limit, args.repeats, args.spans_key), indent=2))


if __name__ == "__main__":
    main()
