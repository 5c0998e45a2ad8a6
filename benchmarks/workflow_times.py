"""Wall time of `project.yml` workflows at their default settings, each run end to end in a
fresh clone of this repository (so nothing a previous run left behind is reused: spaCy
projects skip a command whose dependencies and outputs are unchanged).

    python benchmarks/workflow_times.py WORKFLOW [WORKFLOW ...] --corpus-dir ../shared/corpus

A workflow runs as `spacy project run WORKFLOW` does, one command after the other, stopping
at the first that fails; each command is started as `spacy project run COMMAND` and timed on
its own, so a row lists where its time went (the workflow's wall time is their sum, with one
spaCy CLI start per command, about a second, on top of what `spacy project run WORKFLOW` costs).

With `--one-clone`, the workflows given run one after the other in the same clone, and a
command that an earlier workflow of the series already ran is not run again: its measured
time counts for each workflow that contains it (the row names the workflow it was timed in).
That is how the long workflows that share their slow steps (`dwie` and `dwie-backbone`,
`conll04-trf` and `ner`) are timed without training the same model twice. `--workdir DIR`
keeps the clone in DIR/project (for example, to reuse the models it trained).

Each run adds or replaces its workflow's row in `benchmarks/results/workflow_times.json`
(rows of other workflows are kept: the long ones are measured one at a time, in separate
sessions) and regenerates BENCHMARKS.md. The clone is made from the committed HEAD; the
row records that commit. Time nothing else while it runs: the figure is a wall time.
"""
import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import srsly

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
RESULTS = ROOT / "benchmarks" / "results" / "workflow_times.json"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def workflow_commands(project_yml: Path, workflow: str) -> List[str]:
    workflows = srsly.read_yaml(project_yml).get("workflows", {})
    if workflow not in workflows:
        sys.exit(f"no workflow {workflow!r} in {project_yml} (it has: {', '.join(workflows)})")
    return list(workflows[workflow])


def clone_head(into: Path) -> str:
    """Clone the committed HEAD into `into`; return its short commit."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(into)], check=True)
    return commit


def time_workflow(workflow: str, clone: Path, corpus_dir: Path, commit: str,
                  timed_before: Dict[str, Dict]) -> Dict:
    """Run the workflow's commands in `clone`, one at a time; `timed_before` maps a command
    already run in this clone to its timing (reused, not rerun) and gains the new ones."""
    started = now()
    commands = []
    for command in workflow_commands(clone / "project.yml", workflow):
        if command in timed_before:
            commands.append({**timed_before[command], "command": command})
            continue
        print(f"[{time.strftime('%H:%M:%S')}] {workflow}: {command}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "spacy", "project", "run", command, ".",
                               "--vars.corpus_dir", str(corpus_dir.resolve())], cwd=clone)
        timing = {"command": command, "wall_s": round(time.perf_counter() - t0, 1), "exit_code": proc.returncode,
                  "timed_in": workflow}
        commands.append(timing)
        if proc.returncode:
            break  # as `spacy project run WORKFLOW`: the rest depends on this command
        timed_before[command] = timing
    exit_code = next((c["exit_code"] for c in commands if c["exit_code"]), 0)
    return {"workflow": workflow, "wall_s": round(sum(c["wall_s"] for c in commands), 1), "exit_code": exit_code,
            "commit": commit, "date": started, "commands": commands}


def merge_rows(old: List[Dict], new: List[Dict]) -> List[Dict]:
    """The rows of `old` whose workflow was not rerun, then the new rows."""
    rerun = {row["workflow"] for row in new}
    return [row for row in old if row["workflow"] not in rerun] + new


def save_row(row: Dict, machine: Dict) -> None:
    """Add or replace the row; written after each workflow, so an interrupted series keeps
    what it measured."""
    import report

    old = json.loads(RESULTS.read_text())["figures"]["rows"] if RESULTS.exists() else []
    result = {
        "name": "workflow_times",
        "mode": "full",
        "date": row["date"],
        "command": "python benchmarks/workflow_times.py WORKFLOW ... --corpus-dir ../shared/corpus",
        "machine": machine,
        "data": "the raw corpora under --corpus-dir; each workflow at its project.yml defaults, in a fresh clone",
        "figures": {"rows": merge_rows(old, [row])},
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    report.main(["--results", str(RESULTS.parent), "--output", str(ROOT / "BENCHMARKS.md"),
                 "--readme", str(ROOT / "README.md")])


def main() -> None:
    from machine import machine_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workflows", nargs="+")
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--one-clone", action="store_true",
                        help="run the workflows in one clone; a command already run there is timed once")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the clone(s) here (must not exist)")
    args = parser.parse_args()
    for workflow in args.workflows:  # a typo fails now, not after hours of the workflows before it
        workflow_commands(ROOT / "project.yml", workflow)
    if args.workdir is not None:
        if args.workdir.exists():
            sys.exit(f"--workdir {args.workdir} exists: give a new folder (nothing is overwritten)")
        args.workdir.mkdir(parents=True)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="workflow_times_"))
    failed = []
    clone, commit, timed = None, None, {}
    try:
        for i, workflow in enumerate(args.workflows):
            if clone is None or not args.one_clone:
                clone, timed = base / ("project" if args.one_clone else f"project_{i}_{workflow}"), {}
                commit = clone_head(clone)
            machine = machine_info()  # load before the run: what its wall time ran against
            row = {**time_workflow(workflow, clone, args.corpus_dir, commit, timed),
                   "load_average_1min": machine["load_average_1min"]}
            if args.one_clone and len(args.workflows) > 1:
                row["clone"] = f"one clone for {', '.join(args.workflows)}"
            failed += [workflow] if row["exit_code"] else []
            save_row(row, machine)
            if args.workdir is None and not args.one_clone:
                subprocess.run(["rm", "-rf", str(clone)])  # disk: the long workflows leave gigabytes
    finally:
        if args.workdir is None:
            subprocess.run(["rm", "-rf", str(base)])
    if failed:
        sys.exit(f"workflows failed: {', '.join(failed)} (see their rows)")


if __name__ == "__main__":
    main()
