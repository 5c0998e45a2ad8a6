"""Run every benchmark of spacy-relext and regenerate BENCHMARKS.md.

    python benchmarks/run.py [--quick | --mode full|quick|smoke] [--only NAME ...] --corpus-dir ../shared/corpus
                             [--work DIR] [--out-dir DIR]

Each benchmark runs in its own Python process (so its peak resident set size belongs to
it alone) and writes `benchmarks/results/<name>.json`: the figures, `machine_info()`,
the data split, the date, the exact command and the mode (quick or full). Afterwards
`report.py` rebuilds BENCHMARKS.md from every JSON file in `benchmarks/results/`.
`--list` prints the benchmarks. Quick mode (`--quick`, about 30-40 min on 2 idle cores)
uses smaller dev subsets and short training runs and skips the benchmarks marked
full-only; their last full results stay in `benchmarks/results/` and in the report.

Smoke mode (`--mode smoke`) checks that benchmarks run, in minutes: the quick mode's
benchmarks (or those `--only` names, full-only ones included) on the first few documents
of each corpus file, with a few training steps, all in one child process (startup costs
more than such a benchmark). Its figures measure nothing, so it
refuses to write them into this repository: `--out-dir DIR` receives
`DIR/benchmarks/results/*.json` and `DIR/BENCHMARKS.md` instead (and the README summary
only where `DIR/README.md` has one).
"""
import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parent
MODES = ("full", "quick", "smoke")

# name -> (module, function, full_only). Each function is called as
# fn(corpus_dir=Path, work=Path, quick=bool, smoke=bool) and returns {"data": str, "figures": dict};
# smoke implies quick (its sizes, made smaller still).
BENCHMARKS = {
    "convert": ("bench_convert", "bench", False),
    "speed_rere": ("speed", "bench_rere", False),
    "speed_clm": ("speed", "bench_clm", False),
    "speed_clm_gold": ("speed", "bench_clm_gold", False),
    "speed_rationale": ("speed", "bench_rationale", False),
    "speed_logic": ("speed", "bench_logic", False),
    "memory200_clm": ("speed", "bench_memory200_clm", False),
    "memory200_rationale": ("speed", "bench_memory200_rationale", False),
    "memory200_logic": ("speed", "bench_memory200_logic", False),
    "clm_packing": ("clm_packing_speed", "bench", False),
    "rationale_solver_cost": ("rationale_solver_cost", "bench", False),
    "pair_cost": ("pair_cost", "bench", False),
    "accuracy_rere": ("accuracy", "bench_rere", False),
    "accuracy_clm": ("accuracy", "bench_clm", False),
    "accuracy_rationale": ("accuracy", "bench_rationale", False),
    "accuracy_clm_semeval": ("accuracy", "bench_clm_semeval", False),
    "accuracy_clm_ablation": ("accuracy", "bench_clm_ablation", False),
    "accuracy_clm_scierc": ("accuracy", "bench_clm_scierc", False),
    "accuracy_clm_ablation_scierc": ("accuracy", "bench_clm_ablation_scierc", False),
    "accuracy_clm_trf_gold": ("accuracy", "bench_clm_trf_gold", False),
    "accuracy_clm_trf": ("accuracy", "bench_clm_trf", False),
    "accuracy_rationale_ablation": ("accuracy", "bench_rationale_ablation", True),
    "accuracy_rationale_k_sweep": ("accuracy", "bench_rationale_k_sweep", True),
    "accuracy_logic_dwie": ("logic_dwie", "bench", False),
    "accuracy_logic_redocred": ("logic_dwie", "bench_redocred", False),
    "memory_logic_dwie": ("logic_dwie", "bench_memory", False),
    "logic_rules_dwie": ("logic_rules_dwie", "bench", True),
    "cp_wiki80": ("cp_wiki80", "bench", True),
    "diagnose_semeval": ("diagnose_semeval", "bench", False),
    "annotate_speed": ("annotate_speed", "bench", True),
    "demo_pipeline": ("demo_pipeline", "bench", False),
}


