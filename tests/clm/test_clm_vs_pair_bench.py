"""benchmarks/clm_vs_pair.py: the budget arithmetic, the recipe choice and the script end to
end on a few CoNLL04 documents (both systems train, the ablation runs, the clm model is read
with and without self-generated CLMs)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT / "benchmarks"))

import clm_vs_pair  # noqa: E402
from step_clock import update_seconds  # noqa: E402


def test_update_seconds_leave_out_evaluations_and_warm_up(tmp_path):
    clock = tmp_path / "steps.jsonl"
    # updates take 1 s; the evaluations after steps 0 and 4 add 10 s each
    times = [0.0, 11.0, 12.0, 13.0, 14.0, 25.0, 26.0]
    clock.write_text("".join(json.dumps({"step": i, "t": t}) + "\n" for i, t in enumerate(times)))
    assert update_seconds(clock, eval_frequency=4) == [1.0, 1.0, 1.0, 1.0]
    assert update_seconds(clock, eval_frequency=4, skip=2) == [1.0, 1.0, 1.0]
    assert update_seconds(clock, eval_frequency=10 ** 6) == [1.0, 1.0, 1.0, 11.0, 1.0]


def test_steps_fill_the_budget_in_whole_evaluation_blocks():
    assert clm_vs_pair.steps_for(900, 1.5) == 600
    assert clm_vs_pair.steps_for(900, 1.7) % clm_vs_pair.N_EVALS == 0
    assert clm_vs_pair.steps_for(1, 10.0) == 2 * clm_vs_pair.N_EVALS


def test_recipe_is_the_best_dev_setting_of_that_system():
    rows = [{"system": "clm", "lr": 5e-5, "words": 500, "scores": {"rel_f": 0.6}},
            {"system": "clm", "lr": 1e-4, "words": 2000, "scores": {"rel_f": 0.7}},
            {"system": "pair", "lr": 2e-4, "words": 500, "scores": {"rel_f": 0.9}}]
    assert clm_vs_pair.recipe(rows, "clm") == {"lr": 1e-4, "words": 2000, "dev_rel_f": 0.7}
    with pytest.raises(SystemExit):
        clm_vs_pair.recipe(rows, "other")


def test_a_best_setting_on_an_edge_of_the_search_gets_its_neighbours_beyond_it():
    def row(lr, words, f, system="clm"):
        return {"system": system, "lr": lr, "words": words, "scores": {"rel_f": f}}

    grid = [row(lr, w, 0.1) for w in (100, 300, 1000) for lr in (5e-5, 1e-4, 2e-4)]
    # best at the largest rate and the smallest batch: a larger rate, a smaller batch
    rows = grid + [row(2e-4, 100, 0.5)]
    assert clm_vs_pair.beyond_edges(rows, "clm") == [{"lr": 4e-4, "words": 100}, {"lr": 2e-4, "words": 50}]
    # once those are tried and lose, the best is inside: nothing more
    rows += [row(4e-4, 100, 0.4), row(2e-4, 50, 0.3)]
    assert clm_vs_pair.beyond_edges(rows, "clm") == []
    # an inside best proposes nothing; the other system's rows do not count
    inside = grid + [row(1e-4, 300, 0.6), row(2e-4, 100, 0.9, system="pair")]
    assert clm_vs_pair.beyond_edges(inside, "clm") == []
    # the ladder's ends are not passed
    assert clm_vs_pair.beyond_edges([row(1e-4, 3000, 0.5), row(5e-5, 3000, 0.1), row(2e-4, 3000, 0.1),
                                     row(1e-4, 1000, 0.1)], "clm") == []


def test_runs_of_an_earlier_recipe_are_kept_apart():
    recipes = {"clm": {"lr": 2e-4, "words": 100}, "pair": {"lr": 2e-4, "words": 300}}
    now, before = {"system": "clm", "lr": 2e-4, "words": 100}, {"system": "clm", "lr": 1e-4, "words": 100}
    pair = {"system": "pair", "lr": 2e-4, "words": 300}
    assert clm_vs_pair.on_recipe([now, before, pair], recipes) == [now, pair]
    # and the report shows them in a table of their own, under their recipe
    import report

    def run(lr, seed, f):
        return {"dataset": "conll04", "system": "clm", "variant": "full", "lr": lr, "words": 100, "seed": seed,
                "steps": 10, "update_s": 5.0, "scores": {"rel_f": f, "rel_p": f, "rel_r": f}}

    figures = {"budget_update_s": 1.0, "search_budget_update_s": 1.0, "pilots": {}, "rows": {"search": []},
               "summary": clm_vs_pair.summary([run(2e-4, 0, 0.5), run(2e-4, 1, 0.7)]),
               "summary_of_earlier_recipes": {"lr 0.0001, 100 words": clm_vs_pair.summary([run(1e-4, 0, 0.3)])}}
    text = report.clm_vs_pair_tables(figures)
    assert "| conll04 | clm | full | 0.0002 | 100 | 10 | 0,1 |" in text
    assert "Runs of an earlier recipe (lr 0.0001, 100 words)" in text
    assert "| conll04 | clm | full | 0.0001 | 100 | 10 | 0 |" in text


@pytest.mark.corpus
def test_clm_and_pair_train_at_one_budget_and_clm_is_read_with_its_own_clms(tmp_path):
    if not (CORPUS / "conll04").is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    command = [sys.executable, "benchmarks/clm_vs_pair.py", "--corpus-dir", str(CORPUS), "--work", str(tmp_path),
               "--smoke", "--stages", "search,main,ablation", "--jobs", "2"]
    subprocess.run(command, cwd=ROOT, check=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads((tmp_path / "smoke" / "clm_vs_pair.json").read_text())
    f = result["figures"]
    assert set(f["recipes"]) == {"clm", "pair"} and all(s > 0 for s in f["pilots"].values())
    summary = f["summary"]
    assert set(summary) == {"conll04 clm full", "conll04 pair full", "conll04 clm no CLMs"}
    for row in f["rows"]["main"] + f["rows"]["ablation"]:
        assert row["steps"] == clm_vs_pair.SMOKE_STEPS and row["update_s"] > 0
        assert (tmp_path / "smoke" / row["name"] / "train" / "model-best" / "meta.json").is_file()
        assert "--code benchmarks/bench_code.py" in row["train_command"]
    probe = summary["conll04 clm full"]["clm_probe"]
    assert set(probe) == {"without CLMs (as predicted)", "with self-generated CLMs"}
    import report

    text = report.clm_vs_pair_tables(f)
    assert "| conll04 | clm | no CLMs |" in text and "with self-generated CLMs Rel F" in text
    # a second run trains nothing: every row is read back
    started = [p.stat().st_mtime for p in sorted((tmp_path / "smoke").glob("*/row.json"))]
    subprocess.run(command, cwd=ROOT, check=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert [p.stat().st_mtime for p in sorted((tmp_path / "smoke").glob("*/row.json"))] == started
    # a run naming only the search collects every finished row, the recipes included, and
    # shows the command that makes all of them
    collect = command[:command.index("--stages")] + ["--stages", "search", "--jobs", "2"]
    subprocess.run(collect, cwd=ROOT, check=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    collected = json.loads((tmp_path / "smoke" / "clm_vs_pair.json").read_text())
    assert collected["figures"]["recipes"] == f["recipes"] and collected["figures"]["summary"] == summary
    assert collected["command"] == (f"python benchmarks/clm_vs_pair.py --corpus-dir {CORPUS} --work {tmp_path} "
                                    "--stages search,main,ablation --jobs 2 --smoke")
