"""Cost per candidate pair of clm_classifier and rationale_masker: one sentence with
50, 100, 200 and 400 entities ("Name0 and Name1 and ... ."), every ordered pair scored
(the caps of spacy-relext.entity_pairs.v2 switched off), then the same Doc with the
default caps. Untrained but initialised components (speed does not depend on the
weights), one torch thread. Timing: `timing.py` (3 repeats, median with min-max; one
warm-up Doc of 50 entities first, or of the smallest size if that is smaller: smoke mode
times 10 entities).

    python benchmarks/pair_cost.py [--sizes 50 100 200 400] [--components clm_classifier rationale_masker]
"""
import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import List, Sequence

import spacy
import torch
from spacy.language import Language
from spacy.training import Example
from thinc.api import fix_random_seed

sys.path.insert(0, str(Path(__file__).parent))
from speed import synthetic_doc  # noqa: E402
from timing import measure  # noqa: E402

from spacy_relext import Relation  # noqa: E402

SIZES = (50, 100, 200, 400)
QUICK_SIZES = (50, 100, 200)
SMOKE_SIZES = (10,)
COMPONENTS = ("clm_classifier", "rationale_masker")
UNCAPPED = {"@misc": "spacy-relext.entity_pairs.v2", "max_pairs_per_sentence": None, "max_pairs_per_doc": None}


def pipeline(component: str, candidates: dict) -> Language:
    """`component` alone, initialised on one Doc with one gold relation."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(component, config={"candidates": candidates})
    doc = synthetic_doc(nlp, 3, 3)
    gold = synthetic_doc(nlp, 3, 3)
    gold._.relations = [Relation(head=gold.ents[0], tail=gold.ents[1], label="Rel")]
    nlp.initialize(lambda: [Example(doc, gold)])
    return nlp


def cost(nlp: Language, component: str, n_entities: int) -> dict:
    doc = synthetic_doc(nlp, n_entities, n_entities)  # one sentence
    pipe = nlp.get_pipe(component)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W004 / W030 / W031: expected on these Docs
        pairs = len(pipe.get_pairs(doc))
        seconds = measure(lambda: nlp(doc.copy()), warmup=0)
    return {"entities": n_entities, "tokens": len(doc), "pairs_scored": pairs, "seconds": seconds,
            "ms_per_pair": 1000 * seconds["median"] / pairs}


def pair_cost(components: Sequence[str], sizes: Sequence[int]) -> List[dict]:
    torch.set_num_threads(1)
    rows = []
    for component in components:
        for caps, candidates in (("none", UNCAPPED), ("default", {"@misc": "spacy-relext.entity_pairs.v2"})):
            nlp = pipeline(component, candidates)
            cost(nlp, component, min(50, *sizes))  # warm-up
            for n in sizes:
                rows.append({"component": component, "caps": caps, **cost(nlp, component, n)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point (benchmarks/run.py); needs no corpus."""
    rows = pair_cost(COMPONENTS, SMOKE_SIZES if smoke else QUICK_SIZES if quick else SIZES)
    return {"data": "synthetic one-sentence Docs; untrained, initialised components",
            "figures": {"torch_threads": 1, "rows": rows}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--components", nargs="+", choices=COMPONENTS, default=list(COMPONENTS))
    args = parser.parse_args()
    print(json.dumps(pair_cost(args.components, args.sizes), indent=2))


if __name__ == "__main__":
    main()