def run_one(name: str, args: argparse.Namespace, harness_command: str) -> dict:
    """Run one benchmark in this process and write its result file."""
    import importlib

    from machine import machine_info
    from timing import peak_rss_mb

    module, function, _ = BENCHMARKS[name]
    started = time.perf_counter()
    machine = machine_info()  # load average before the run: what the figures ran against
    out = getattr(importlib.import_module(module), function)(corpus_dir=args.corpus_dir, work=args.work,
                                                           quick=args.mode != "full", smoke=args.mode == "smoke")
    mode = {"full": "", "quick": " --quick", "smoke": " --mode smoke"}[args.mode]
    out_dir = "" if args.out_dir.resolve() == ROOT else f" --out-dir {args.out_dir}"
    out_dir += f" --jobs {args.jobs}" if args.jobs > 1 else ""
    result = {
        "name": name,
        "mode": args.mode,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python benchmarks/run.py{mode} --only {name} --corpus-dir {args.corpus_dir}{out_dir}",
        "harness_command": harness_command,
        "machine": machine,
        "data": out["data"],
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "figures": out["figures"],
    }
    results = args.out_dir / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=MODES, default="full",
                        help="quick: smaller subsets, short training, skip full-only runs; smoke: tiny sizes, "
                             "to check that the benchmarks run (needs --out-dir)")
    parser.add_argument("--quick", dest="mode", action="store_const", const="quick", default=argparse.SUPPRESS,
                        help="Short for --mode quick")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME", help="Run only these")
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/bench"), help="Converted data, trained models")
    parser.add_argument("--out-dir", type=Path, default=ROOT,
                        help="Where benchmarks/results/*.json and BENCHMARKS.md are written (default: this repository)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="Training runs of an ablation or sweep at a time, one torch thread each")
    parser.add_argument("--list", action="store_true", help="List the benchmarks and exit")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)  # the per-benchmark child
    parser.add_argument("--harness-command", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["RELEXT_BENCH_JOBS"] = str(args.jobs)  # read by accuracy.variant_runs, in the child too
    if args.list:
        for name, (module, _, full_only) in BENCHMARKS.items():
            print(f"{name:24s} benchmarks/{module}.py{'  (full only)' if full_only else ''}")
        return
    if args.mode == "smoke" and args.out_dir.resolve() == ROOT:
        parser.error("--mode smoke: give --out-dir another folder (benchmarks/results/ and BENCHMARKS.md of this "
                     "repository hold the real figures)")
    if args.in_process:
        failed = []
        for name in args.only:
            try:
                run_one(name, args, args.harness_command)
            except Exception:  # the next benchmarks still run (a smoke run has them all in one process)
                traceback.print_exc()
                failed.append(name)
        if failed:
            sys.exit(f"benchmarks failed: {', '.join(failed)}")
        return
    if not args.corpus_dir.is_dir():
        sys.exit(f"--corpus-dir {args.corpus_dir} is not a directory: point it at the raw corpora (../shared/corpus)")
    harness_command = "python benchmarks/run.py " + shlex.join(sys.argv[1:])
    names = args.only or [n for n, (_, _, full_only) in BENCHMARKS.items() if not (args.mode != "full" and full_only)]
    failed = []
    # One process per benchmark, so that its peak RSS is its own; smoke figures measure
    # nothing, so a smoke run saves the startups.
    for group in [names] if args.mode == "smoke" else [[name] for name in names]:
        print(f"[{time.strftime('%H:%M:%S')}] {' '.join(group)}", flush=True)
        child = [sys.executable, str(HERE / "run.py"), "--in-process", "--only", *group, "--mode", args.mode,
                 "--corpus-dir", str(args.corpus_dir), "--work", str(args.work), "--out-dir", str(args.out_dir),
                 "--jobs", str(args.jobs),
                 "--harness-command", harness_command]
        if subprocess.run(child).returncode:
            failed.extend(group if len(group) == 1 else ["those the child listed above"])
    import report

    report.main(["--results", str(args.out_dir / "benchmarks" / "results"), "--output",
                 str(args.out_dir / "BENCHMARKS.md"), "--readme", str(args.out_dir / "README.md")])
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)} (their previous results, if any, were kept)")


if __name__ == "__main__":
    main()
