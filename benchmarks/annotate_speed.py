"""Documents/s of `annotate`: the local engine with 1 and 2 processes, the Ray engine with
1 and 2 workers, on the same 10,000 sentences, in one run.

Sentences: the texts of NYT validation (5,000) then WebNLG train (CasRel JSON, in
--corpus-dir), the first --limit of them, one JSONL record each. Pipeline: --pipeline, or
the CPU default (configs/clm_cpu.cfg: tok2vec + ner + sentencizer + clm_classifier)
trained for --steps steps on the bundled CoNLL04 sample (the `demo` workflow's recipe), so that ner finds
entities and clm_classifier scores their pairs: the work is the pipeline's.

One job = `annotate(...)` of the whole input into a new output folder, timed from the call
to its return: loading the pipeline (once per process or actor), reading, annotating,
writing Parquet and the final check. The local Ray cluster (2 CPUs, no dashboard) is
started once before the timings (its start is reported apart: `--address` users pay it
once per cluster). Threads are pinned: one BLAS/OpenMP/torch thread per process and per
actor. Timing as benchmarks/timing.py, for four variants: one warm-up job of each, then
--repeats rounds running each variant once, in an order rotated every round, so that a
change of machine load hits every variant alike. Ratios are taken per round.

    python benchmarks/annotate_speed.py --corpus-dir ../shared/corpus            # the figures
    python benchmarks/annotate_speed.py --limit 200 --steps 2 --out /tmp/a.json  # does it run?

A run on fewer sentences than 10,000 measures nothing comparable: it is written only where
--out says, never to benchmarks/results/annotate_speed.json.
"""
import os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy and torch are imported: one thread per process
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List  # noqa: E402

import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from machine import machine_info  # noqa: E402
from timing import rate, summary  # noqa: E402

from spacy_relext.annotate import annotate  # noqa: E402

SENTENCES = 10_000
RESULT = HERE / "results" / "annotate_speed.json"
VARIANTS: Dict[str, dict] = {
    "local_1": {"engine": "local", "n_process": 1},
    "local_2": {"engine": "local", "n_process": 2},
    "ray_1": {"engine": "ray", "workers": 1},
    "ray_2": {"engine": "ray", "workers": 2},
}
# (name, numerator variant, denominator variant): time of the first / time of the second,
# i.e. how many times faster the second is
RATIOS = [("ray_2_speedup_over_ray_1", "ray_1", "ray_2"), ("local_2_speedup_over_local_1", "local_1", "local_2"),
          ("ray_2_throughput_vs_local_2", "local_2", "ray_2"), ("ray_1_throughput_vs_local_1", "local_1", "ray_1")]
TARGETS = {"ray_2_speedup_over_ray_1": ">= 1.7 (issue 27)",
           "ray_2_throughput_vs_local_2": ">= 0.85, within 15% (issue 27)"}


def sentences(corpus_dir: Path, limit: int) -> List[str]:
    """The first `limit` texts of NYT validation, then WebNLG train."""
    texts: List[str] = []
    for path in (corpus_dir / "nyt" / "val_triples.json", corpus_dir / "webnlg" / "train_triples.json"):
        texts += [record["text"] for record in json.loads(path.read_text(encoding="utf8"))]
    if len(texts) < limit:
        sys.exit(f"only {len(texts)} sentences in {corpus_dir}/nyt and webnlg, fewer than --limit {limit}")
    return texts[:limit]


def demo_pipeline(work: Path, steps: int) -> Path:
    """configs/clm_cpu.cfg trained for `steps` steps on the bundled CoNLL04 sample (the `demo` workflow's recipe)."""
    from spacy_relext.convert import convert

    output = work / f"annotate_pipeline_{steps}"
    if (output / "model-last" / "config.cfg").exists():
        return output / "model-last"
    data = {}
    for split in ("train", "dev"):
        data[split] = work / f"sample_conll04_{split}.spacy"
        convert("conll04", ROOT / "corpus" / "samples" / "conll04" / f"{split}.json", data[split], overwrite=True,
                show_progress=False)
    subprocess.run([sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "clm_cpu.cfg"), "--output",
                    str(output), "--paths.train", str(data["train"]), "--paths.dev", str(data["dev"]),
                    "--training.max_steps", str(steps), "--training.eval_frequency", str(steps)], check=True)
    return output / "model-last"


