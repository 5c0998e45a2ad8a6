"""Cost of the RE2 rationale solver relative to the classifier's forward pass, same run.

For B candidate pairs in sentences of L tokens it times, on one thread of this machine:
  - forward_no_mask: the rationale_masker model's forward (tok2vec + classifier) with
    `masking = false`, i.e. everything but the solver;
  - forward_full: the same model with the mask (inference: budgeted Viterbi MAP);
  - viterbi: the budgeted Viterbi alone on the same (B, L) scores;
  - relaxed: the training relaxation alone (logistic noise, bisection for the budget
    multiplier, one differentiated marginal pass), forward only.
Ratios are solver time / forward_no_mask time. Weights are untrained (timing only).

python benchmarks/rationale_solver_cost.py --length 128 --pairs 64 --repeats 5
"""
import argparse
import json
import platform
import time
from datetime import date

import spacy
import torch
from spacy.tokens import Doc, Span
from thinc.api import Config, fix_random_seed

from spacy_relext.ml.rationale_solver import budget_sizes, budgeted_viterbi, rationale_mask

MODEL = """
[model]
@architectures = "spacy-relext.RationaleMasker.v1"
masking = {masking}

[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = {width}
depth = 4
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""


def make_docs(nlp, n_pairs: int, length: int):
    docs = []
    for i in range(n_pairs):
        doc = Doc(nlp.vocab, words=[f"w{(i * 7 + j) % 500}" for j in range(length)])
        doc.ents = [Span(doc, 2, 4, label="A"), Span(doc, length - 5, length - 3, label="B")]
        docs.append(doc)
    return docs


def build(masking: bool, width: int, docs, labels):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    model = Config().from_str(MODEL.format(masking=str(masking).lower(), width=width))["model"]
    # Only the (head, tail) direction, so pairs == docs.
    candidates = {"@misc": "spacy-relext.entity_pairs.v1", "allowed_type_pairs": [["A", "B"]]}
    pipe = nlp.add_pipe("rationale_masker", config={"model": model, "candidates": candidates})
    for label in labels:
        pipe.add_label(label)
    pipe.model.set_dim("nO", pipe.n_classes)
    pipe.model.initialize(X=(docs[:2], pipe.make_pairs(docs[:2])[0]))
    return pipe


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--k-ratio", type=float, default=0.6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    nlp = spacy.blank("en")
    docs = make_docs(nlp, args.pairs, args.length)
    labels = [f"R{i}" for i in range(9)]
    results = {}
    for name, masking in (("forward_no_mask", False), ("forward_full", True)):
        pipe = build(masking, args.width, docs, labels)
        regions, pairs = pipe.make_pairs(docs)
        assert len(pairs) == args.pairs
        results[name] = best_time(lambda: pipe.model.predict((docs, regions)), args.repeats)
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(args.pairs, args.length, generator=gen)
    transitions = torch.ones_like(scores)
    valid = torch.ones_like(scores, dtype=torch.bool)
    budget = budget_sizes(valid.sum(1), args.k_ratio)
    results["viterbi"] = best_time(lambda: budgeted_viterbi(scores, transitions, valid, budget), args.repeats)
    results["relaxed"] = best_time(
        lambda: rationale_mask(scores, transitions, valid, budget, train=True, temperature=0.5, iters=args.iters),
        args.repeats,
    )
    base = results["forward_no_mask"]
    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, torch threads 1",
        "length": args.length,
        "pairs": args.pairs,
        "width": args.width,
        "k_ratio": args.k_ratio,
        "bisection_iters": args.iters,
        "ms_per_pair": {k: 1000 * v / args.pairs for k, v in results.items()},
        "ratio_viterbi_to_forward": results["viterbi"] / base,
        "ratio_relaxed_to_forward": results["relaxed"] / base,
        "ratio_full_minus_nomask_to_forward": (results["forward_full"] - base) / base,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
