"""What `make demo` shows: the committed demo pipeline (models/demo_conll04) on the 40
sentences of the bundled CoNLL04 dev sample, end to end, at its saved threshold; beside
it, the build record (steps, threshold, scores on the selection sentences).

    python benchmarks/demo_pipeline.py

The sample's sentences took no part in building the pipeline (`python -m spacy_relext
demo-build`, the `demo-pipeline` workflow), so these are held-out figures, though on 40
sentences only. The harness's smoke mode runs the same (it takes seconds).
"""
import contextlib
import io
import json
from pathlib import Path

from spacy_relext.demo import BUILD_RECORD, DEMO_PIPELINE, run_demo


def demo_figures(pipeline: Path = DEMO_PIPELINE) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        scores = run_demo(pipeline, n_print=0)
    build = json.loads((Path(pipeline) / BUILD_RECORD).read_text(encoding="utf8"))
    return {"sample_scores": scores, "build": build}


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point (the same in every mode: no training, 40 sentences)."""
    return {"data": "corpus/samples/conll04/dev.json: the first 40 sentences of CoNLL04 valid, held out of the "
                    "demo pipeline's training and selection",
            "figures": demo_figures()}


if __name__ == "__main__":
    print(json.dumps(demo_figures(), indent=2))
