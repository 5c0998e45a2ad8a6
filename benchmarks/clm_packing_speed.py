"""Inference speed of clm_classifier: packed (PL-Marker, packing="subject") vs one pass
per ordered pair (PURE-style, packing="pair"), same encoder and weights, same Docs, same run.

    python benchmarks/clm_packing_speed.py DEV.spacy [--mode trf|listener] [--repeats 2]

Gold entities from the DocBin are used; prints sentences/s for both and their ratio.
"""
import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import spacy  # noqa: E402
import torch  # noqa: E402
from spacy.tokens import DocBin  # noqa: E402
from spacy.training import Example  # noqa: E402

TRF = {"@architectures": "spacy-relext.LevitatedMarkerTransformer.v1", "encoder": {"@misc": "spacy-relext.installed_encoder.v1"}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dev")
    parser.add_argument("--mode", choices=["trf", "listener"], default="trf")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    nlp = spacy.blank("en")
    config = {"model": TRF} if args.mode == "trf" else {}
    clm = nlp.add_pipe("clm_classifier", config=config)
    docs = list(DocBin().from_disk(args.dev).get_docs(nlp.vocab))
    nlp.initialize(lambda: [Example(doc, doc) for doc in docs])
    n_sents = sum(len(list(doc.sents)) for doc in docs)
    n_pairs = sum(len(clm.get_pairs(doc)) for doc in docs)
    timings = {}
    with torch.inference_mode():
        for packing in ("subject", "pair"):
            clm.cfg["packing"] = packing
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                for doc in nlp.pipe([d.copy() for d in docs], batch_size=32):
                    pass
                best = min(best, time.perf_counter() - start)
            timings[packing] = best
            print(f"{packing:8s} {n_sents / best:8.1f} sentences/s ({best:.2f}s, {len(docs)} docs, {n_pairs} pairs)")
    print(f"ratio packed/per-pair: {timings['pair'] / timings['subject']:.2f}x  (torch threads: {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
