"""Evaluate a trained rationale_masker pipeline on a gold-entity dev set: SemEval official
macro-F1, micro-F1 without Other, and rationale statistics over every candidate pair
(mean fraction of region tokens selected, mean number of contiguous segments).

python benchmarks/rationale_eval.py training/rationale_semeval/model-best corpus_converted/semeval_dev.spacy [--limit N]
"""
import argparse
from pathlib import Path

import spacy
from spacy.training import Example

from semeval_eval import write_report
from spacy_relext.rationale.solver import mask_segments
from spacy_relext.readers import create_gold_ents_corpus
from spacy_relext.scorer import score_semeval


def evaluate(nlp, dev: Path, component: str = "rationale_masker", batch_size: int = 64, limit: int = 0) -> dict:
    """Dev scores and rationale statistics of a pipeline with a rationale_masker, on the
    first `limit` documents of `dev` (0: all)."""
    pipe = nlp.get_pipe(component)
    examples = list(create_gold_ents_corpus(dev, limit=limit, spans_key=None)(nlp))
    predicted, fractions, segments = [], [], []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        docs = list(nlp.pipe(eg.predicted for eg in batch))
        # Rationales of every candidate pair, Other decisions included.
        _, _, masks = pipe.predict(docs)
        regions, _ = pipe.make_pairs(docs)
        for region, mask in zip(regions.pairs, masks.tolist()):
            length = region.region[1] - region.region[0]
            fractions.append(sum(mask[:length]) / max(length, 1))
            segments.append(len(mask_segments(mask[:length])))
        predicted.extend(docs)
    scores = score_semeval([Example(doc, eg.reference) for doc, eg in zip(predicted, examples)])
    return {
        "dev": str(dev),
        "n_docs": len(examples),
        "semeval_macro_f": scores["semeval_macro_f"],
        "semeval_micro_f": scores["semeval_micro_f"],
        "semeval_acc": scores["semeval_acc"],
        "mean_fraction_selected": sum(fractions) / max(len(fractions), 1),
        "mean_segments_per_rationale": sum(segments) / max(len(segments), 1),
        "n_pairs": len(fractions),
        "model_options": {k: v for k, v in pipe.model.attrs.items() if isinstance(v, (bool, int, float))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("--component", default="rationale_masker")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=0, help="Score only the first N dev documents (0: all)")
    args = parser.parse_args()
    nlp = spacy.load(args.model)
    report = {"model": str(args.model), **evaluate(nlp, args.dev, args.component, args.batch_size, args.limit)}
    write_report(report, args.output)


if __name__ == "__main__":
    main()