def measure_engines(pipeline: Path, corpus: Path, work: Path, *, repeats: int, partition_size: int,
                    batch_size: int) -> dict:
    import ray

    torch.set_num_threads(1)
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False)
    ray_start_s = time.perf_counter() - started
    out_root = work / "annotate_speed_out"

    def job(variant: str) -> Callable[[], float]:
        def run() -> float:
            output = out_root / variant
            shutil.rmtree(output, ignore_errors=True)
            begin = time.perf_counter()
            result = annotate(str(pipeline), corpus, output, partition_size=partition_size, batch_size=batch_size,
                              **VARIANTS[variant])
            seconds = time.perf_counter() - begin
            assert result.check.exactly_once, variant
            relations[variant] = result.check.relations
            shutil.rmtree(output, ignore_errors=True)
            return seconds

        return run

    relations: Dict[str, int] = {}
    names = list(VARIANTS)
    try:
        for name in names:  # warm-up: page cache, imports, the first fork and actor start
            job(name)()
        times: Dict[str, List[float]] = {name: [] for name in names}
        for round_index in range(repeats):
            order = names[round_index % len(names):] + names[: round_index % len(names)]
            for name in order:
                times[name].append(job(name)())
                print(f"round {round_index + 1}: {name} {times[name][-1]:.2f} s", file=sys.stderr, flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(out_root, ignore_errors=True)
    n_docs = sum(1 for _ in corpus.open(encoding="utf8"))
    return {
        "documents": n_docs,
        "relations_written": relations,
        "ray_cluster_start_s": round(ray_start_s, 2),
        "seconds": {name: summary(values) for name, values in times.items()},
        "docs_per_s": {name: rate(n_docs, summary(values)) for name, values in times.items()},
        "ratios": {ratio: summary([a / b for a, b in zip(times[num], times[den])]) for ratio, num, den in RATIOS},
        "targets": TARGETS,
        "threads_per_process": 1,
        "partition_size": partition_size,
        "batch_size": batch_size,
        "repeats": repeats,
    }


def run(corpus_dir: Path, work: Path, *, limit: int, repeats: int, steps: int, pipeline: Path = None,
        partition_size: int = 500, batch_size: int = 64) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / f"annotate_sentences_{limit}.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"s{i}", "text": text}) + "\n"
                              for i, text in enumerate(sentences(corpus_dir, limit))), encoding="utf8")
    label = str(pipeline) if pipeline else f"configs/clm_cpu.cfg, {steps} steps on the CoNLL04 sample"
    figures = measure_engines(pipeline or demo_pipeline(work, steps), corpus, work, repeats=repeats,
                              partition_size=partition_size, batch_size=batch_size)
    figures["pipeline"] = label
    return {"data": f"the first {limit} texts of NYT validation then WebNLG train (one JSONL record each)",
            "figures": figures}


def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The harness's entry point (benchmarks/run.py; full only): 10,000 sentences, 3 rounds."""
    limit, repeats, steps = (200, 1, 2) if smoke else (2000, 3, 300) if quick else (SENTENCES, 3, 300)
    return run(corpus_dir, work, limit=limit, repeats=repeats, steps=steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=ROOT.parent / "shared" / "corpus",
                        help="Raw corpora with nyt/ and webnlg/ (default: ../shared/corpus)")
    parser.add_argument("--work", type=Path, default=ROOT / "training" / "bench",
                        help="Input, trained pipeline and outputs (default: training/bench)")
    parser.add_argument("--pipeline", type=Path, help="Pipeline to time (default: train the demo config)")
    parser.add_argument("--steps", type=int, default=300, help="Training steps of the default pipeline (default: 300)")
    parser.add_argument("--limit", type=int, default=SENTENCES, help=f"Sentences (default: {SENTENCES})")
    parser.add_argument("--repeats", type=int, default=3, help="Timed rounds after the warm-up (default: 3)")
    parser.add_argument("--out", type=Path, help=f"Result file (default: {RESULT.relative_to(ROOT)}, only for "
                                                 f"{SENTENCES} sentences)")
    args = parser.parse_args()
    if args.out is None and args.limit != SENTENCES:
        parser.error(f"--limit {args.limit}: give --out (benchmarks/results/ holds the {SENTENCES}-sentence figures)")
    machine = machine_info()  # the load average before the run: what the figures ran against
    started = time.perf_counter()
    out = run(args.corpus_dir, args.work, limit=args.limit, repeats=args.repeats, steps=args.steps,
              pipeline=args.pipeline)
    result = {
        "name": "annotate_speed",
        "mode": "full" if args.limit == SENTENCES else "check",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/annotate_speed.py " + " ".join(sys.argv[1:]),
        "machine": machine,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "data": out["data"],
        "wall_s": round(time.perf_counter() - started, 1),
        "figures": out["figures"],
    }
    path = args.out or RESULT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"docs_per_s": result["figures"]["docs_per_s"], "ratios": result["figures"]["ratios"]}, indent=1))
    print(f"Wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
