"""Wall time of `project.yml` workflows at their default settings, each run end to end in a
fresh clone of this repository (so nothing a previous run left behind is reused: spaCy
projects skip a command whose dependencies and outputs are unchanged).

    python benchmarks/workflow_times.py WORKFLOW [WORKFLOW ...] --corpus-dir ../shared/corpus

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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
RESULTS = ROOT / "benchmarks" / "results" / "workflow_times.json"


def time_workflow(workflow: str, corpus_dir: Path) -> Dict:
    """Clone HEAD, run the workflow with its default vars (the corpus folder given), time it."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "project"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "spacy", "project", "run", workflow, ".",
                               "--vars.corpus_dir", str(corpus_dir.resolve())], cwd=clone)
        wall = time.perf_counter() - started
    return {"workflow": workflow, "wall_s": round(wall, 1), "exit_code": proc.returncode, "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def merge_rows(old: List[Dict], new: List[Dict]) -> List[Dict]:
    """The rows of `old` whose workflow was not rerun, then the new rows."""
    rerun = {row["workflow"] for row in new}
    return [row for row in old if row["workflow"] not in rerun] + new


def main() -> None:
    from machine import machine_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workflows", nargs="+")
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    args = parser.parse_args()
    import report

    failed = []
    for workflow in args.workflows:
        machine = machine_info()  # load before the run: what its wall time ran against
        print(f"[{time.strftime('%H:%M:%S')}] {workflow}", flush=True)
        row = {**time_workflow(workflow, args.corpus_dir), "load_average_1min": machine["load_average_1min"]}
        failed += [workflow] if row["exit_code"] else []
        # Written after each workflow, so an interrupted series keeps what it measured.
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
    if failed:
        sys.exit(f"workflows failed: {', '.join(failed)} (see their rows)")


if __name__ == "__main__":
    main()
