"""Evaluate a trained rationale_masker pipeline on a gold-entity dev set: SemEval official
macro-F1, micro-F1 without Other, rationale statistics over every candidate pair (mean
fraction of region tokens selected, mean number of contiguous segments), and whether the
rationale carries the decision:

- mask-swap probe: micro-F1 when the classifier reads, in place of the MAP rationale,
  every region token, K random tokens, or the K least important tokens (K: the size of
  the pair's MAP rationale);
- ERASER (DeYoung et al. 2020), for the predicted class of each pair predicted as a
  relation: comprehensiveness, p(y|x) - p(y|x without the rationale), and sufficiency,
  p(y|x) - p(y|only the rationale), each against a random rationale of the same length.
  Tokens are removed from the Doc itself (the whole pipeline runs again, the encoder
  included); the two arguments always stay, since they define the pair.

python benchmarks/rationale_eval.py training/rationale_semeval/model-best corpus_converted/semeval_dev.spacy [--limit N]
"""
import argparse
from pathlib import Path
from typing import Dict, List, Sequence

import numpy
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from semeval_eval import write_report
from spacy_relext.rationale.architectures import classify_with_masks, region_importance
from spacy_relext.rationale.solver import mask_segments
from spacy_relext.readers import create_gold_ents_corpus
from spacy_relext.relations import set_relations
from spacy_relext.scorer import score_semeval

SWAPS = ("map", "all", "random_k", "least_important_k")


def evaluate(nlp, dev: Path, component: str = "rationale_masker", batch_size: int = 64, limit: int = 0,
             seed: int = 0) -> dict:
    """Dev scores, rationale statistics and probes of a pipeline with a rationale_masker,
    on the first `limit` documents of `dev` (0: all)."""
    pipe = nlp.get_pipe(component)
    upstream = [name for name in nlp.pipe_names if name != component]
    examples = list(create_gold_ents_corpus(dev, limit=limit, spans_key=None)(nlp))
    rng = numpy.random.default_rng(seed)
    swapped: Dict[str, List[Doc]] = {name: [] for name in SWAPS}
    fractions, segments, eraser, spreads = [], [], [], []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        docs = list(nlp.pipe((eg.predicted for eg in batch), disable=[component]))
        pairs, logits, masks = pipe.predict(docs)
        masks = numpy.asarray(masks)
        regions, _ = pipe.make_pairs(docs)
        valid = numpy.zeros_like(masks)
        for p, region in enumerate(regions.pairs):
            length = region.region[1] - region.region[0]
            valid[p, :length] = 1
            fractions.append(masks[p, :length].sum() / max(length, 1))
            segments.append(len(mask_segments(masks[p, :length].tolist())))
        scores = numpy.asarray(region_importance(pipe.model, docs, regions))
        spreads.extend(float(numpy.std(row[numpy.isfinite(row)])) for row in scores)
        variants = {"map": masks, "all": valid, **_swap_masks(masks, valid, scores, rng)}
        for name, variant in variants.items():
            variant_logits = logits if name == "map" else classify_with_masks(pipe.model, docs, regions, variant)
            copies = [doc.copy() for doc in docs]
            for doc in copies:
                set_relations(doc, [])
            _, copy_pairs = pipe.make_pairs(copies)  # the same pairs, on the copies
            pipe.set_annotations(copies, (copy_pairs, variant_logits, masks))
            swapped[name].extend(copies)
        eraser.extend(_eraser(nlp, pipe, upstream, docs, pairs, pipe.probabilities(logits), masks, valid, rng))
    references = [eg.reference for eg in examples]
    scores = {name: score_semeval([Example(doc, ref) for doc, ref in zip(docs, references)])
              for name, docs in swapped.items()}
    return {
        "dev": str(dev),
        "n_docs": len(examples),
        "semeval_macro_f": scores["map"]["semeval_macro_f"],
        "semeval_micro_f": scores["map"]["semeval_micro_f"],
        "semeval_acc": scores["map"]["semeval_acc"],
        "mean_fraction_selected": float(numpy.mean(fractions)) if fractions else 0.0,
        "mean_segments_per_rationale": float(numpy.mean(segments)) if segments else 0.0,
        "n_pairs": len(fractions),
        # The solver's units: the spread of the importance scores within a region, against
        # the continuity reward r and logistic noise (standard deviation pi / sqrt(3)).
        "mean_score_spread": float(numpy.mean(spreads)) if spreads else 0.0,
        "continuity_r": _continuity(pipe),
        "swap_probe_micro_f": {name: scores[name]["semeval_micro_f"] for name in SWAPS},
        "eraser": _summarise(eraser),
        "model_options": {k: v for k, v in pipe.model.attrs.items() if isinstance(v, (bool, int, float, str))},
    }


