"""project.yml passes the validation `spacy project` runs (weasel's schema and command
checks), and every workflow is runnable in order: each dependency is made by an earlier
step, is a file of this repository, or is a raw corpus file named in `assets`."""
from pathlib import Path, PurePosixPath

import pytest
import srsly
from thinc.api import Config
from weasel.schemas import ProjectConfigSchema, validate
from weasel.util import substitute_project_variables, validate_project_commands
from weasel.util.hashing import get_checksum

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ["demo", "conll04", "semeval", "semeval-rationale", "scierc", "webnlg-triples", "dwie", "pretrain-cp", "benchmark", "all"]
BENCHMARK_SCRIPT = ("python benchmarks/run.py --mode ${vars.bench_suite_mode} --corpus-dir ${vars.corpus_dir} "
                    "--out-dir ${vars.bench_out}")
# Variables that override a config value: by default they keep the config's value, so
# `spacy project run` trains exactly what the config says (tests/package/test_workflows.py
# sets them to smoke sizes). variable -> (config, dotted key)
LOGIC_INIT = "initialize.components.logic_reasoner"
CONFIG_VARS = {
    "ner_max_steps": ("ner_cpu.cfg", "training.max_steps"),
    "clm_eval_frequency": ("clm_cpu.cfg", "training.eval_frequency"),
    "logic_pretrain_steps": ("logic_dwie.cfg", f"{LOGIC_INIT}.generator_pretrain_steps"),
    "logic_em_steps": ("logic_dwie.cfg", f"{LOGIC_INIT}.generator_em_steps"),
    "logic_extractor_epochs": ("logic_dwie.cfg", f"{LOGIC_INIT}.extractor_epochs"),
}


@pytest.fixture(scope="module")
def raw():
    return srsly.read_yaml(ROOT / "project.yml")


@pytest.fixture(scope="module")
def project(raw):
    assert validate(ProjectConfigSchema, raw) == []
    validate_project_commands(raw)  # exits on a workflow step that is no command
    return substitute_project_variables(srsly.read_yaml(ROOT / "project.yml"))


def under(path: str, folder: str) -> bool:
    return PurePosixPath(path) == PurePosixPath(folder) or PurePosixPath(folder) in PurePosixPath(path).parents


def test_workflows_and_commands(project, raw):
    commands = {cmd["name"]: cmd for cmd in project["commands"]}
    assert set(WORKFLOWS) <= set(project["workflows"])
    for name, steps in project["workflows"].items():
        assert steps and all(step in commands for step in steps), name
    in_workflows = {step for steps in project["workflows"].values() for step in steps}
    assert in_workflows <= set(project["workflows"]["all"])
    for cmd in project["commands"]:
        assert cmd.get("help") and cmd["script"], cmd["name"]
        assert cmd.get("deps"), cmd["name"]
        assert cmd.get("outputs") or cmd.get("no_skip"), f"{cmd['name']}: no outputs, so it could never be skipped"
    benchmark = [commands[step] for step in raw["workflows"]["benchmark"]]
    raw_commands = {cmd["name"]: cmd for cmd in raw["commands"]}
    assert [raw_commands[cmd["name"]]["script"] for cmd in benchmark] == [[BENCHMARK_SCRIPT]]


@pytest.mark.parametrize("var,config,key", [(var, *where) for var, where in CONFIG_VARS.items()])
def test_variables_default_to_the_config_values(raw, var, config, key):
    section = Config().from_disk(ROOT / "configs" / config, interpolate=False)
    for part in key.split("."):
        section = section[part]
    assert raw["vars"][var] == section


def test_default_variables_change_nothing(raw):
    """Every `spacy train` reads its whole training and dev sets, and the benchmarks run
    in the modes they are documented with, into this repository's results, unless a
    variable says otherwise."""
    assert [raw["vars"][name] for name in ("train_limit", "dev_limit", "dwie_reasoner_docs")] == [0, 0, 0]
    bench = [raw["vars"][name] for name in ("bench_mode", "bench_suite_mode", "bench_out")]
    assert bench == ["full", "quick", "."]
    trains = [line for cmd in raw["commands"] for line in cmd["script"] if line.startswith("python -m spacy train")]
    assert trains and all("--corpora.dev.limit ${vars.dev_limit}" in line for line in trains)
    train_limits = ("--corpora.train.limit ${vars.train_limit}", "--corpora.train.limit ${vars.dwie_reasoner_docs}")
    assert all(any(limit in line for limit in train_limits) for line in trains)
    for path in (ROOT / "configs").glob("*.cfg"):
        corpora = Config().from_disk(path, interpolate=False).get("corpora", {})
        assert [corpora.get(split, {}).get("limit", 0) for split in ("train", "dev")] == [0, 0], path.name


def test_every_dependency_is_made_earlier_or_provided(project):
    corpus_dir = project["vars"]["corpus_dir"]
    asset_dests = [asset["dest"] for asset in project["assets"]]
    commands = {cmd["name"]: cmd for cmd in project["commands"]}
    for name, steps in project["workflows"].items():
        made = []
        for step in steps:
            for dep in commands[step]["deps"]:
                if under(dep, corpus_dir):
                    assert any(under(dep, dest) for dest in asset_dests), f"{step}: {dep} is in no asset"
                elif not any(under(dep, out) for out in made):
                    assert (ROOT / dep).exists(), f"workflow {name}, step {step}: nothing earlier makes {dep}"
                    assert not any(under(dep, d) for d in project.get("directories", [])), (name, step, dep)
            made.extend(commands[step].get("outputs", []))


def test_assets_name_public_origins(project):
    corpus_dir = project["vars"]["corpus_dir"]
    for asset in project["assets"]:
        assert under(asset["dest"], corpus_dir) and asset["description"]
        if "url" in asset:
            assert asset["url"].startswith("https://raw.githubusercontent.com/") and asset.get("checksum"), asset
        else:
            assert "https://" in asset["description"], f"{asset['dest']}: no url and no origin in the description"


@pytest.mark.corpus
def test_local_corpus_matches_asset_checksums(project):
    """With matching checksums `spacy project assets` skips every download: offline here."""
    corpus_dir = (ROOT / project["vars"]["corpus_dir"]).resolve()
    if not corpus_dir.exists():
        pytest.skip(f"no corpus at {corpus_dir}")
    for asset in project["assets"]:
        path = ROOT / asset["dest"]
        assert path.exists(), asset["dest"]
        if asset.get("checksum"):
            assert get_checksum(path) == asset["checksum"], asset["dest"]
