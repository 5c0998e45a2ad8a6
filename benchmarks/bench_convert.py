"""Convert every raw corpus once; report counts and throughput.

python benchmarks/bench_convert.py [--corpus-dir ../shared/corpus] [--repeats 3]

Writes benchmarks/results/convert.json and prints a Markdown table for BENCHMARKS.md.
Timing: one warm-up conversion, then `repeats` timed ones; median with min-max.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from spacy_relext.convert import convert

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine_info  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "convert.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, rel_path in DATASETS:
            source = args.corpus_dir / rel_path
            out = Path(tmp) / "out.spacy"
            summary = convert(fmt, source, out, show_progress=False)  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                convert(fmt, source, out, show_progress=False)
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            rows.append({
                "format": fmt, "input": rel_path, "docs": summary.docs, "sentences": summary.sentences,
                "entities": summary.entities, "relations": sum(summary.relations.values()),
                "skipped": dict(summary.skipped), "seconds_median": median, "seconds_min": min(times),
                "seconds_max": max(times), "docs_per_s": summary.docs / median,
            })
            print(f"{fmt:9s} {rel_path:50s} {summary.docs:6d} docs {median:6.2f}s", file=sys.stderr)
    result = {"machine": machine_info(), "command": "python benchmarks/bench_convert.py", "repeats": args.repeats,
              "rows": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print("| format | input | docs | sentences | entities | relations | skipped | s (median, min-max) | docs/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in rows:
        print(f"| {r['format']} | {r['input']} | {r['docs']} | {r['sentences']} | {r['entities']} | {r['relations']} | "
              f"{sum(r['skipped'].values())} | {r['seconds_median']:.2f} ({r['seconds_min']:.2f}-{r['seconds_max']:.2f}) | "
              f"{r['docs_per_s']:.0f} |")


if __name__ == "__main__":
    main()
