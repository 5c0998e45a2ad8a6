"""The benchmark harness's shared timing method and the BENCHMARKS.md generator
(no real benchmark runs here)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import report  # noqa: E402
import timing  # noqa: E402


class FakeClock:
    """perf_counter that only advances when a timed function says how long it took."""

    def __init__(self):
        self.now = 0.0
        self.calls = []

    def __call__(self):
        return self.now

    def work(self, name, seconds):
        def fn():
            self.calls.append(name)
            self.now += seconds.pop(0)
        return fn


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", fake)
    return fake


def test_measure_warms_up_then_reports_median_min_max(clock):
    fn = clock.work("f", [100.0, 3.0, 1.0, 2.0, 5.0])
    result = timing.measure(fn, repeats=4)
    assert clock.calls == ["f"] * 5  # one warm-up (100 s, not counted) and 4 repeats
    assert result == {"median": 2.5, "min": 1.0, "max": 5.0, "n": 4}


def test_measure_never_uses_fewer_than_three_repeats(clock):
    result = timing.measure(clock.work("f", [1.0, 1.0, 2.0, 3.0]), repeats=1)
    assert result["n"] == 3 and result["median"] == 2.0


def test_alternate_runs_in_turns_and_takes_ratio_per_round(clock):
    a = clock.work("a", [9.0, 1.0, 2.0, 1.0])
    b = clock.work("b", [9.0, 3.0, 2.0, 4.0])
    result = timing.alternate(a, b, repeats=3)
    assert clock.calls == ["a", "b"] * 4
    assert result["a"]["median"] == 1.0 and result["b"]["median"] == 3.0
    # rounds: 3/1, 2/2, 4/1
    assert result["ratio"] == {"median": 3.0, "min": 1.0, "max": 4.0, "n": 3}
    assert result["rounds"] == {"a": [1.0, 2.0, 1.0], "b": [3.0, 2.0, 4.0]}


def test_rate_inverts_the_time_range():
    assert timing.rate(10, {"median": 2.0, "min": 1.0, "max": 5.0, "n": 3}) == {
        "median": 5.0, "min": 2.0, "max": 10.0, "n": 3}


def test_peak_rss_is_at_least_the_current_rss():
    assert timing.peak_rss_mb() >= timing.current_rss_mb() * 0.99 > 0


RECORD = {
    "name": "clm_packing",
    "mode": "quick",
    "date": "2030-01-02 03:04 UTC",
    "command": "python benchmarks/run.py --quick --only clm_packing --corpus-dir ../shared/corpus",
    "machine": {"cpu": "Test CPU 9000", "cores": 2, "memory_gb": 8.0, "python": "3.11", "spacy": "3.8.0",
                "torch": "2.13.0+cpu", "device": "cpu", "date": "2030-01-02", "load_average_1min": 0.25},
    "data": "conll04 dev, first 40 sentences",
    "peak_rss_mb": 512.0,
    "figures": {"rows": [{"mode": "listener", "docs": 40, "sentences": 40, "pairs": 472,
                          "packed_sents_per_s": {"median": 80.0, "min": 70.0, "max": 90.0, "n": 3},
                          "per_pair_sents_per_s": {"median": 40.0, "min": 35.0, "max": 45.0, "n": 3},
                          "speedup": {"median": 2.0, "min": 1.9, "max": 2.1, "n": 3}}]},
}


def test_report_renders_machine_command_date_and_figures(tmp_path):
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    (results / "clm_packing.json").write_text(json.dumps(RECORD))
    (notes / "clm_packing.md").write_text("What packing means.\n")
    (results / "transcribed_x.json").write_text(json.dumps({
        "name": "transcribed_x", "mode": "transcribed", "date": "2026-11-21", "command": "python old.py",
        "provenance": "transcribed from BENCHMARKS.md at commit dadeaf3", "machine": "2 old cores", "data": "d",
        "figures": {"tables": [{"title": "T", "columns": ["a", "b"], "rows": [["1", "x|y"]]}],
                    "accuracy": [{"component": "clm_classifier", "dataset": "CoNLL04 dev", "metric": "Rel F",
                                  "value": "41.1", "training": "1500 steps", "encoder": "tok2vec"}]}}))
    text = report.render(report.load(results), notes)
    assert "generated" in text.splitlines()[3].lower()
    assert "Test CPU 9000, 2 cores, 8.0 GB, torch 2.13.0+cpu" in text
    assert RECORD["command"] in text and "2030-01-02 03:04 UTC" in text
    assert "2.00 (1.90-2.10)x" in text and ">= 3x" in text  # the ratio next to its target
    assert "What packing means." in text
    assert "transcribed from BENCHMARKS.md at commit dadeaf3" in text and "| 41.1 |" in text
    assert "x\\|y" in text  # a pipe inside a cell does not break the table


def test_readme_block_is_replaced_only_between_markers(tmp_path):
    records = {"clm_packing": RECORD}
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.START}\nOLD-BLOCK\n{report.END}\noutro\n")
    assert report.update_readme(readme, records)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{report.END}\noutro\n")
    assert "OLD-BLOCK" not in text and "2.00 (1.90-2.10)x" in text
    readme.write_text("no markers\n")
    assert not report.update_readme(readme, records)
    assert readme.read_text() == "no markers\n"


def test_report_renders_rationale_variants_against_their_references(tmp_path):
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    probes = {"swap_probe_micro_f": {"map": 0.5, "all": 0.45, "random_k": 0.4, "least_important_k": 0.3},
              "eraser": {"n_pairs": 10, "comprehensiveness": 0.5, "random_comprehensiveness": 0.25,
                         "comprehensiveness_ratio_to_random": 2.0, "sufficiency": 0.1, "random_sufficiency": 0.3,
                         "rationale_tokens": 8.0}}
    rows = [{"variant": variant, "seed": seed, "overrides": {}, "scores": {"semeval_micro_f": micro},
             "train_seconds": 60.0,
             "eval": {"semeval_micro_f": micro, "semeval_macro_f": micro - 0.05, "mean_fraction_selected": 0.6,
                      "mean_segments_per_rationale": segments, **probes}}
            for variant, seed, micro, segments in (("RE2 (full)", 0, 0.5, 2.5), ("RE2 (full)", 1, 0.52, 2.5),
                                                   ("w/o continuity", 0, 0.4, 7.25))]
    for name in report.RE2_VARIANT_RUNS:
        (results / f"{name}.json").write_text(json.dumps({
            "name": name, "mode": "full", "date": "2030-01-02 03:04 UTC", "command": f"python run.py --only {name}",
            "machine": "2 test cores", "data": "semeval seeded split",
            "figures": {"component": name, "config": "configs/rationale_cpu.cfg", "steps": 800, "train_seconds": 120.0,
                        "model": "m", "headline": "semeval_micro_f", "scores": rows[0]["scores"], "encoder": "tok2vec",
                        "ablations": rows}}))
    records = report.load(results)
    text = report.render(records, notes)
    assert "| rationale_masker (RE2): w/o continuity | SemEval dev (seeded split) |" in text
    assert "| 40.0 / 35.0 | full (800 steps, 1 seed(s)) |" in text and "| 86.8 |" in text  # ours next to the paper's
    assert "| 51.0 ± 1.4 / 46.0 ± 1.4 | full (800 steps, 2 seed(s)) |" in text  # mean ± sd over seeds
    assert "| w/o continuity | 1 | 40.0 | 35.0 | 0.600 | 7.25 | - | - | 60 |" in text  # the coherence column
    assert "| RE2 (full) | 50.0 ± 0.0 | 45.0 ± 0.0 | 40.0 ± 0.0 | 30.0 ± 0.0 | 10.0 ± 0.0 |" in text  # swap probe
    assert "| w/o continuity | 10 | 0.500 | 0.250 | 2.000 | 0.100 | 0.300 | 8.0 |" in text  # ERASER
    summary = report.readme_summary(records)
    assert "accuracy_rationale_ablation" in summary and "accuracy_rationale_k_sweep" not in summary


def test_workflow_times_keep_the_rows_of_workflows_not_rerun(tmp_path):
    import workflow_times

    old = [{"workflow": "demo", "wall_s": 300.0}, {"workflow": "conll04", "wall_s": 2700.0}]
    new = [{"workflow": "demo", "wall_s": 290.0}]
    assert workflow_times.merge_rows(old, new) == [old[1], new[0]]
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    (results / "workflow_times.json").write_text(json.dumps({
        "name": "workflow_times", "mode": "full", "date": "2030-01-02 03:04 UTC", "command": "c", "machine": "m",
        "data": "d", "figures": {"rows": [{**new[0], "exit_code": 0, "commit": "abc1234", "date": "2030-01-02"}]}}))
    assert "| `demo` | 4 min 50 s | 0 | abc1234 |" in report.render(report.load(results), notes)


SHARED_STEP_PROJECT = """
vars:
  corpus_dir: "nowhere"
