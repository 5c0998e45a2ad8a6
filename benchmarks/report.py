"""Regenerate BENCHMARKS.md (and the README's summary block) from benchmarks/results/*.json.

    python benchmarks/report.py [--results DIR] [--output BENCHMARKS.md] [--readme README.md]

Nothing in BENCHMARKS.md is written by hand: the figures come from the result files
(written by `benchmarks/run.py`), the explanations from `benchmarks/notes/<name>.md`.
The README is changed only between `<!-- bench-summary:start -->` and
`<!-- bench-summary:end -->`, and left alone when those markers are absent.
"""
import argparse
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from timing import rate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START, END = "<!-- bench-summary:start -->", "<!-- bench-summary:end -->"

# Published figures to set ours against (paper and table named), per accuracy row key.
PAPER = {
    "rere": "no CoNLL04 / WebNLG figure; RERE exact F1 NYT10-HRL 73.4, NYT11-HRL 55.47 "
            "(BERT-base; Xie et al., 2021, Table 3)",
    "clm": "no CoNLL04 figure; SciERC Rel / Rel+ 56.9 / 44.3 (SciBERT, HGERE NER; Feng et al., 2025, Table 7)",
    "rationale": "SemEval micro-F1 w/o Other 87.2 (BERT-base, full data, test, 5 runs; RE2 paper, Table 1)",
    "clm_semeval": "SemEval official macro-F1 about 87-89 with BERT-base (issue 3)",
    "clm_ablation_scierc": "SciERC (SciBERT, PL-Marker NER): PL-Marker 53.2 / 41.8 -> with CLMs and M-DOS "
                           "54.4 / 42.8 Rel / Rel+; M-DOS about +1.1, random CLM order -0.6 "
                           "(Feng et al., 2025, Tables 4 and 5)",
    "clm_ablation": "no CoNLL04 ablation published; SciERC (PL-Marker NER): PL-Marker 53.2 / 41.8 -> with "
                    "CLMs and M-DOS 54.4 / 42.8, M-DOS about +1.1 (Feng et al., 2025, Tables 4 and 5)",
    "cp": "Wiki80 1%: BERT 55.9 -> CP 82.7 accuracy (BERT-base; Peng et al., 2020, Table 5)",
    "cp10": "Wiki80 10%: BERT 82.9 -> CP 89.3 accuracy (BERT-base; Peng et al., 2020, Table 5)",
    "diagnose": "TACRED micro-F1, BERT: 68.3 / 68.6 / 57.0 / 46.6 / 27.7 (the paper's Table 1)",
    "logic": "DWIE test F1 / Ign F1: ATLOP 69.94 / 62.09 -> +LogiRE 71.78 / 64.11 (Ru et al., 2021, Table 2)",
    "logic_score": "DWIE test logic: ATLOP 82.76 -> +LogiRE 86.07 (Ru et al., 2021, Table 2)",
    "logic_docred": "DocRED test F1 / Ign F1: ATLOP 61.13 / 59.14 -> +LogiRE 61.45 / 59.48 (Ru et al., 2021, Table 3; "
                    "no Re-DocRED figure published)",
}
# SemEval references per RE2 variant (RE2 paper, Table 1: BERT-base, full data, test micro-F1 w/o Other).
PAPER_RE2 = {"RE2 (full)": "87.2", "no mask": "SuRE-base (no rationale) 86.3", "w/o continuity": "86.8",
             "w/o sparsity": "86.6", "w/o entities": "87.1"}
RE2_VARIANT_RUNS = ("accuracy_rationale_ablation", "accuracy_rationale_k_sweep")
# The targets of the component issues, as recorded in today's BENCHMARKS.md.
TARGETS = {
    "packed": ">= 3x (issue 3; the paper reports 2.3x)",
    "relation_first": "not stated as a number; the paper argues it grows with the number of relation types",
    "solver": "solver <= 0.1 of the classifier's forward at L = 128 (issue 4; assumes a BERT-base forward)",
    "reasoner": "not stated as a number in BENCHMARKS.md or the LogiRE paper",
}


def load(results: Path) -> Dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}