def _swap_masks(masks: numpy.ndarray, valid: numpy.ndarray, scores: numpy.ndarray,
                rng: numpy.random.Generator) -> Dict[str, numpy.ndarray]:
    """K random region tokens and the K least important ones, K the MAP rationale's size."""
    random_k, least_k = numpy.zeros_like(masks), numpy.zeros_like(masks)
    for p in range(len(masks)):
        k, length = int(round(masks[p].sum())), int(valid[p].sum())
        random_k[p, rng.choice(length, size=k, replace=False)] = 1
        least_k[p, numpy.argsort(scores[p, :length], kind="stable")[:k]] = 1
    return {"random_k": random_k, "least_important_k": least_k}


def _continuity(pipe) -> float:
    import torch

    module = pipe.model.get_ref("masker").shims[0]._model
    return float(torch.nn.functional.softplus(module.continuity_raw)) if module.continuity else 0.0


def _eraser(nlp, pipe, upstream: Sequence[str], docs: List[Doc], pairs, probs: numpy.ndarray, masks: numpy.ndarray,
            valid: numpy.ndarray, rng: numpy.random.Generator) -> List[Dict[str, float]]:
    """Comprehensiveness and sufficiency of the MAP and of a random rationale, per pair
    predicted as a relation (class > 0)."""
    cases, reduced, head_starts = [], [], []
    for p, (i, head, tail, start) in enumerate(pairs):
        label = int(probs[p].argmax())
        if label == 0:
            continue
        arguments = set(range(head.start, head.end)) | set(range(tail.start, tail.end))
        region = [start + j for j in range(int(valid[p].sum()))]
        in_region = set(region)
        rationale = [t for j, t in enumerate(region) if masks[p, j] > 0.5 and t not in arguments]
        candidates = [t for t in region if t not in arguments]
        random = sorted(rng.choice(candidates, size=len(rationale), replace=False).tolist()) if rationale else []
        doc = docs[i]
        for selection in (rationale, random):
            kept_without = [t for t in range(len(doc)) if t not in set(selection)]
            # Only the rationale of the region (tokens outside the pair's region stay).
            kept_only = [t for t in range(len(doc)) if t in set(selection) or t in arguments or t not in in_region]
            for kept in (kept_without, kept_only):
                reduced.append(_reduced_doc(doc, kept, head, tail))
                head_starts.append(kept.index(head.start))
        cases.append((p, label, len(rationale)))
    if not cases:
        return []
    for name in upstream:
        reduced = list(nlp.get_pipe(name).pipe(reduced))
    reduced_pairs, reduced_logits, _ = pipe.predict(reduced)
    reduced_probs = pipe.probabilities(reduced_logits)
    # Each reduced Doc holds only the two arguments: the pair head -> tail is the row
    # whose head starts where the head was kept.
    row_of = {d: row for row, (d, head, _, _) in enumerate(reduced_pairs) if head.start == head_starts[d]}
    out = []
    for c, (p, label, size) in enumerate(cases):
        base = probs[p, label]
        without, only, random_without, random_only = (reduced_probs[row_of[4 * c + k], label] for k in range(4))
        out.append({"comprehensiveness": base - without, "sufficiency": base - only,
                    "random_comprehensiveness": base - random_without, "random_sufficiency": base - random_only,
                    "rationale_tokens": size})
    return out


def _reduced_doc(doc: Doc, kept: List[int], head: Span, tail: Span) -> Doc:
    """The Doc with only the `kept` tokens (in order), the two arguments as its entities."""
    position = {t: n for n, t in enumerate(kept)}
    words = [doc[t].text for t in kept]
    spaces = [bool(doc[t].whitespace_) for t in kept]
    reduced = Doc(doc.vocab, words=words, spaces=spaces, sent_starts=[n == 0 for n in range(len(kept))])
    reduced.ents = [Span(reduced, position[span.start], position[span.end - 1] + 1, label=span.label_)
                    for span in sorted((head, tail), key=lambda span: span.start)]
    return reduced


def _summarise(cases: List[Dict[str, float]]) -> Dict[str, float]:
    if not cases:
        return {"n_pairs": 0}
    mean = {key: float(numpy.mean([case[key] for case in cases])) for key in cases[0]}
    comp, random_comp = mean["comprehensiveness"], mean["random_comprehensiveness"]
    return {"n_pairs": len(cases), **mean,
            "comprehensiveness_ratio_to_random": comp / random_comp if random_comp > 0 else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("--component", default="rationale_masker")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=0, help="Score only the first N dev documents (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random rationales")
    args = parser.parse_args()
    nlp = spacy.load(args.model)
    report = {"model": str(args.model),
              **evaluate(nlp, args.dev, args.component, args.batch_size, args.limit, args.seed)}
    write_report(report, args.output)


if __name__ == "__main__":
    main()
