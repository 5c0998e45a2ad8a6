"""The diagnose table of the SemEval clm_classifier: how much it relies on entity names.

    python benchmarks/diagnose_semeval.py --corpus-dir ../shared/corpus [--work DIR] [--model PATH] [--quick]

The model is the one `accuracy_clm_semeval` trains (configs/clm_cpu_gold.cfg, gold
entities, seed 0) in the same `--work` directory; when it is not there it is trained
here the same way (`accuracy.train_and_score`), or `--model` names another pipeline. Its
relation component then reads the SemEval dev split (gold entities) rewritten under C+M,
C+T, OnlyC, OnlyM and OnlyT (`spacy_relext.cp.diagnose`), scored as relation micro-F1
(both arguments, label and direction; "Other" is no relation), the `rel_f` of the
accuracy benchmark.
"""
import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Optional

import spacy

sys.path.insert(0, str(Path(__file__).parent))
import accuracy  # noqa: E402
import data  # noqa: E402

from spacy_relext.cp.diagnose import diagnose_pipeline, relation_component  # noqa: E402
from spacy_relext.cp.sentence_pairs import read_docs  # noqa: E402


def diagnose_semeval(corpus_dir: Path, work: Path, quick: bool, model: Optional[Path] = None,
                     smoke: bool = False) -> dict:
    paths = data.dataset("semeval", corpus_dir, work, smoke)
    source = "given"
    if model is None:
        # where accuracy.train_and_score("clm_semeval") writes its model
        model = work / f"accuracy_clm_semeval_{data.mode_name(quick, smoke)}" / "model-best"
        source = "accuracy_clm_semeval, same --work"
        if not model.exists():
            model = accuracy.train_and_score("clm_semeval", corpus_dir, work, quick, smoke=smoke)["model"]
            source = "trained by this run"
    nlp = spacy.load(model)
    docs = list(read_docs([paths["dev"]]))
    started = time.perf_counter()
    table = diagnose_pipeline(nlp, docs)
    seconds = time.perf_counter() - started
    meta = json.loads((Path(model) / "meta.json").read_text())
    types = Counter(ent.label_ for doc in docs for ent in doc.ents)
    figures = {
        "model": str(model),
        "model_source": source,
        "component": relation_component(nlp).name,
        "model_dev_rel_f": meta["performance"].get("rel_f"),
        "steps": nlp.config["training"]["max_steps"],
        "dev_docs": len(docs),
        "entity_types": dict(types),
        "metric": "relation micro-F1 (Rel: arguments, label, direction), gold entities",
        "scores": {rep: {k: round(v, 4) for k, v in row.items()} for rep, row in table.items()},
        "diagnose_seconds": round(seconds, 1),
    }
    return {"data": paths["split"], "figures": figures}


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point (benchmarks/run.py)."""
    return diagnose_semeval(corpus_dir, work, quick, smoke=smoke)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/bench"))
    parser.add_argument("--model", type=Path, help="A trained SemEval pipeline (default: see above)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(diagnose_semeval(args.corpus_dir, args.work, args.quick, args.model), indent=2))


if __name__ == "__main__":
    main()