def num(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def spread(s: dict, digits: int = 1) -> str:
    """`median (min-max)` of a timing summary."""
    return f"{num(s['median'], digits)} ({num(s['min'], digits)}-{num(s['max'], digits)})"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def workflow_commands_text(row: dict) -> str:
    """Where a workflow's time went; rows timed before per-command timing have none."""
    parts = []
    for c in row.get("commands", []):
        shared = f"; {c['timed_in']}" if c.get("timed_in", row["workflow"]) != row["workflow"] else ""
        failed = f", exit {c['exit_code']}" if c.get("exit_code") else ""
        parts.append(f"`{c['command']}` {minutes(c['wall_s'])}{shared}{failed}")
    return ", ".join(parts) or "-"


CP_ENCODERS = ("MiniLM", "MiniLM+CP", "MiniLM+CP-shuffled")


def percent_spread(s: dict) -> str:
    """`median (min-max)` of shares, in percent."""
    return f"{num(100 * s['median'], 1)} ({num(100 * s['min'], 1)}-{num(100 * s['max'], 1)})"


def cp_wiki80_tables(f: dict) -> str:
    """benchmarks/cp_wiki80.py's pre-trainings, overlap check, probe and fine-tuning."""
    def short(counts: dict) -> dict:  # corpus paths -> file names
        return {Path(corpus).name: n for corpus, n in (counts or {}).items()}

    parts = []
    for name, run in f["pretrain"].items():
        exclusion = run.get("exclusion") or {}
        dropped = "; ".join(f"{Path(corpus).name}: " + ", ".join(f"{n} {reason}" for reason, n in reasons.items())
                            for corpus, reasons in exclusion.get("dropped", {}).items()) or "none"
        joint = [e for e in run["loss_log"] if e["phase"] == "joint"]
        first, last = (joint[0], joint[-1]) if joint else ({}, {})
        parts.append(f"- {name}: {run['steps']} steps, {run['pairs']} pairs, {run['sentences']} sentences in "
                     f"{run['relations']} bags, MLM head warmed {run['mlm_warmup_steps']} steps, {run['wall_s']} s "
                     f"wall (one thread); joint losses CP {first.get('cp', '?')} -> {last.get('cp', '?')}, MLM "
                     f"{first.get('mlm', '?')} -> {last.get('mlm', '?')}; instances read {short(exclusion.get('read'))}, "
                     f"kept {short(exclusion.get('kept'))}; dropped by the overlap check: {dropped}.")
    parts.append("\nFrozen-encoder probe (dev accuracy, %; fitted on the training subset):\n")
    parts.append(table(["training subset", "encoder", "1-NN", "linear", "s"],
                       [[key.split(" ", 1)[0], key.split(" ", 1)[1], num(100 * r["knn1"], 1),
                         num(100 * r["linear"], 1), r["seconds"]] for key, r in f["probe"].items()]))
    parts.append("\nFine-tuned (configs/cp_finetune.cfg, C+M), dev accuracy, %:\n")
    parts.append(table(["training subset", "encoder", "epochs", "seeds", "accuracy median (min-max)",
                        "train s median"],
                       [[key.split(" ", 1)[0], key.split(" ", 1)[1], r["epochs"], r["acc"]["n"],
                         percent_spread(r["acc"]), num(r["train_seconds"]["median"], 0)]
                        for key, r in f["wiki80"].items()]))
    return "\n".join(parts)


def table(columns: Sequence[str], rows: List[Sequence]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_text(machine) -> str:
    if isinstance(machine, str):
        return machine
    return (f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, torch {machine['torch']}, "
            f"spaCy {machine['spacy']}, {machine['device']}, load {machine.get('load_average_1min', '?')}")


def mode_label(rec: dict) -> str:
    return rec.get("mode", "?")


def note(notes: Path, name: str) -> str:
    path = notes / f"{name}.md"
    return path.read_text().strip() + "\n" if path.exists() else ""


def provenance_table(records: Dict[str, dict]) -> str:
    rows = []
    for name, rec in records.items():
        rss = f"{rec['peak_rss_mb']:.0f}" if "peak_rss_mb" in rec else "-"
        rows.append([f"`{name}`", mode_label(rec), rec.get("date", "?"), f"`{rec.get('command', '?')}`",
                     machine_text(rec.get("machine", "?")), rec.get("data", "?"), rss])
    return table(["result", "mode", "date", "command", "machine", "data", "peak RSS MiB"], rows)


# --- speed, scaling, memory -----------------------------------------------------------

SPEED = [("speed_rere", "relation_detector + span_extractor (RERE)"), ("speed_clm", "clm_classifier"),
         ("speed_rationale", "rationale_masker (RE2)"), ("speed_logic", "logic_reasoner on clm_classifier")]


def threads_text(entry: dict, fig: dict) -> str:
    """The torch threads a speed row ran with ("-" in results that predate recording them)."""
    return str(entry.get("torch_threads", fig.get("torch_threads", "-")))


def cost_text(row: dict) -> str:
    """The relation component's cost as a ratio of the row's same-process baseline (issue 24),
    "-" in results written before baselines were timed."""
    return f"{spread(row['relation_cost'], 2)}x" if "relation_cost" in row else "-"


def baseline_rate(row: dict, words: int) -> str:
    return spread(rate(words, row["baseline_seconds"]), 0) if "baseline_seconds" in row else "-"


def speed_section(records: Dict[str, dict], notes: Path) -> str:
    rows, scaling, lengths, entities, logic_rows, baselines, peers = [], [], [], [], [], [], []
    for name, title in SPEED:
        rec = records.get(name)
        if rec is None:
            continue
        fig = rec["figures"]
        if name == "speed_logic":
            for b in fig["batches"]:
                rows.append([title, "cpu", b["batch_size"], threads_text({}, fig), spread(b["words_per_s"], 0), "-",
                             spread(b["docs_per_s"], 2) + " docs/s", "-", "-", fig["dev_docs"], mode_label(rec)])
            logic_rows = [[b["bucket"], b["docs"], b["words"], num(b["s_per_doc"], 3), spread(b["docs_per_s"], 2)]
                          for b in fig["entity_buckets"]]
            continue
        for config, entry in fig["configs"].items():
            if "missing" in entry:
                rows.append([title, config, "-", "-", entry["missing"], "", "", "", "", "", mode_label(rec)])
                continue
            for b in entry["batches"]:
                rows.append([title, f"{config} (`{entry['config']}`)", b["batch_size"], threads_text(entry, fig),
                             spread(b["words_per_s"], 0), spread(b["sents_per_s"], 1), "",
                             baseline_rate(b, entry["words"]), cost_text(b), entry["dev_docs"], mode_label(rec)])
            first = entry["batches"][0] if entry["batches"] else {}
            if "baseline" in first:
                baselines.append([title, config, first["baseline"], f"`{first['relation_cost_is']}`"])
            for p in entry.get("peer_floor", {}).get("batches", []):
                peers.append([title, config, p["batch_size"], spread(p["words_per_s"], 0),
                              spread(p["reference_words_per_s"], 0), f"{spread(p['words_per_s_vs_reference'], 2)}x"])
            if "n_process" in entry:
                r = entry["n_process"]
                # alternate(a = 2 processes, b = 1 process): ratio = time(1) / time(2)
                # rows since issue 24 time 2,000+ training sentences, older ones the dev docs
                sentences = r.get("sentences", entry["sentences"])
                scaling.append([title, sentences, spread(rate(sentences, r["b"])), spread(rate(sentences, r["a"])),
                                f"{spread(r['ratio'], 2)}x", r.get("start_method", "-")])
            for b in entry.get("length_buckets", []):
                lengths.append([title, b["bucket"], b["sentences"], num(b["ms_per_sentence"], 2),
                                spread(b["words_per_s"], 0), cost_text(b)])
            for b in entry.get("entity_buckets", []):
                entities.append([title, b["bucket"], b["sentences"], num(b["ms_per_sentence"], 2),
                                 spread(b["words_per_s"], 0), cost_text(b)])
    if not rows:
        return ""
    parts = ["## Speed\n", note(notes, "speed"),
             table(["component", "config", "batch size", "torch threads", "words/s", "sentences/s", "documents/s",
                    "baseline words/s", "relation cost", "dev docs", "mode"], rows), ""]
    if baselines:
        parts += ["Each row's baseline is timed alternately with it in the same process; the relation cost is the "
                  "relation component's time as a ratio of the baseline's, per round (median, min-max). "
                  "Target (issue 24): <= 1.0x for the CPU `clm_classifier`, <= 2.5x a plain MiniLM forward for "
                  "its transformer config.\n",
                  table(["component", "config", "baseline", "relation cost ="], baselines), ""]
    if peers:
        parts += ["### Peer floor: a tok2vec + pair-MLP reference component (`benchmarks/pair_mlp.py`)\n",
                  "The same config's tok2vec, candidates and inputs, timed alternately with the component; ratio = "
                  "the component's words/s / the reference's, per round. Target (issue 24): >= 0.8x for the CPU "
                  "`clm_classifier`.\n",
                  table(["component", "config", "batch size", "component words/s", "reference words/s",
                         "ratio to the reference"], peers), ""]
    if scaling:
        parts += ["### Scaling: `nlp.pipe(n_process=1)` vs `n_process=2`\n",
                  "Batch size 64, CPU default config, the same inputs (the dev docs in results written before "
                  "issue 24, at least 2,000 training sentences since); speed-up = time with 1 process / time with "
                  "2, measured alternately. Target (issue 24): >= 1.6x.\n",
                  table(["component", "sentences", "1 process: sentences/s", "2 processes: sentences/s", "speed-up",
                         "start method"], scaling), ""]
    if lengths:
        parts += ["### Cost vs sentence length (words per sentence), CPU default, batch 64\n",
                  table(["component", "words", "sentences", "ms / sentence (median)", "words/s", "relation cost"],
                        lengths), ""]
    if entities:
        parts += ["### Cost vs entities per sentence, CPU default, batch 64\n",
                  table(["component", "entities", "sentences", "ms / sentence (median)", "words/s", "relation cost"],
                        entities), ""]
    if logic_rows:
        parts += ["### logic_reasoner: cost vs document size (entities per document), backbone included\n",
                  table(["entities", "docs", "words", "s / doc (median)", "docs/s"], logic_rows), ""]
    return "\n".join(parts)


def memory_section(records: Dict[str, dict], notes: Path) -> str:
    peaks = [[f"`{name}`", title, f"{records[name]['peak_rss_mb']:.0f}", mode_label(records[name])]
             for name, title in SPEED if "peak_rss_mb" in records.get(name, {})]
    docs = []
    for name in ("memory200_clm", "memory200_rationale", "memory200_logic"):
        rec = records.get(name)
        if rec is None:
            continue
        f = rec["figures"]
        raised = "yes" if f["doc_raised_peak"] else "no (the figure is an upper bound: init set the peak)"
        docs.append([f["component"], f["entities"], f["entities_per_sentence"], f["tokens"], num(f["rss_before_mb"], 0),
                     num(f["peak_after_mb"], 0), num(f["doc_increase_mb"], 0), raised, f["relations_written"]])
    largest = records.get("memory_logic_dwie")
    if not (peaks or docs or largest):
        return ""
    parts = ["## Memory (peak resident set size)\n", note(notes, "memory")]
    if peaks:
        parts += ["Peak RSS of each speed benchmark's own process (it includes building and initialising the "
                  "pipelines of both configs).\n", table(["result", "component", "peak RSS MiB", "mode"], peaks), ""]
    if docs:
        parts += ["### One document with 200 entities\n",
                  table(["component", "entities", "entities / sentence", "tokens", "RSS before MiB", "peak after MiB",
                         "peak - RSS before MiB", "document raised the peak", "relations written"], docs), ""]
    if largest:
        f = largest["figures"]
        parts += ["### logic_reasoner on the largest DWIE dev document (`memory_logic_dwie`)\n",
                  f"The reasoner trained by `accuracy_logic_dwie` ({mode_label(largest)}), loaded alone in a fresh "
                  f"process and run on dev document {f['doc_index']} ({f['entities']} entities, {f['tokens']} tokens, "
                  f"{f['backbone_candidates']} backbone candidate scores): RSS {num(f['rss_before_mb'], 0)} MiB "
                  "before, "
                  f"peak {num(f['peak_mb'], 0)} MiB while it ran (+{num(f['reasoner_increase_mb'], 0)} MiB"
                  + ("" if f["peak_measured_from_start_of_run"] else "; lifetime peak, an upper bound")
                  + f"), {f['reasoner_s']} s on one thread, {f['relations_written']} relations written.\n"]
    return "\n".join(parts)


# --- ratios and accuracy ----------------------------------------------------------------

def ratio_rows(records: Dict[str, dict]) -> List[list]:
    rows = []
    rec = records.get("clm_packing")
    if rec:
        for r in rec["figures"]["rows"]:
            rows.append([f"clm_classifier: packed vs per pair, {r.get('dataset', 'conll04_dev')}", r["mode"],
                         f"{spread(r['speedup'], 2)}x faster",
                         TARGETS["packed"], f"`{rec['command']}` ({rec['date']}, {mode_label(rec)})"])
    rec = records.get("accuracy_rere")
    if rec:
        r = rec["figures"]["relation_first_vs_all"]
        rows.append(["RERE: relation-first vs querying all relation types",
                     f"CoNLL04 dev, {r['labels']} types, {r['detected_relations_per_sentence']} detected / sentence, "
                     f"model of `accuracy_rere`", f"{spread(r['speedup'], 2)}x faster", TARGETS["relation_first"],
                     f"`{rec['command']}` ({rec['date']}, {mode_label(rec)})"])
    rec = records.get("rationale_solver_cost")
    if rec:
        f = rec["figures"]
        rows.append(["RE2: budgeted Viterbi (inference solver) / classifier forward",
                     f"L = {f['length']}, {f['pairs']} pairs, CPU tok2vec width {f['width']}, 1 thread",
                     f"{spread(f['ratio_to_forward_no_mask']['viterbi'], 3)}", TARGETS["solver"],
                     f"`{rec['command']}` ({rec['date']}, {mode_label(rec)})"])
        rows.append(["RE2: training relaxation / classifier forward", "same",
                     f"{spread(f['ratio_to_forward_no_mask']['relaxed'], 3)}", "-",
                     f"`{rec['command']}` ({rec['date']}, {mode_label(rec)})"])
        if "minilm" in f:
            m = f["minilm"]
            rows.append(["RE2: budgeted Viterbi (inference solver) / MiniLM-L6 forward",
                         f"L = {m['length']}, {m['pairs']} pairs, MiniLM-L6 (width {m['width']}), 1 thread",
                         f"{spread(m['ratio_to_forward_no_mask']['viterbi'], 3)}", TARGETS["solver"],
                         f"`{rec['command']}` ({rec['date']}, {mode_label(rec)})"])
    rec = records.get("annotate_speed")
    if rec:
        f = rec["figures"]
        for ratio, text in (("ray_2_speedup_over_ray_1", "annotate: Ray 2 workers vs 1 worker (speed-up)"),
                            ("ray_2_throughput_vs_local_2", "annotate: Ray 2 workers vs local n_process=2 (docs/s)")):
            rows.append([text, f"{f['documents']} sentences (NYT + WebNLG), 2 CPUs, 1 thread per process",
                         f"{spread(f['ratios'][ratio], 2)}", f["targets"][ratio],
                         f"`{rec['command']}` ({rec['date']}, {mode_label(rec)})"])
    rec = records.get("speed_logic")
    if rec:
        r = rec["figures"]["reasoner_vs_backbone"]
        rows.append(["logic_reasoner: (backbone + reasoner) / backbone time",
                     f"DWIE dev, {rec['figures']['dev_docs']} docs, clm_classifier CPU backbone, batch 16",
                     f"{spread(r['ratio'], 2)}x the backbone's time", TARGETS["reasoner"],
                     f"`{rec['command']}` ({rec['date']}, {mode_label(rec)})"])
    return rows


def accuracy_rows(records: Dict[str, dict]) -> List[list]:
    rows = []
    hw_ours = "2 CPU cores"
    for name, paper_key, component, dataset, metric, metric_label in (
        ("accuracy_rere", "rere", "relation_detector + span_extractor", "CoNLL04 dev", "triple_exact_f",
         "triple exact F1"),
        ("accuracy_clm", "clm", "clm_classifier", "CoNLL04 dev (end to end)", "rel_f", "Rel F (boundaries)"),
        ("accuracy_rationale", "rationale", "rationale_masker (RE2)", "SemEval dev (seeded split)", "semeval_micro_f",
         "micro-F1 w/o Other"),
        ("accuracy_clm_semeval", "clm_semeval", "clm_classifier (gold entities)", "SemEval dev (seeded split)",
         "semeval_macro_f", "official macro-F1"),
        ("accuracy_clm_ablation", "clm_ablation", "clm_classifier (gold entities, full model of the ablations)",
         "CoNLL04 dev", "rel_f", "Rel F"),
        ("accuracy_clm_scierc", "clm", "clm_classifier (gold entities)", "SciERC dev", "rel_f",
         "Rel F (Rel+ equals Rel with gold entities)"),
        ("accuracy_clm_trf_gold", "clm", "clm_classifier (gold entities, faithful mode: MiniLM)", "CoNLL04 dev", "rel_f",
         "Rel F"),
        ("accuracy_clm_ablation_scierc", "clm_ablation_scierc",
         "clm_classifier (gold entities, full model of the ablations, seed 0)", "SciERC dev", "rel_f", "Rel F"),
    ):
        rec = records.get(name)
        if rec is None:
            continue
        f = rec["figures"]
        label = f"quick ({f['steps']} steps)" if rec["mode"] == "quick" else f"full ({f['steps']} steps)"
        value = f["scores"].get(metric, f.get("semeval", {}).get(metric))
        rows.append([component, dataset, metric_label, "-" if value is None else num(100 * value, 1), label,
                     f"{f['encoder']}; {hw_ours}, {rec['date']}", PAPER[paper_key], f"`{name}`"])
        if "end_to_end" in f:
            e2e = f["end_to_end"]["scores"]
            rows.append([f"ner + {component.split(' ')[0]} (end to end)", dataset, "Rel F / Rel+ F",
                         f"{num(100 * e2e['rel_f'], 1)} / {num(100 * e2e['rel_strict_f'], 1)}", label,
                         f"{f['encoder']}; {hw_ours}, {rec['date']}", PAPER[paper_key], f"`{name}`"])
    for name in sorted(n for n in records if n.startswith("rere_accuracy_")):  # complete data, seeds
        rec = records[name]
        f = rec["figures"]
        dataset = {"conll04": "CoNLL04", "webnlg": "WebNLG", "nyt": "NYT"}.get(name.split("_")[-1], name)
        config = f.get("config", "configs/rere_cpu.cfg")
        encoder = "MiniLM fine-tuned" if "trf" in config else "spaCy tok2vec from scratch"
        for key, c in f["summary"].items():
            rows.append([f"relation_detector + span_extractor ({key.split()[2]} detector loss)", f"{dataset} dev",
                         "triple exact F1 at tuned thresholds / extractor alone on gold queries",
                         " / ".join(mean_std_cell(c[k], runs=len(f["seeds"]))
                                    for k in ("triple_exact_f", "oracle_triple_exact_f")),
                         f"{rec['mode']} ({f['steps']} steps, {len(f['seeds'])} seed(s))",
                         f"{encoder} ({config}); {hw_ours}, {rec['date']}", PAPER["rere"],
                         f"`{name}`"])
    rec = records.get("accuracy_clm_trf")
    if rec:  # one model, scored with gold mentions and end to end
        f = rec["figures"]
        gold, e2e = f["gold_entities"]["scores"], f["scores"]
        label = f"{rec['mode']} ({f['steps']} steps)"
        hardware = f"MiniLM classifier, tok2vec ner; {hw_ours}, {rec['date']}"
        rows.append(["clm_classifier (gold entities, faithful mode: MiniLM)", "CoNLL04 dev", "Rel F",
                     num(100 * gold["rel_f"], 1), label, hardware, PAPER["clm"], "`accuracy_clm_trf`"])
        rows.append(["ner + clm_classifier (end to end, faithful mode: MiniLM)", "CoNLL04 dev",
                     "ents F / Rel F / Rel+ F",
                     " / ".join(num(100 * e2e[k], 1) for k in ("ents_f", "rel_f", "rel_strict_f")), label,
                     hardware, PAPER["clm"], "`accuracy_clm_trf`"])
        if "trf_ner" in f:  # the same classifier after a MiniLM ner (configs/ner_trf.cfg)
            trf = f["trf_ner"]
            rows.append(["MiniLM ner + clm_classifier (end to end, faithful mode: MiniLM)", "CoNLL04 dev",
                         "ents F / Rel F / Rel+ F",
                         " / ".join(num(100 * trf["scores"][k], 1) for k in ("ents_f", "rel_f", "rel_strict_f")),
                         f"{label}; ner {trf['ner']['steps']} steps",
                         f"MiniLM classifier, MiniLM ner; {hw_ours}, {rec['date']}", PAPER["clm"],
                         "`accuracy_clm_trf`"])
    for name in RE2_VARIANT_RUNS:  # one row per variant (mean over its seeds), same data and steps
        rec = records.get(name)
        for variant, runs in (by_variant(rec["figures"]["ablations"]) if rec else {}).items():
            f = rec["figures"]
            paper = PAPER_RE2.get(variant, "F1 peaks at K = 60% (RE2 paper, Figure 3)")
            micro = mean_sd([100 * a["eval"]["semeval_micro_f"] for a in runs])
            macro = mean_sd([100 * a["eval"]["semeval_macro_f"] for a in runs])
            rows.append([f"rationale_masker (RE2): {variant}", "SemEval dev (seeded split)",
                         "micro-F1 w/o Other / official macro-F1", f"{micro} / {macro}",
                         f"{rec['mode']} ({f['steps']} steps, {len(runs)} seed(s))",
                         f"{f['encoder']}; {hw_ours}, {rec['date']}", paper, f"`{name}`"])
    for name in sorted(n for n in records if n.startswith("transcribed_")):
        rec = records[name]
        for a in rec["figures"].get("accuracy", []):
            key = "rere" if "span_extractor" in a["component"] else "clm" if "clm" in a["component"] else "rationale"
            rows.append([a["component"], a["dataset"], a["metric"], a["value"], a["training"] + "; " + rec["provenance"],
                         f"{a['encoder']}; {rec['machine']}", PAPER[key], f"`{name}`"])
    rec = records.get("cp_wiki80")
    if rec and "probe" in rec["figures"]:  # the leak-free protocol (issue 22)
        wiki = rec["figures"]["wiki80"]
        for subset, share, paper_key in (("train_0.01", "1%", "cp"), ("train_0.1", "10%", "cp10")):
            cells = {name: wiki[f"{subset} {name}"]["acc"] for name in CP_ENCODERS if f"{subset} {name}" in wiki}
            if not cells:
                continue
            value = "; ".join(f"{name} {percent_spread(acc)}" for name, acc in cells.items())
            rows.append(["CP pre-training (leak-free) + clm_classifier pair", f"Wiki80 {share} (dev: 640 FewRel "
                         "instances)", "accuracy, C+M, median (min-max) of seeds", value,
                         "; ".join(filter(None, (rec["mode"], rec.get("provenance")))),
                         f"MiniLM; {machine_text(rec['machine'])}", PAPER[paper_key], "`cp_wiki80`"])
        probe = rec["figures"]["probe"]
        subsets = [(subset, share) for subset, share in (("train_0.01", "1%"), ("train_0.1", "10%"))
                   if any(key.startswith(f"{subset} ") for key in probe)]
        value = "; ".join(f"{name} " + " / ".join(num(100 * probe[f"{subset} {name}"]["linear"], 1)
                                                 for subset, _ in subsets)
                          for name in CP_ENCODERS if all(f"{subset} {name}" in probe for subset, _ in subsets))
        rows.append(["CP pre-training (leak-free), frozen encoder",
                     f"Wiki80 {' / '.join(share for _, share in subsets)} (dev: 640 FewRel instances)",
                     "accuracy, linear probe on [h(E1); h(E2)]", value, rec["mode"],
                     f"MiniLM; {machine_text(rec['machine'])}", "-", "`cp_wiki80`"])
    elif rec:
        wiki = rec["figures"]["wiki80"]
        for subset, share, paper_key in (("train_0.01", "1%", "cp"), ("train_0.1", "10%", "cp10")):
            base, cp = wiki.get(f"{subset} MiniLM"), wiki.get(f"{subset} MiniLM+CP")
            value = " -> ".join(num(100 * r["scores"]["C+M"]["acc"], 1) for r in (base, cp) if r)
            longer = [(k[len(subset) + 1:], r) for k, r in wiki.items() if k.startswith(f"{subset} MiniLM+CP (")]
            value += " (MiniLM -> MiniLM+CP)" + "".join(f"; {k}: {num(100 * r['scores']['C+M']['acc'], 1)}"
                                                        for k, r in longer)
            rows.append(["CP pre-training + pair classifier", f"Wiki80 {share} (dev: 640 FewRel instances)",
                         "accuracy, C+M", value,
                         f"{rec['mode']}; {rec.get('provenance', '')}", f"MiniLM; {machine_text(rec['machine'])}",
                         PAPER[paper_key], "`cp_wiki80`"])
    rec = records.get("diagnose_semeval")
    if rec:
        f = rec["figures"]
        values = " / ".join(f"{rep} {num(100 * r['f'], 1)}" for rep, r in f["scores"].items())
        rows.append(["clm_classifier (gold entities), diagnose", "SemEval dev (seeded split)",
                     "Rel F per entity representation", values, f"{rec['mode']} ({f['steps']} steps)",
                     f"spaCy tok2vec from scratch; {hw_ours}, {rec['date']}", PAPER["diagnose"], "`diagnose_semeval`"])
    rec = records.get("cp_formats")
    if rec:  # the paper's protocol: one model per format
        f = rec["figures"]
        metric = {"conll04": ("f", "relation micro-F1"), "wiki80": ("acc", "accuracy")}
        for dataset in sorted({key.split(" ", 1)[0] for key in f["cells"]}):
            key, name = metric[dataset]
            cells = {rep: f["cells"][f"{dataset} {rep}"][key]["median"] for rep in ("C+M", "C+T", "OnlyC", "OnlyM", "OnlyT")
                     if f"{dataset} {rep}" in f["cells"]}
            control = f.get("type_pair_majority", {}).get(dataset)
            rows.append(["clm_classifier pair (CP fine-tuning), one model per format", f"{dataset} dev",
                         f"{name} per format, median of seeds {f['seeds']}",
                         " / ".join(f"{rep} {num(100 * v, 1)}" for rep, v in cells.items())
                         + (f" (types alone, no model: {num(100 * control[key], 1)})" if control else ""),
                         f"{rec['mode']} ({f['epochs'][dataset]} epoch(s))", f"MiniLM; {machine_text(rec['machine'])}",
                         PAPER["diagnose"], "`cp_formats`"])
    rec = records.get("demo_pipeline")
    if rec:  # what `make demo` prints
        f, build = rec["figures"]["sample_scores"], rec["figures"]["build"]
        sel = build["selection_scores_at_threshold"]
        rows.append(["ner + clm_classifier (end to end), `make demo`: models/demo_conll04",
                     "CoNLL04 dev sample (40 sentences, held out)", "Rel P / R / F",
                     " / ".join(num(100 * f[k], 1) for k in ("rel_p", "rel_r", "rel_f")),
                     f"{build['overrides']['training.max_steps']} steps, threshold {build['threshold']:.2f} "
                     f"(best F1 at P >= {build['min_precision']} on the other CoNLL04 valid sentences: "
                     f"P / R / F {num(100 * sel['p'], 1)} / {num(100 * sel['r'], 1)} / {num(100 * sel['f'], 1)}), "
                     f"built {build['date']}",
                     f"spaCy tok2vec from scratch (configs/clm_cpu.cfg); {hw_ours}, {rec['date']}", PAPER["clm"],
                     "`demo_pipeline`"])
    rows.extend(logic_accuracy_rows(records.get("accuracy_logic_dwie"), hw_ours))
    if "accuracy_logic_redocred" in records:
        rows.extend(logic_accuracy_rows(records["accuracy_logic_redocred"], hw_ours, "Re-DocRED",
                                        "accuracy_logic_redocred"))
    return rows


REL_KEYS = ("rel_p", "rel_r", "rel_f", "rel_macro_f")


def by_variant(ablations: List[dict]) -> Dict[str, List[dict]]:
    """The runs of each variant (one per seed), in the order the variants first appear."""
    grouped: Dict[str, List[dict]] = {}
    for a in ablations:
        grouped.setdefault(a["variant"], []).append(a)
    return grouped


def mean_std_cell(cell: dict, scale: float = 100.0, digits: int = 1, runs: int = 2) -> str:
    """A summary cell `{"mean": m, "std": s}` of `runs` runs as `mean ± std` (percentages by
    default); of one run, its value (a spread of 0 would claim a repeat that was not made)."""
    if runs == 1:
        return num(scale * cell["mean"], digits)
    return f"{num(scale * cell['mean'], digits)} ± {num(scale * cell['std'], digits)}"


def mean_sd(values: Sequence[float], digits: int = 1) -> str:
    """`mean ± sample standard deviation` (just the value for one run)."""
    if len(values) == 1:
        return num(values[0], digits)
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{num(mean, digits)} ± {num(sd, digits)}"


def re2_variant_tables(ablations: List[dict]) -> str:
    """RE2 variants: dev scores and rationale statistics, then the probes that say whether
    the rationale carries the decision; mean ± sd over seeds."""
    grouped = by_variant(ablations)

    def stat(runs: List[dict], get: Callable[[dict], float], digits: int = 1) -> str:
        values = [get(a["eval"]) for a in runs if get(a["eval"]) is not None]
        return mean_sd(values, digits) if values else "-"

    scores = table(
        ["variant", "seeds", "micro-F1 w/o Other", "official macro-F1", "fraction selected",
         "segments per rationale", "score spread", "r", "train s"],
        [[variant, len(runs), stat(runs, lambda e: 100 * e["semeval_micro_f"]),
          stat(runs, lambda e: 100 * e["semeval_macro_f"]), stat(runs, lambda e: e["mean_fraction_selected"], 3),
          stat(runs, lambda e: e["mean_segments_per_rationale"], 2), stat(runs, lambda e: e.get("mean_score_spread"), 2),
          stat(runs, lambda e: e.get("continuity_r"), 2), num(sum(a["train_seconds"] for a in runs) / len(runs), 0)]
         for variant, runs in grouped.items()])
    probed = {v: runs for v, runs in grouped.items() if "swap_probe_micro_f" in runs[0]["eval"]}
    if not probed:
        return "\n" + scores
    swaps = table(
        ["variant", "MAP rationale", "all tokens", "random K", "least important K", "MAP - random K"],
        [[variant, *(stat(runs, lambda e, k=k: 100 * e["swap_probe_micro_f"][k]) for k in
                     ("map", "all", "random_k", "least_important_k")),
          stat(runs, lambda e: 100 * (e["swap_probe_micro_f"]["map"] - e["swap_probe_micro_f"]["random_k"]))]
         for variant, runs in probed.items()])
    eraser = table(
        ["variant", "pairs", "comprehensiveness", "random: comprehensiveness", "ratio", "sufficiency",
         "random: sufficiency", "rationale tokens"],
        [[variant, stat(runs, lambda e: e["eraser"]["n_pairs"], 0),
          *(stat(runs, lambda e, k=k: e["eraser"].get(k), 3) for k in
            ("comprehensiveness", "random_comprehensiveness", "comprehensiveness_ratio_to_random", "sufficiency",
             "random_sufficiency")), stat(runs, lambda e: e["eraser"].get("rationale_tokens"), 1)]
         for variant, runs in probed.items() if runs[0]["eval"]["eraser"].get("n_pairs")])
    return ("\n" + scores + "\n\nMask-swap probe (micro-F1 w/o Other when the classifier reads other tokens "
            "in place of the MAP rationale; K = the rationale's size):\n\n" + swaps +
            "\n\nERASER (DeYoung et al. 2020) over the pairs predicted as a relation: comprehensiveness "
            "p(y|x) - p(y|x without the rationale), sufficiency p(y|x) - p(y|only the rationale), tokens "
            "removed from the Doc and the whole pipeline run again, against a random rationale of the same "
            "length (higher comprehensiveness and lower sufficiency: the rationale carries the decision):\n\n"
            + eraser)


def clm_ablation_tables(ablations: List[dict]) -> str:
    """Per-run Rel scores of each variant and seed; with several seeds, first their mean and spread."""
    seeds = sorted({a.get("seed", 0) for a in ablations})
    runs = table(["variant", "seed", "Rel P", "Rel R", "Rel F", "Rel macro-F", "train s"],
                 [[a["variant"], a.get("seed", 0), *(num(100 * a["scores"][k], 1) for k in REL_KEYS),
                   a["train_seconds"]] for a in ablations])
    if len(seeds) < 2:
        return "\n" + runs
    by_variant: Dict[str, List[dict]] = {}
    for a in ablations:
        by_variant.setdefault(a["variant"], []).append(a["scores"])
    means = [[variant, len(scores), *(num(100 * sum(s[k] for s in scores) / len(scores), 1) for k in REL_KEYS),
              f"{num(100 * min(s['rel_f'] for s in scores), 1)}-{num(100 * max(s['rel_f'] for s in scores), 1)}"]
             for variant, scores in by_variant.items()]
    mean_table = table(["variant", "seeds", "Rel P", "Rel R", "Rel F", "Rel macro-F", "Rel F range"], means)
    return f"\nMean over seeds {', '.join(map(str, seeds))}:\n\n{mean_table}\n\nEach run:\n\n{runs}"


def docre_backbone_table(f: dict) -> str:
    """One row per seed of the document-level backbone on dev, then mean ± sd."""
    columns = ["seed", "P", "R", "F1", "Ign F1", "logic", "F1 same-sentence facts", "F1 cross-sentence facts",
               "F1 at the best dev threshold (optimistic)"]

    def values(run: dict) -> List[float]:
        sc, scope = run["scores"]["backbone"], run["f_by_sentence_scope"]
        return [100 * x for x in (sc["p"], sc["r"], sc["f"], sc["ign_f"], sc["logic"], scope["same_sentence"]["f"],
                                  scope["cross_sentence"]["f"], run["best_threshold_on_dev"]["backbone"]["f"])]

    rows = [[run["seed"], *(num(v, 1) for v in values(run))] for run in f["runs"]]
    per_run = [values(run) for run in f["runs"]]
    if len(per_run) > 1:
        rows.append(["mean ± sd", *(mean_sd([v[i] for v in per_run]) for i in range(len(columns) - 1))])
    scope = f["runs"][0]["f_by_sentence_scope"]
    gold = f"gold facts on dev: {scope['same_sentence']['gold']} same-sentence, " \
           f"{scope['cross_sentence']['gold']} cross-sentence"
    return f"Training: `{f['train_command']}`; model-best of each run; {gold}.\n\n" + table(columns, rows)


def logic_attribution_table(f: dict) -> str:
    """Per reasoner variant, mean ± sd over seeds: where the gain comes from."""
    columns = ["variant", "seeds", "reasoner F1", "Ign F1", "logic", "backbone F1 (tuned on train)",
               "F1 on facts the backbone wrote", "F1 on facts it did not", "multi-hop share of relations"]
    rows = []
    for variant, runs in by_variant(f["rows"]).items():
        reasoner = [run["scores"]["backbone+logic_reasoner"] for run in runs]
        backbone = [run["scores"]["backbone, threshold tuned on train"] for run in runs]
        split = [run["f_by_backbone_candidate"] for run in runs]
        rows.append([variant, ",".join(str(run["seed"]) for run in runs),
                     *(mean_sd([100 * sc[k] for sc in reasoner]) for k in ("f", "ign_f", "logic")),
                     mean_sd([100 * sc["f"] for sc in backbone]),
                     mean_sd([100 * sp["scored"]["f"] for sp in split]),
                     mean_sd([100 * sp["unscored"]["f"] for sp in split]),
                     mean_sd([100 * run["explanation_share"]["multi_hop"] for run in runs])])
    return f"Backbone: `{f['backbone']}`.\n\n" + table(columns, rows)


def clm_vs_pair_tables(f: dict) -> str:
    """benchmarks/clm_vs_pair.py: the dev search, clm and the pair classifier at one budget
    of update seconds, SURE's ablations and the CLMs-at-inference probe."""
    def rate(lr: float) -> str:
        return f"{lr:g}"

    parts = [f"Budget per run: {num(f['budget_update_s'], 0)} s of updates (search: "
             f"{num(f['search_budget_update_s'], 0)} s); seconds per update from the pilots: "
             + ", ".join(f"{key} words {num(s, 2)}" for key, s in f["pilots"].items()) + ".\n"]
    search = sorted(f["rows"]["search"], key=lambda r: (r["system"], r["words"], r["lr"]))
    if search:
        parts.append("Dev search (CoNLL04, seed 0; the best setting of each system is its recipe):\n")
        parts.append(table(["system", "learning rate", "words per batch", "steps", "update s", "dev Rel F"],
                           [[r["system"], rate(r["lr"]), r["words"], r["steps"], num(r["update_s"], 0),
                             num(100 * r["scores"]["rel_f"], 1)] for r in search]))

    def summary_parts(runs: dict, recipe: str = "") -> List[str]:
        """The table of one summary, then the CLMs-at-inference probe of its clm models."""
        out = [table(["dataset", "system", "variant", "learning rate", "words per batch", "steps", "seeds",
                      "update s", "Rel P", "Rel R", "Rel F"],
                     [[*key.split(" ", 2), rate(c["lr"]), c["words"], c["steps"],
                       ",".join(str(s) for s in c["seeds"]), mean_sd(c["update_s"]["values"], 0),
                       *(mean_sd(c[k]["values"]) for k in ("rel_p", "rel_r", "rel_f"))]
                      for key, c in runs.items()])]
        for key, c in runs.items():
            if "clm_probe" in c:
                out.append(f"\n{key}{recipe}, read again on dev: " + "; ".join(
                    f"{reading} Rel F {mean_sd(p['values'])}" for reading, p in c["clm_probe"].items()) + ".")
        return out

    if f["summary"]:
        parts.append("\nDev Rel P / R / F (%, model-best), mean ± sample std over seeds:\n")
        parts += summary_parts(f["summary"])
    for recipe, runs in (f.get("summary_of_earlier_recipes") or {}).items():
        parts.append(f"\nRuns of an earlier recipe ({recipe}), made before the search was widened; kept apart:\n")
        parts += summary_parts(runs, f" ({recipe})")
    return "\n".join(parts)


def logic_accuracy_rows(rec: Optional[dict], hardware: str, dataset: str = "DWIE",
                        name: str = "accuracy_logic_dwie") -> List[list]:
    """The logic_reasoner row: backbone alone -> backbone + reasoner, same backbone, same run."""
    paper = f"{PAPER['logic']}; {PAPER['logic_score']}" if dataset == "DWIE" else PAPER["logic_docred"]
    if rec is None:
        return [["logic_reasoner", f"{dataset} dev", "F1 / Ign F1 / logic", "not measured", "-", "-", paper, "-"]]
    f = rec["figures"]
    keys = ("f", "ign_f", "logic") if dataset == "DWIE" else ("f", "ign_f")
    scores = {system: " / ".join(num(100 * sc[k], 1) for k in keys) for system, sc in f["scores"].items()}
    result = f"{scores['backbone']} -> {scores['backbone+logic_reasoner']} (backbone -> + logic_reasoner"
    tuned = scores.get("backbone, threshold tuned on train")
    result += f"; backbone at the threshold tuned as the reasoner's: {tuned})" if tuned else ")"
    training = (f"{rec['mode']}: backbone {f['backbone_steps']} steps, reasoner on {f['reasoner_train_docs']} "
                f"train docs, EM iterations {f['reasoner_settings']['em_iterations']}")
    split = "" if dataset == "DWIE" else " (seeded split of its dev set)"
    return [["logic_reasoner", f"{dataset} dev{split} ({f['dev_docs']} docs, gold entities)",
             "F1 / Ign F1 (official)" + (" / logic" if dataset == "DWIE" else ""), result, training,
             f"rationale_masker backbone, CPU tok2vec; {hardware}, {rec['date']}", paper,
             f"`{name}`"]]


def details(records: Dict[str, dict], notes: Path) -> str:
    parts = []
    for name, rec in records.items():
        f = rec["figures"]
        body = []
        if name.startswith("convert"):
            rows = []
            for r in f["rows"]:
                seconds = r.get("seconds") or {"median": r["seconds_median"], "min": r["seconds_min"],
                                               "max": r["seconds_max"]}
                docs_s = r["docs_per_s"]["median"] if isinstance(r["docs_per_s"], dict) else r["docs_per_s"]
                rows.append([r["format"], r["input"], r["docs"], r["sentences"], r["entities"], r["relations"],
                             sum(r["skipped"].values()), spread(seconds, 2), num(docs_s, 0)])
            body.append(table(["format", "input", "docs", "sentences", "entities", "relations", "skipped",
                               "s (median, min-max)", "docs/s"], rows))
        elif name in ("accuracy_logic_dwie", "accuracy_logic_redocred"):
            systems = list(f["scores"].items())
            body.append(table(["system", "P", "R", "F1", "Ign F1", "logic", "rules fired", "relations"],
                              [[system, *(num(100 * sc[k], 1) if sc[k] is not None else "-"
                                          for k in ("p", "r", "f", "ign_f", "logic")),
                                sc["logic_rules_fired"] if sc["logic_rules_fired"] is not None else "-",
                                sc["relations"]] for system, sc in systems]))
            buckets = list(systems[0][1]["f_by_distance"])
            body.append("\nF1 by entity-pair distance (tokens between the nearest mentions; gold facts):\n")
            body.append(table(["system", *buckets],
                              [[system, *(f"{num(100 * sc['f_by_distance'][b]['f'], 1)} "
                                          f"({sc['f_by_distance'][b]['gold']})" for b in buckets)]
                               for system, sc in systems]))
            best = f.get("best_threshold_on_dev", {})
            if best:
                body.append("\nF1 at the threshold best on this same dev set (LogiRE's tuning, optimistic): " + ", ".join(
                    f"{system} {num(100 * b['f'], 1)} at {num(b['threshold'], 3)}" for system, b in best.items()
                    if b["threshold"] is not None) + ".\n")
            if "reasoner_gold_rules" in f:
                g = f["reasoner_gold_rules"]
                body.append(f"\nGold DWIE rules among the trained reasoner's rules: {g['recovered_in_sampled_rules']} "
                            f"of {g['gold_rules']} ({g['gold_rules_with_known_labels']} use only labels seen in "
                            f"training); {g['recovered_in_top5']} among the 5 with the highest prior for their "
                            "head relation.\n")
            keys = [k for k, v in f.items() if not isinstance(v, (list, dict))]
            body.append("\n" + table(["measure", "value"], [[k, f[k]] for k in keys]))
        elif name.startswith("docre_backbone"):
            body.append(docre_backbone_table(f))
        elif name == "clm_vs_pair":
            body.append(clm_vs_pair_tables(f))
        elif name.startswith("logic_attribution"):
            body.append(logic_attribution_table(f))
        elif name == "logic_rules_dwie":
            keys = [k for k, v in f.items() if not isinstance(v, (list, dict))]
            body.append(table(["measure", "value"], [[k, f[k]] for k in keys]))
        elif name.startswith(("rere_false_negatives", "rere_accuracy")):
            # runs made before the oracle queries were measured have no such column
            oracle = all("oracle_triple_exact_f" in c for c in f["summary"].values())
            runs = len(f["seeds"])
            body.append(table(["training triples removed", "detector loss", "detector PR-AUC", "triple exact F1",
                               "triple partial F1"] + (["extractor alone, gold queries: exact F1"] if oracle else [])
                              + ["mean p(unlabelled)", "cPU's mu"],
                              [[key.split()[1], key.split()[2]]
                               + [mean_std_cell(c[k], runs=runs)
                                  for k in ("detector_pr_auc", "triple_exact_f", "triple_partial_f")]
                               + ([mean_std_cell(c["oracle_triple_exact_f"], runs=runs)] if oracle else [])
                               + [mean_std_cell(c["unlabelled_mean"], 1.0, 3, runs), num(c["mu"]["mean"], 3)]
                               for key, c in f["summary"].items()]))
            body.append(f"\n{'Mean ± sample std over seeds' if runs > 1 else 'One run, seed'} {f['seeds']}; "
                        f"{f['steps']} steps each; percentages "
                        "except the probabilities; F1 at the thresholds tuned on the held-out tenth of the "
                        "training documents.")
        elif name == "clm_pass_memory":
            body.append(table(["batch", "max_sequences_per_pass", "sentences", "entities", "packed sequences",
                               "passes", "RSS before, MB", "peak growth, MB", "update s"],
                              [[r["batch"], "null (one pass)" if r["limit"] is None else r["limit"], r["sentences"],
                                r["entities"], r["sequences"], r["passes"], r["rss_before_mb"], r["peak_growth_mb"],
                                r["update_seconds"]] for r in f["rows"]]))
            body.append(f"\nModel: {f['config']}; one update with an optimizer step, one torch thread, each row "
                        "in a fresh process.")
        elif name == "cp_formats":
            formats = ["C+M", "C+T", "OnlyC", "OnlyM", "OnlyT"]
            datasets = sorted({key.split(" ", 1)[0] for key in f["cells"]})
            metric = {"conll04": ("f", "relation micro-F1"), "wiki80": ("acc", "accuracy")}
            body.append(table(["dataset", "metric, %, median (min-max) of seeds"] + formats,
                              [[d, metric[d][1]] + [percent_spread(f["cells"][f"{d} {rep}"][metric[d][0]])
                                                    if f"{d} {rep}" in f["cells"] else "-" for rep in formats]
                               for d in datasets]))
            body.append(f"\nEncoder: {f['encoder']}; epochs {f['epochs']}; seeds {f['seeds']}.")
            if "type_pair_majority" in f:  # the types-only control (no model)
                body.append("\nTypes alone, no model (the most frequent directional class of each pair of entity "
                            "types in training, on dev): " + "; ".join(
                                f"{d} {metric[d][1]} {num(100 * c[metric[d][0]], 1)}"
                                for d, c in sorted(f["type_pair_majority"].items())) + ".")
        elif name == "cp_wiki80" and "probe" in f:
            body.append(cp_wiki80_tables(f))
        elif name == "cp_wiki80":
            reps = ["C+M", "C+T", "OnlyC", "OnlyM", "OnlyT"]
            rows = [[run, run_f.get("run", 1), run_f["train_seconds"]]
                    + [num(100 * run_f["scores"][r]["acc"], 1) for r in reps] for run, run_f in f["wiki80"].items()]
            # a result stitched from several runs lists each run's command and pre-training
            for i, run in enumerate(f.get("runs") or [{"pretrain": f["pretrain"]}], 1):
                command = f"`{run['command']}` ({run['date']}, load {run['load_average_1min']}); " \
                    if "command" in run else ""
                body.append(f"Run {i}: {command}pre-training {run['pretrain']}\n")
            body.append(table(["fine-tuning", "run", "train s"] + reps, rows))
        elif name == "diagnose_semeval":
            body.append(table(["representation", "Rel P", "Rel R", "Rel F", "gold relations"],
                              [[rep, *(num(100 * r[k], 1) for k in ("p", "r", "f")), r["gold"]]
                               for rep, r in f["scores"].items()]))
            body.append(f"\nModel `{f['model']}` ({f['model_source']}; its dev Rel F "
                        f"{num(100 * f['model_dev_rel_f'], 1)}), {f['steps']} steps; entity types in dev: "
                        f"{f['entity_types']}.")
        elif name.startswith("transcribed_"):
            for t in f["tables"]:
                body += [f"**{t['title']}**\n", table(t["columns"], t["rows"]), ""]
        elif name.startswith("accuracy_"):
            scores = {k: num(100 * v, 1) if k.endswith(("_f", "_p", "_r", "acc")) else num(v, 3)
                      for k, v in f["scores"].items() if not k.endswith("_per_type")}
            body.append(table(["score", "value"], sorted(scores.items())))
            if "end_to_end" in f:
                e2e = f["end_to_end"]
                body.append(f"\nEnd to end (`{e2e['config']}`, {num(e2e['train_seconds'], 0)} s of training):\n")
                body.append(table(["score", "value"], sorted(
                    (k, num(100 * v, 1) if k.endswith(("_f", "_p", "_r")) else num(v, 3))
                    for k, v in e2e["scores"].items() if not k.endswith("_per_type"))))
            if "gold_entities" in f:
                body.append("\nThe same model with the gold mentions (ner disabled):\n")
                body.append(table(["score", "value"], sorted(
                    (k, num(100 * v, 1)) for k, v in f["gold_entities"]["scores"].items()
                    if k.endswith(("_f", "_p", "_r")))))
            if "ner" in f:
                n = f["ner"]
                body.append(f"\nEntity recognizer: `{n['config']}`, {n['steps']} steps, "
                            f"{num(n['train_seconds'], 0)} s; dev ents F {num(100 * n['scores']['ents_f'], 1)}"
                            + (f"; trained by `{n['train_command']}`." if n.get("train_command") else "."))
            if "trf_ner" in f:
                n = f["trf_ner"]["ner"]
                body.append(f"\nThe same classifier end to end after a MiniLM entity recognizer put in the tok2vec "
                            f"ner's place (`{n['config']}`, {n['steps']} steps, {num(n['train_seconds'], 0)} s; "
                            f"trained by `{n['train_command']}`):\n")
                body.append(table(["score", "value"], sorted(
                    (k, num(100 * v, 1)) for k, v in f["trf_ner"]["scores"].items() if k.endswith(("_f", "_p", "_r")))))
            if "ablations" in f and "eval" in f["ablations"][0]:
                body.append(re2_variant_tables(f["ablations"]))
            elif "ablations" in f:
                body.append(clm_ablation_tables(f["ablations"]))
            if "rationale_eval" in f:
                e = f["rationale_eval"]
                body.append(f"\nRationales: {num(e['mean_fraction_selected'], 3)} of a pair's region selected, "
                             f"{num(e['mean_segments_per_rationale'], 2)} segments on average ({e['n_pairs']} pairs).")
            body.append(f"\nTraining: {f['steps']} steps, {num(f['train_seconds'], 0)} s; model `{f['model']}`.")
            if f.get("train_command"):  # the run itself, which reproduces the figure alone
                body.append(f"\nTrained by: `{f['train_command']}`.")
        elif name == "clm_packing":
            body.append(table(["mode", "dev set", "sentences", "pairs", "packed sentences/s", "per-pair sentences/s",
                               "speed-up"],
                              [[r["mode"], r.get("dataset", "conll04_dev"), r["sentences"], r["pairs"], spread(r["packed_sents_per_s"]),
                                spread(r["per_pair_sents_per_s"]), spread(r["speedup"], 2) + "x"]
                               for r in f["rows"]]))
        elif name == "pair_cost":
            body.append(table(["component", "caps", "entities (one sentence)", "tokens", "pairs scored",
                               "s per Doc (median, min-max)", "ms / pair"],
                              [[r["component"], r["caps"], r["entities"], r["tokens"], r["pairs_scored"],
                                spread(r["seconds"], 2), num(r["ms_per_pair"], 3)] for r in f["rows"]]))
        elif name == "workflow_times":
            body.append(table(["workflow", "wall time", "exit code", "commit", "date", "load before",
                               "commands (wall time; timed in another workflow of one clone)"],
                              [[f"`{r['workflow']}`", minutes(r["wall_s"]), r["exit_code"], r["commit"], r["date"],
                                r.get("load_average_1min", "?"), workflow_commands_text(r)] for r in f["rows"]]))
        elif name == "annotate_speed":
            body.append(table(["variant", "documents/s (median, min-max)", "s per job"],
                              [[variant, spread(f["docs_per_s"][variant], 1), spread(f["seconds"][variant], 2)]
                               for variant in f["docs_per_s"]]))
            body.append("\n" + table(["ratio (per round)", "median (min-max)"],
                                     [[ratio, spread(value, 2)] for ratio, value in f["ratios"].items()]))
            body.append(f"\nPipeline: {f['pipeline']}; partitions of {f['partition_size']}, batches of "
                        f"{f['batch_size']}; local Ray cluster start {num(f['ray_cluster_start_s'], 1)} s (not timed).")
        elif name == "rationale_solver_cost":
            body.append(table(["part", "ms / pair", "ratio to the forward without mask"],
                              [[k, spread(v, 2), spread(f["ratio_to_forward_no_mask"][k], 3)
                                if k in f["ratio_to_forward_no_mask"] else "1"] for k, v in f["ms_per_pair"].items()]))
        else:
            continue  # speed and memory results have their own sections
        head = f"### `{name}` ({mode_label(rec)}, {rec.get('date', '?')})\n"
        meta = f"Command: `{rec.get('command', '?')}`. Machine: {machine_text(rec.get('machine', '?'))}. " \
               f"Data: {rec.get('data', '?')}."
        if rec.get("provenance"):
            meta += f" Provenance: {rec['provenance']}."
        parts += [head, meta + "\n", note(notes, name), *body, ""]
    return "\n".join(["## Details of each result\n", *parts]) if parts else ""


def render(records: Dict[str, dict], notes: Path) -> str:
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/report.py from benchmarks/results/*.json: do not edit by hand. -->",
        "This file is generated: `python benchmarks/report.py` rebuilds it from `benchmarks/results/*.json` and "
        "`benchmarks/notes/*.md`; `make bench` (full) or `make bench-quick` reruns the benchmarks first "
        "(`python benchmarks/run.py [--quick] [--only NAME ...] --corpus-dir ../shared/corpus`).",
        "",
        note(notes, "index"),
        "## Where, when and how each result was measured",
        "",
        provenance_table(records),
        "",
        speed_section(records, notes),
        memory_section(records, notes),
    ]
    ratios = ratio_rows(records)
    if ratios:
        out += ["## Side-by-side ratios (measured alternately in one process)", "", note(notes, "ratios"),
                table(["comparison", "setting", "ours (median, min-max)", "target", "source"], ratios), ""]
    out += ["## Accuracy: ours (dev) vs published", "", note(notes, "accuracy"),
            table(["component", "dataset", "metric", "ours", "run", "encoder; hardware", "published", "result"],
                  accuracy_rows(records)), "", details(records, notes)]
    return "\n".join(out).rstrip() + "\n"


def first_clause(text: str) -> str:
    """`text` up to its first comma outside parentheses."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            return text[:i]
    return text


def readme_summary(records: Dict[str, dict]) -> str:
    rows = [[f"{r[0]} ({first_clause(r[1])})", r[2]] for r in ratio_rows(records)]
    acc = [[r[0], r[1], f"{r[3]} ({r[4].split(';')[0]}; {r[7]})"] for r in accuracy_rows(records)
           if not r[3].startswith("not measured") and r[7] != "`accuracy_rationale_k_sweep`"]  # sweep: BENCHMARKS.md
    return "\n".join([
        "Generated from `benchmarks/results/` by `benchmarks/report.py`; details and machines in BENCHMARKS.md.", "",
        table(["comparison", "ours"], rows) if rows else "", "",
        table(["component", "dataset", "dev (ours)"], acc) if acc else "", ""])


def update_readme(readme: Path, records: Dict[str, dict]) -> bool:
    if not readme.exists():
        return False
    text = readme.read_text()
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{readme_summary(records)}{END}{tail}")
    return True


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--notes", type=Path, default=HERE / "notes")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    records = load(args.results)
    args.output.write_text(render(records, args.notes))
    updated = update_readme(args.readme, records)
    print(f"wrote {args.output} from {len(records)} results" + (f"; updated {args.readme}" if updated else ""))


if __name__ == "__main__":
    main()