commands:
  - name: "make"
    script: ["python -c \\"open('made.txt', 'a').write('x')\\""]
  - name: "use"
    script: ["python -c \\"assert open('made.txt').read() == 'x'\\""]
  - name: "fail"
    script: ["python -c \\"raise SystemExit(3)\\""]
workflows:
  first: ["make", "use"]
  second: ["make", "fail", "use"]
"""


def test_workflow_times_time_each_command_and_reuse_a_shared_one_in_one_clone(tmp_path):
    import workflow_times

    (tmp_path / "project.yml").write_text(SHARED_STEP_PROJECT)
    timed = {}
    first = workflow_times.time_workflow("first", tmp_path, tmp_path, "abc1234", timed)
    assert [c["command"] for c in first["commands"]] == ["make", "use"] and first["exit_code"] == 0
    assert first["wall_s"] == round(sum(c["wall_s"] for c in first["commands"]), 1)
    second = workflow_times.time_workflow("second", tmp_path, tmp_path, "abc1234", timed)
    # "make" ran once ("use" would fail after a second run), its time counts for both rows;
    # the workflow stops at the failing command, as `spacy project run` does
    assert (tmp_path / "made.txt").read_text() == "x"
    assert second["commands"][0] == {**first["commands"][0], "timed_in": "first"}
    assert [c["command"] for c in second["commands"]] == ["make", "fail"] and second["exit_code"] == 3
    text = report.workflow_commands_text(second)
    assert "`make`" in text and "; first" in text and "`fail`" in text and "exit 3" in text

PEAK_PROBE = """
import sys, timing
if not timing.reset_peak_rss():
    sys.exit(77)
