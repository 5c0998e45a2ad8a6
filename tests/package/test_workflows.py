"""Every project.yml workflow (but `all`, their union) runs end to end in smoke mode with
`python -m spacy project run`, on the full raw corpora: the variables in SMOKE_VARS cut
every training run to a couple of steps, every dev evaluation to a few documents and the
benchmarks to their smoke mode (`benchmarks/run.py --mode smoke`). Each workflow must
exit with 0 and leave every output its steps declare. The project is a copy in a
temporary folder, so nothing is written into the repository; the workflows share it, so
a conversion made by one is skipped by the next (as `spacy project run` skips any step
whose inputs and outputs are unchanged). Smoke runs never touch the benchmark figures:
`benchmarks/results/`, BENCHMARKS.md and README.md stay as they were, in the copy and
in the repository."""
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
import srsly
from weasel.util import load_project_config

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
# What the commands read besides the raw corpora (README.md and BENCHMARKS.md only to
# show that the benchmark report never rewrites them in smoke mode).
# The package's source too: the package steps build a spacy-relext wheel from ".".
PROJECT_FILES = ["project.yml", "configs", "benchmarks", "corpus/samples", "README.md", "BENCHMARKS.md",
                 "LICENSE", "setup.cfg", "pyproject.toml", "spacy_relext", "models"]
PROTECTED = ["benchmarks/results", "BENCHMARKS.md", "README.md"]
SMOKE_VARS = {
    "corpus_dir": str(CORPUS),
    "demo_steps": 2,
    "demo_build_steps": 2,
    "demo_build_eval_frequency": 1,
    "clm_max_steps": 2,
    "custom_max_steps": 2,
    # evaluated at the last of the 2 steps, as check-trained requires before packaging
    "demo_eval_frequency": 1,
    "clm_eval_frequency": 1,
    "custom_eval_frequency": 1,
    "ner_max_steps": 2,
    "rere_steps": 2,
    "rationale_max_steps": 2,
    "dwie_backbone_steps": 2,
    "dwie_reasoner_docs": 4,
    "logic_pretrain_steps": 5,
    "logic_em_steps": 2,
    "logic_extractor_epochs": 1,
    "train_limit": 24,
    "dev_limit": 4,
    "rere_drops": "0,0.5",
    "bench_mode": "smoke",
    "bench_suite_mode": "smoke",
    "bench_out": "training/bench_smoke",
}
WORKFLOWS = [name for name in srsly.read_yaml(ROOT / "project.yml")["workflows"] if name != "all"]
TIMEOUT_S = 1800

pytestmark = [pytest.mark.corpus, pytest.mark.workflows]


def checksums(root: Path) -> Dict[str, str]:
    """md5 of every file under the PROTECTED paths of `root`."""
    files = [p for name in PROTECTED for p in sorted((root / name).rglob("*")) + [root / name] if p.is_file()]
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in files}


def cpu_seconds() -> float:
    """CPU time of this process's finished children (the workflow's processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    root = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source, dest = ROOT / name, root / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest)
    return root


def test_smoke_vars_are_project_vars():
    assert set(SMOKE_VARS) <= set(srsly.read_yaml(ROOT / "project.yml")["vars"])


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_workflow_runs_in_smoke_mode(project_dir, workflow):
    repo_before, copy_before = checksums(ROOT), checksums(project_dir)
    overrides = [f"--vars.{key}={value}" for key, value in SMOKE_VARS.items()]
    env = dict(os.environ)
    # This checkout's package, whatever is installed; one thread per process on shared cores.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    command = [sys.executable, "-m", "spacy", "project", "run", workflow, str(project_dir), *overrides]
    started, cpu = time.perf_counter(), cpu_seconds()
    proc = subprocess.run(command, cwd=project_dir, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    print(f"{workflow}: {time.perf_counter() - started:.0f} s wall, {cpu_seconds() - cpu:.0f} s CPU")
    assert proc.returncode == 0, f"{workflow} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    config = load_project_config(project_dir, overrides={f"vars.{k}": v for k, v in SMOKE_VARS.items()})
    commands = {cmd["name"]: cmd for cmd in config["commands"]}
    for step in config["workflows"][workflow]:
        for output in commands[step].get("outputs", []):
            assert (project_dir / output).exists(), f"{workflow}, step {step}: no {output}"
            if output.endswith(".whl"):  # a pipeline's wheel needs spacy-relext's, in the same folder
                assert list((project_dir / output).parent.glob("spacy_relext-*.whl")), f"{step}: no spacy-relext wheel"
    assert checksums(project_dir) == copy_before, "a smoke run changed the benchmark figures of the project"
    assert checksums(ROOT) == repo_before, "a smoke run changed the repository's benchmark figures"
