"""Inference speed of clm_classifier: packed (PL-Marker, packing="subject") vs one pass
per ordered pair (PURE-style, packing="pair"), same encoder and weights, same Docs,
measured alternately in one run (benchmarks/timing.py).

    python benchmarks/clm_packing_speed.py DEV.spacy [--mode trf|listener] [--limit 40] [--repeats 3]

Gold entities from the DocBin are used; weights are untrained (speed only). Prints
sentences/s for both and the speed-up (time per pair / time packed).
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


def packing_speed(dev: Path, mode: str, limit: int, repeats: int) -> dict:
    nlp = spacy.blank("en")
    config = {"model": TRF} if mode == "trf" else {}
    clm = nlp.add_pipe("clm_classifier", config=config)
    gold = data.read(dev, nlp.vocab, limit)
    docs = [data.entity_only(d, nlp.vocab) for d in gold]  # entities only: the input at inference
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
    return {"mode": MODES[mode], "docs": len(docs), "sentences": n_sents, "pairs": n_pairs,
            "torch_threads": torch.get_num_threads(), "packed_sents_per_s": rate(n_sents, timed["a"]),
            "per_pair_sents_per_s": rate(n_sents, timed["b"]), "speedup": timed["ratio"]}


def bench(corpus_dir: Path, work: Path, quick: bool) -> dict:
    """The harness's entry point: both modes on the first 40 (quick) or 80 CoNLL04 dev sentences."""
    paths = data.dataset("conll04", corpus_dir, work)
    limit = 40 if quick else 80
    rows = [packing_speed(paths["dev"], mode, limit, 3) for mode in MODES]
    return {"data": f"{paths['split']}; first {limit} dev sentences, gold entities", "figures": {"rows": rows}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dev", type=Path)
    parser.add_argument("--mode", choices=list(MODES), default="trf")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(packing_speed(args.dev, args.mode, args.limit, args.repeats), indent=2))


if __name__ == "__main__":
    main()
