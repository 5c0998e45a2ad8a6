"""Convert every raw corpus once; report counts and throughput.

python benchmarks/bench_convert.py [--corpus-dir ../shared/corpus] [--repeats 3]

Prints the rows as JSON; the harness (`benchmarks/run.py --only convert`) writes
benchmarks/results/convert.json. Timing: benchmarks/timing.py (one warm-up conversion,
then `repeats` timed ones; median with min-max).
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from spacy_relext.convert import convert

sys.path.insert(0, str(Path(__file__).parent))
from timing import measure, rate  # noqa: E402

DATASETS = [
    ("semeval", "semeval2010_task8/SemEval2010_task8_training/TRAIN_FILE.TXT"),
    ("conll04", "conll04/train.CoNLL04.json"),
    ("conll04", "conll04/valid.CoNLL04.json"),
    ("scierc", "scierc/train.json"),
    ("scierc", "scierc/dev.json"),
    ("chemprot", "chemprot/train.txt"),
    ("chemprot", "chemprot/dev.txt"),
    ("wiki80", "wiki80/train_0.1.txt"),
    ("wiki80", "wiki80/train_0.01.txt"),
    ("fewrel", "fewrel/val_wiki.minus_wiki80_dev.json"),
    ("webnlg", "webnlg/train_triples.json"),
    ("webnlg", "webnlg/val_triples.json"),
    ("nyt", "nyt/val_triples.json"),
    ("dwie", "dwie/annos_with_content"),
    ("docred", "dwie/docred_style/dev.json"),
    ("docred", "redocred/dev_revised.json"),
]


# The smaller inputs, one per format where possible: quick mode converts only these.
QUICK = {"conll04/valid.CoNLL04.json", "scierc/dev.json", "wiki80/train_0.01.txt", "webnlg/val_triples.json",
         "dwie/docred_style/dev.json", "chemprot/dev.txt"}
SMOKE = {"conll04/valid.CoNLL04.json"}  # smoke mode: one small input


def convert_speed(corpus_dir: Path, datasets, repeats: int) -> list:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, rel_path in datasets:
            source = corpus_dir / rel_path
            out = Path(tmp) / "out.spacy"
            summary = convert(fmt, source, out, overwrite=True, show_progress=False)
            # The conversion above (for the counts) is the warm-up.
            seconds = measure(lambda: convert(fmt, source, out, overwrite=True, show_progress=False), repeats, warmup=0)
            rows.append({
                "format": fmt, "input": rel_path, "docs": summary.docs, "sentences": summary.sentences,
                "entities": summary.entities, "relations": sum(summary.relations.values()),
                "skipped": dict(summary.skipped), "seconds": seconds, "docs_per_s": rate(summary.docs, seconds),
            })
            print(f"{fmt:9s} {rel_path:50s} {summary.docs:6d} docs {seconds['median']:6.2f}s", file=sys.stderr)
    return rows


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point: every corpus (full), the small inputs (quick) or one (smoke)."""
    datasets = [d for d in DATASETS if not quick or d[1] in (SMOKE if smoke else QUICK)]
    return {"data": "raw corpora under --corpus-dir, each input converted whole",
            "figures": {"rows": convert_speed(corpus_dir, datasets, 3)}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(convert_speed(args.corpus_dir, DATASETS, args.repeats), indent=2))


if __name__ == "__main__":
    main()
