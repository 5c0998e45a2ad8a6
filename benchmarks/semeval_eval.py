"""Score a trained relation pipeline on a SemEval-2010 Task 8 dev set with gold entities:
the official macro-F1 (9 relations, direction counted), micro-F1 without Other and the
19-way accuracy (`spacy_relext.scorer.score_semeval`).

    python benchmarks/semeval_eval.py training/clm_semeval/model-best corpus_converted/semeval_dev.spacy [--output metrics/x.json]
        [--limit N]

`spacy evaluate` cannot do this: it reads the dev set with `spacy.Corpus`, whose predicted
Docs have no entities, so a pair classifier would see no pairs.
"""
import argparse
import json
from pathlib import Path
from typing import Optional

import spacy
from spacy.language import Language
from spacy.training import Example

from spacy_relext.readers import create_gold_ents_corpus
from spacy_relext.scorer import score_semeval


def evaluate(nlp: Language, dev: Path, limit: int = 0) -> dict:
    """The SemEval scores of `nlp` on the first `limit` documents of `dev` (0: all)."""
    examples = list(create_gold_ents_corpus(dev, limit=limit)(nlp))
    predicted = nlp.pipe(eg.predicted for eg in examples)
    scores = score_semeval([Example(doc, eg.reference) for doc, eg in zip(predicted, examples)])
    return {"dev": str(dev), "n_docs": len(examples), **{k: v for k, v in scores.items() if isinstance(v, float)}}


def write_report(report: dict, output: Optional[Path]) -> None:
    """Print a report as JSON and also write it to `output` when given."""
    text = json.dumps(report, indent=2)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=0, help="Score only the first N dev documents (0: all)")
    args = parser.parse_args()
    write_report({"model": str(args.model), **evaluate(spacy.load(args.model), args.dev, args.limit)}, args.output)


if __name__ == "__main__":
    main()