big = b"x" * (200 * 2**20)  # written, so resident
with_big = timing.peak_rss_since_reset_mb()
del big
assert timing.reset_peak_rss()
after = timing.peak_rss_since_reset_mb()
assert after < with_big - 100, (after, with_big)
"""


def test_peak_since_reset_measures_from_the_reset():
    # In a fresh interpreter: in the test process, whatever ran before (Ray's object store,
    # thousands of tests) decides how much memory a new allocation maps, not the function.
    proc = subprocess.run([sys.executable, "-c", PEAK_PROBE], cwd=Path(__file__).parents[2] / "benchmarks",
                          capture_output=True, text=True)
    if proc.returncode == 77:
        pytest.skip("this system cannot reset the peak RSS mark")
    assert proc.returncode == 0, proc.stderr


def logic_scores(f, ign_f, logic):
    return {"p": 0.5, "r": 0.5, "f": f, "ign_f": ign_f, "logic": logic, "logic_rules_fired": 3 if logic else None,
            "relations": 10, "f_by_distance": {"0-99": {"f": f, "gold": 20, "pred": 10}}}


def test_report_renders_logic_reasoner_runs(tmp_path):
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    common = {"mode": "full", "date": "2030-01-02 03:04 UTC", "machine": "2 test cores", "data": "d"}
    for name, logic in (("accuracy_logic_dwie", 0.3), ("accuracy_logic_redocred", None)):
        (results / f"{name}.json").write_text(json.dumps({**common, "name": name, "command": f"run {name}", "figures": {
            "backbone_steps": 2400, "reasoner_train_docs": 400, "reasoner_settings": {"em_iterations": 2},
            "dev_docs": 100, "scores": {"backbone": logic_scores(0.15, 0.13, logic),
                                        "backbone, threshold tuned on train": logic_scores(0.24, 0.18, logic),
                                        "backbone+logic_reasoner": logic_scores(0.3, 0.25, logic)}}}))
    (results / "memory_logic_dwie.json").write_text(json.dumps({**common, "name": "memory_logic_dwie",
        "command": "run memory", "figures": {
            "doc_index": 7, "entities": 88, "tokens": 1348, "backbone_candidates": 900, "reasoner_s": 1.5,
            "rss_before_mb": 500, "peak_mb": 560, "peak_measured_from_start_of_run": True, "relations_written": 40,
            "reasoner_increase_mb": 60}}))
    text = report.render(report.load(results), notes)
    assert ("15.0 / 13.0 / 30.0 -> 30.0 / 25.0 / 30.0 (backbone -> + logic_reasoner; backbone at the threshold "
            "tuned as the reasoner's: 24.0 / 18.0 / 30.0)") in text
    assert "| Re-DocRED dev (seeded split of its dev set) (100 docs, gold entities) | F1 / Ign F1 (official) |" in text
    assert "15.0 / 13.0 -> 30.0 / 25.0" in text and "`accuracy_logic_redocred`" in text
    assert "| backbone | 50.0 | 50.0 | 15.0 | 13.0 | - | - | 10 |" in text  # no logic score without gold rules
    assert "dev document 7 (88 entities, 1348 tokens" in text and "peak 560 MiB while it ran (+60 MiB)" in text


def test_report_renders_document_backbone_seeds_and_reasoner_attribution(tmp_path):
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    common = {"mode": "full", "date": "2030-01-02 03:04 UTC", "machine": "2 test cores", "data": "d"}
    scope = {"same_sentence": {"f": 0.6, "gold": 30}, "cross_sentence": {"f": 0.2, "gold": 10}}
    runs = [{"seed": seed, "scores": {"backbone": logic_scores(f, 0.3, 0.5)}, "f_by_sentence_scope": scope,
             "best_threshold_on_dev": {"backbone": {"f": f + 0.02}}} for seed, f in ((0, 0.40), (1, 0.44))]
    (results / "docre_backbone_dwie_cpu.json").write_text(json.dumps({**common, "name": "docre_backbone_dwie_cpu",
        "command": "run docre", "figures": {"train_command": "spacy train docre", "seeds": [0, 1], "runs": runs}}))
    rows = [{"variant": variant, "seed": seed,
             "scores": {"backbone+logic_reasoner": logic_scores(f, 0.3, 0.6),
                        "backbone, threshold tuned on train": logic_scores(0.4, 0.3, 0.5)},
             "f_by_backbone_candidate": {"scored": {"f": f}, "unscored": {"f": 0.1}},
             "explanation_share": {"multi_hop": share}}
            for variant, f, share in (("full", 0.46, 0.2), ("full", 0.48, 0.4), ("direct", 0.45, 0.0))
            for seed in ([0] if variant == "direct" else [len(variant)])]
    rows[1]["seed"] = 1
    (results / "logic_attribution_dwie.json").write_text(json.dumps({**common, "name": "logic_attribution_dwie",
        "command": "run attribution", "figures": {"backbone": "b/model-best", "rows": rows}}))
    text = report.render(report.load(results), notes)
    assert "| 0 | 50.0 | 50.0 | 40.0 | 30.0 | 50.0 | 60.0 | 20.0 | 42.0 |" in text
    assert "| mean ± sd | 50.0 ± 0.0 | 50.0 ± 0.0 | 42.0 ± 2.8 |" in text
    assert "30 same-sentence, 10 cross-sentence" in text
    assert "| full | 4,1 | 47.0 ± 1.4 | 30.0 ± 0.0 | 60.0 ± 0.0 | 40.0 ± 0.0 | 47.0 ± 1.4 | 10.0 ± 0.0 | 30.0 ± 14.1 |" in text
    assert "| direct | 0 | 45.0 |" in text


def test_report_renders_the_end_to_end_rows_of_both_recognizers(tmp_path):
    """accuracy_clm_trf: one classifier scored with gold mentions, after the tok2vec ner it
    was trained with and after a MiniLM ner put in its place (issue 20, item 8); a result
    from before the MiniLM ner still renders."""
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    figures = {"steps": 1200, "scores": {"ents_f": 0.745, "rel_f": 0.519, "rel_strict_f": 0.45},
               "gold_entities": {"scores": {"rel_f": 0.708}}, "train_seconds": 2345, "model": "m",
               "encoder": "MiniLM", "ner": {"config": "configs/ner_cpu.cfg", "steps": 3000, "train_seconds": 201,
                                            "scores": {"ents_f": 0.745}}}
    record = {"name": "accuracy_clm_trf", "mode": "full", "date": "2030-01-02 03:04 UTC", "machine": "2 test cores",
              "data": "d", "command": "run clm_trf", "figures": figures}
    (results / "accuracy_clm_trf.json").write_text(json.dumps(record))
    old = report.render(report.load(results), notes)
    assert "74.5 / 51.9 / 45.0" in old and "MiniLM ner +" not in old
    figures["trf_ner"] = {"ner": {"config": "configs/ner_trf.cfg", "steps": 400, "train_seconds": 1800,
                                  "train_command": "python -m spacy train configs/ner_trf.cfg"},
                          "scores": {"ents_f": 0.85, "rel_f": 0.6, "rel_strict_f": 0.55}}
    (results / "accuracy_clm_trf.json").write_text(json.dumps(record))
    text = report.render(report.load(results), notes)
    row = next(line for line in text.splitlines() if line.startswith("| MiniLM ner + clm_classifier"))
    assert "| 85.0 / 60.0 / 55.0 | full (1200 steps); ner 400 steps |" in row and "74.5 / 51.9 / 45.0" in text
    assert "(`configs/ner_trf.cfg`, 400 steps, 1,800 s; trained by `python -m spacy train configs/ner_trf.cfg`)" in text
    assert "| rel_strict_f | 55.0 |" in text


@pytest.mark.parametrize("out_dir", [None, ".", "benchmarks/.."])
def test_smoke_mode_refuses_to_write_into_this_repository(out_dir):
    """Smoke figures measure nothing: they never replace benchmarks/results/ or BENCHMARKS.md."""
    root = Path(__file__).parents[2]
    command = [sys.executable, "benchmarks/run.py", "--mode", "smoke", "--only", "convert", "--corpus-dir", "."]
    proc = subprocess.run(command + (["--out-dir", out_dir] if out_dir else []), cwd=root, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "--mode smoke: give --out-dir another folder" in proc.stderr


def timing_summary(median, low, high):
    return {"median": median, "min": low, "max": high, "n": 3}


def speed_batch(batch_size, seconds, baseline_seconds=None, cost=None):
    row = {"batch_size": batch_size, "seconds": seconds, "words_per_s": timing.rate(1000, seconds),
           "sents_per_s": timing.rate(40, seconds)}
    if baseline_seconds is not None:  # the fields speed.py's throughput() writes since issue 24
        row.update({"baseline": "the pipeline without its relation components: ['tok2vec']",
                    "baseline_seconds": baseline_seconds, "relation_cost": cost,
                    "relation_cost_is": "(full - baseline) / baseline"})
    return row


def speed_record(new_fields):
    entry = {"config": "configs/clm_cpu.cfg", "dev_docs": 40, "words": 1000, "sentences": 40, "disabled": ["ner"],
             "torch_threads": 1 if new_fields else 2,
             "batches": [speed_batch(64, timing_summary(0.5, 0.4, 1.0), *(
                 (timing_summary(0.25, 0.2, 0.5), timing_summary(1.0, 0.9, 1.2)) if new_fields else ()))]}
    entry["n_process"] = {"a": timing_summary(1.0, 0.8, 1.25), "b": timing_summary(2.0, 1.6, 2.5),
                          "ratio": timing_summary(2.0, 1.9, 2.1)}
    if new_fields:  # since issue 24 the row times 2,000+ training sentences, not the dev docs
        entry["n_process"].update({"sentences": 2000, "start_method": "fork"})
        entry["peer_floor"] = {"reference": "pair_mlp", "batches": [{
            "batch_size": 64, "reference_words_per_s": timing_summary(4000.0, 3900.0, 4100.0),
            "words_per_s": timing_summary(2000.0, 1900.0, 2100.0),
            "words_per_s_vs_reference": timing_summary(0.5, 0.45, 0.55)}]}
    return {"name": "speed_clm", "mode": "quick", "date": "2030-01-02 03:04 UTC", "command": "c", "machine": "m",
            "data": "d", "figures": {"component": "clm", "configs": {"cpu": entry}}}


def test_report_renders_speed_baselines_costs_and_peer_floor(tmp_path):
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    (results / "speed_clm.json").write_text(json.dumps(speed_record(True)))
    text = report.render(report.load(results), notes)
    # threads, words/s, baseline words/s (1000 words in 0.25 s), relation cost with its spread
    assert ("| clm_classifier | cpu (`configs/clm_cpu.cfg`) | 64 | 1 | 2,000 (1,000-2,500) | 80.0 (40.0-100.0) |  | "
            "4,000 (2,000-5,000) | 1.00 (0.90-1.20)x | 40 | quick |") in text
    assert ("| clm_classifier | cpu | the pipeline without its relation components: ['tok2vec'] | "
            "`(full - baseline) / baseline` |") in text
    assert "| clm_classifier | cpu | 64 | 2,000 (1,900-2,100) | 4,000 (3,900-4,100) | 0.50 (0.45-0.55)x |" in text
    assert "| clm_classifier | 2000 | 1,000.0 (800.0-1,250.0) | 2,000.0 (1,600.0-2,500.0) | 2.00 (1.90-2.10)x | fork |" \
        in text


def test_report_still_renders_speed_results_without_baselines(tmp_path):
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    (results / "speed_clm.json").write_text(json.dumps(speed_record(False)))
    text = report.render(report.load(results), notes)
    assert "| clm_classifier | cpu (`configs/clm_cpu.cfg`) | 64 | 2 | 2,000 (1,000-2,500) | 80.0 (40.0-100.0) |  | - | - |" \
        in text
    assert "Peer floor" not in text and "relation cost =" not in text
    assert "| clm_classifier | 40 | 20.0 (16.0-25.0) | 40.0 (32.0-50.0) | 2.00 (1.90-2.10)x | - |" in text


def test_accuracy_runs_the_command_it_records():
    """A benchmark figure is reproduced by the `spacy train` command printed beside it:
    the harness builds that command line, with every setting it changes, and runs it
    (issue 20: the harness's eval_frequency was in no printed command)."""
    import accuracy

    overrides = accuracy.train_overrides("clm_cpu_gold.cfg", 1500, {"components.clm_classifier.use_clms": False})
    assert overrides == {"training.max_steps": 1500, "training.eval_frequency": 375, "training.seed": 0,
                         "components.clm_classifier.use_clms": False}
    # a warm-up-then-decay learning rate is fitted to the steps
    trf = accuracy.train_overrides("clm_trf_gold.cfg", 400)
    assert trf["training.optimizer.learn_rate.total_steps"] == 400
    assert trf["training.optimizer.learn_rate.warmup_steps"] == 40
    root = Path(__file__).parents[2]
    command = accuracy.train_command("clm_cpu_gold.cfg", root / "training" / "x",
                                     {"train": root / "t.spacy", "dev": root / "d.spacy"}, overrides)
    assert command[1:4] == ["-m", "spacy", "train"]
    assert accuracy.shown_command(command, {}) == (
        "python -m spacy train configs/clm_cpu_gold.cfg --output training/x --paths.train t.spacy "
        "--paths.dev d.spacy --training.max_steps 1500 --training.eval_frequency 375 --training.seed 0 "
        "--components.clm_classifier.use_clms false")


def test_report_renders_a_cp_result_with_one_training_subset(tmp_path):
    """A smoke or `--subsets train_0.01` run of cp_wiki80 has no 10 % rows: the summary rows
    show what was measured instead of failing (the pretrain-cp workflow regenerates the report)."""
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    encoders = ("MiniLM", "MiniLM+CP", "MiniLM+CP-shuffled")
    acc = {"median": 0.4, "min": 0.3, "max": 0.5, "n": 3, "values": [0.3, 0.4, 0.5]}
    run = {"steps": 2, "pairs": 32, "sentences": 10, "relations": 2, "mlm_warmup_steps": 1, "wall_s": 1.0,
           "loss_log": [], "exclusion": None}
    (results / "cp_wiki80.json").write_text(json.dumps({
        "name": "cp_wiki80", "mode": "smoke", "date": "2030-01-02 03:04 UTC", "machine": "2 test cores", "data": "d",
        "command": "run cp", "figures": {
            "pretrain": {"MiniLM+CP": run, "MiniLM+CP-shuffled": run},
            "probe": {f"train_0.01 {e}": {"knn1": 0.2, "linear": 0.25 + 0.1 * i, "seconds": 1.0}
                      for i, e in enumerate(encoders)},
            "wiki80": {f"train_0.01 {e}": {"acc": acc, "train_seconds": acc, "epochs": 6} for e in encoders}}}))
    text = report.render(report.load(results), notes)
    assert "| Wiki80 1% (dev: 640 FewRel instances) | accuracy, linear probe" in text
    assert "MiniLM 25.0; MiniLM+CP 35.0; MiniLM+CP-shuffled 45.0" in text
    assert "MiniLM+CP 40.0 (30.0-50.0)" in text


def test_report_summarises_cp_formats_with_the_types_only_control(tmp_path):
    """One summary row per dataset of a cp_formats result: each format's median, and the
    control without a model next to them."""
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    cell = {"median": 0.4, "min": 0.3, "max": 0.5, "n": 3, "values": [0.3, 0.4, 0.5]}
    (results / "cp_formats.json").write_text(json.dumps({
        "name": "cp_formats", "mode": "full", "date": "2030-01-02 03:04 UTC", "machine": "2 test cores",
        "data": "d", "command": "run formats", "figures": {
            "encoder": "MiniLM", "epochs": {"wiki80": 1}, "seeds": [0, 1, 2], "inputs": {},
            "cells": {f"wiki80 {rep}": {"acc": cell, "f": cell, "train_seconds": cell}
                      for rep in ("C+M", "OnlyT")},
            "type_pair_majority": {"wiki80": {"p": 0.2, "r": 0.176, "f": 0.18, "acc": 0.176}}}}))
    text = report.render(report.load(results), notes)
    assert "| wiki80 dev | accuracy per format, median of seeds [0, 1, 2] | C+M 40.0 / OnlyT 40.0 " \
           "(types alone, no model: 17.6) |" in text
    assert "Types alone, no model (the most frequent directional class of each pair of entity types in " \
           "training, on dev): wiki80 accuracy 17.6." in text


def test_report_renders_rere_runs_with_the_oracle_column_only_where_measured(tmp_path):
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    common = {"mode": "full", "date": "2030-01-02 03:04 UTC", "machine": "2 test cores", "data": "d"}

    def cell(value: float) -> dict:
        return {"mean": value, "std": 0.01}

    base = {key: cell(0.4) for key in ("detector_pr_auc", "triple_exact_f", "triple_partial_f", "unlabelled_mean",
                                       "mu")}
    for name, summary, seeds in (
            ("rere_false_negatives_conll04", {"drop 0.5 cpu": base}, [0, 1]),
            ("rere_accuracy_conll04", {"drop 0.0 cpu": {**base, "oracle_triple_exact_f": cell(0.7)}}, [0])):
        (results / f"{name}.json").write_text(json.dumps({**common, "name": name, "command": f"run {name}",
                                                          "figures": {"steps": 9, "seeds": seeds, "summary": summary}}))
    text = report.render(report.load(results), notes)
    assert "| 0.5 | cpu | 40.0 ± 1.0 | 40.0 ± 1.0 | 40.0 ± 1.0 | 0.400 ± 0.010 | 0.400 |" in text
    # one seed: values without a spread
    assert "| 0.0 | cpu | 40.0 | 40.0 | 40.0 | 70.0 | 0.400 | 0.400 |" in text and "One run, seed [0]" in text
    assert text.count("extractor alone, gold queries: exact F1") == 1
    # the complete-data runs also make the accuracy summary's row
    assert ("| relation_detector + span_extractor (cpu detector loss) | CoNLL04 dev | triple exact F1 at tuned "
            "thresholds / extractor alone on gold queries | 40.0 / 70.0 | full (9 steps, 1 seed(s)) |") in text
