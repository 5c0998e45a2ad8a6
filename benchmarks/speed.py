"""Inference speed, scaling and memory of each component on its reference dev set.

Speed does not depend on how well a model is trained, so each pipeline is built from
its shipped config, initialised on a sample of its training set and given a few update
steps (`build`); the doc says so next to every figure. Timing: `timing.py` (warm-up,
at least 3 repeats, median with min-max; ratios measured alternately).

    python benchmarks/speed.py COMPONENT --corpus-dir ../shared/corpus [--work DIR] [--quick]

COMPONENT: rere (relation_detector + span_extractor), rationale (rationale_masker),
clm (clm_classifier), logic (logic_reasoner on a clm_classifier backbone), or
memory200-clm / memory200-rationale / memory200-logic (one 200-entity document).
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config, minibatch, resolve_dot_names

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
from timing import alternate, current_rss_mb, measure, peak_rss_mb, rate  # noqa: E402

CONFIGS = Path(__file__).parents[1] / "configs"
BATCH_SIZES = (1, 16, 64)
# component -> dataset, {config name: config file}, input kind ("text" or gold-entity "docs")
COMPONENTS = {
    "rere": ("conll04", {"cpu": "rere_cpu.cfg", "trf": "rere_trf.cfg"}, "text"),
    "clm": ("conll04", {"cpu": "clm_cpu.cfg", "trf": "clm_trf.cfg"}, "docs"),
    "rationale": ("semeval", {"cpu": "rationale_cpu.cfg", "trf": "rationale_trf.cfg"}, "docs"),
}
# Dev documents timed (0 = all), (quick, full): MiniLM on CPU and rationale_masker at
# batch size 1 (about 1-7 docs/s on 2 shared cores) would take hours on whole dev sets.
DEV_LIMIT = {"cpu": {"rere": (0, 0), "clm": (120, 0), "rationale": (200, 0)}, "trf": (32, 231)}
LENGTH_BUCKETS = ((1, 20), (21, 35), (36, 50), (51, 10_000))
ENTITY_BUCKETS = ((2, 2), (3, 3), (4, 5), (6, 1000))
DOC_ENTITY_BUCKETS = ((1, 20), (21, 40), (41, 60), (61, 10_000))


def build(config: Path, train: Path, dev: Path, n_train: int, steps: int,
          overrides: Optional[dict] = None) -> Language:
    """A pipeline from `config`, initialised on the first `n_train` training docs and
    updated `steps` times on batches of 8 of them (a model to time, not to score)."""
    cfg = load_config(config, overrides={"paths.train": str(train), "paths.dev": str(dev),
                                         "corpora.train.limit": n_train, **(overrides or {})})
    nlp = init_nlp(cfg)
    corpus = resolve_dot_names(nlp.config.interpolate(), ["corpora.train"])[0]
    update_steps(nlp, list(corpus(nlp)), steps)
    return nlp


def ner_source(config: Path, paths: dict, work: Path, n_train: int) -> dict:
    """For a config that sources its ner (`paths.ner_model`, configs/clm_trf.cfg): an
    untrained configs/ner_cpu.cfg pipeline to source it from (the timings disable the ner)."""
    if "ner_model" not in load_config(config)["paths"]:
        return {}
    output = work / "speed_ner_source"
    build(CONFIGS / "ner_cpu.cfg", paths["train"], paths["dev"], n_train, 0).to_disk(output)
    return {"paths.ner_model": str(output)}


def update_steps(nlp: Language, examples: List[Example], steps: int) -> None:
    """`steps` updates on batches of 8 of `examples`, cycling through them."""
    optimizer = nlp.create_optimizer()
    batches = list(minibatch(examples, 8))
    for step in range(steps):
        nlp.update(batches[step % len(batches)], sgd=optimizer)


def piper(nlp: Language, inputs: List, kind: str, batch_size: int, n_process: int = 1) -> Callable[[], list]:
    if kind == "text":
        return lambda: list(nlp.pipe(inputs, batch_size=batch_size, n_process=n_process))
    # Fresh copies each call: a component must not see the previous pass's relations.
    return lambda: list(nlp.pipe((d.copy() for d in inputs), batch_size=batch_size, n_process=n_process))


def throughput(nlp: Language, inputs: List, kind: str, words: int, sents: int, batch_size: int,
               repeats: int) -> dict:
    seconds = measure(piper(nlp, inputs, kind, batch_size), repeats)
    return {"batch_size": batch_size, "seconds": seconds, "words_per_s": rate(words, seconds),
            "sents_per_s": rate(sents, seconds)}


def counts(docs: List[Doc]) -> tuple:
    return sum(len(d) for d in docs), sum(len(list(d.sents)) for d in docs)


def bucketed(docs: List[Doc], key: Callable[[Doc], int], buckets) -> Dict[str, List[Doc]]:
    out = {}
    for lo, hi in buckets:
        members = [d for d in docs if lo <= key(d) <= hi]
        if members:
            out[f"{lo}-{hi}" if hi < 1000 else f">={lo}"] = members
    return out


def component_speed(name: str, corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    dataset, configs, kind = COMPONENTS[name]
    paths = data.dataset(dataset, corpus_dir, work, smoke)
    repeats = 3 if quick else 5
    result = {"component": name, "data": paths["split"], "dev": str(paths["dev"]), "input": kind, "configs": {}}
    for config_name, config_file in configs.items():
        trf = config_name == "trf"
        n_train, steps = (64, 4) if quick else (256, 20)
        nlp = build(CONFIGS / config_file, paths["train"], paths["dev"], n_train, steps,
                    ner_source(CONFIGS / config_file, paths, work, n_train))
        disabled = [p for p in ("ner",) if p in nlp.pipe_names]  # entities come from the gold docs
        limit = (DEV_LIMIT["trf"] if trf else DEV_LIMIT["cpu"][name])[0 if quick else 1]
        docs = [data.entity_only(d, nlp.vocab) for d in data.read(paths["dev"], nlp.vocab, limit)]
        inputs = [d.text for d in docs] if kind == "text" else docs
        words, sents = counts(docs)
        entry = {"config": f"configs/{config_file}", "init_train_docs": n_train, "update_steps": steps,
                 "torch_threads": torch.get_num_threads(),
                 "dev_docs": len(docs), "words": words, "sentences": sents, "disabled": disabled, "batches": []}
        with nlp.select_pipes(disable=disabled):
            for batch_size in BATCH_SIZES:
                entry["batches"].append(throughput(nlp, inputs, kind, words, sents, batch_size, repeats))
                print(config_name, batch_size, entry["batches"][-1]["sents_per_s"], file=sys.stderr, flush=True)
            if not trf:
                # Speed-up of two worker processes over one; ratio = time(1) / time(2).
                entry["n_process"] = alternate(piper(nlp, inputs, kind, 64, 2), piper(nlp, inputs, kind, 64, 1),
                                               repeats)
                entry["length_buckets"] = scaling(nlp, docs, kind, len, LENGTH_BUCKETS, repeats)
                if name == "clm":
                    entry["entity_buckets"] = scaling(nlp, docs, kind, lambda d: len(d.ents), ENTITY_BUCKETS, repeats)
        result["configs"][config_name] = entry
    if "trf" not in configs:
        result["configs"]["trf"] = {"missing": "no transformer config for this component in configs/"}
    return result


def scaling(nlp: Language, docs: List[Doc], kind: str, key, buckets, repeats: int) -> List[dict]:
    rows = []
    for label, members in bucketed(docs, key, buckets).items():
        inputs = [d.text for d in members] if kind == "text" else members
        words, sents = counts(members)
        seconds = measure(piper(nlp, inputs, kind, 64), repeats)
        rows.append({"bucket": label, "docs": len(members), "words": words, "sentences": sents,
                     "ms_per_sentence": 1000 * seconds["median"] / sents, "words_per_s": rate(words, seconds)})
    return rows


# --- logic_reasoner on its backbone -------------------------------------------------

def logic_pipeline(paths: dict, quick: bool) -> Language:
    """clm_classifier (CPU default config, gold entities) as backbone, then logic_reasoner."""
    n_train, steps = (16, 2) if quick else (64, 10)
    nlp = build(CONFIGS / "clm_cpu.cfg", paths["train"], paths["dev"], n_train, 0)
    nlp.remove_pipe("ner")
    # Update on Docs that keep the converter's sentence boundaries: spacy.Corpus gives raw
    # DWIE documents without them, and sentence-scoped candidates would then pair every
    # two mentions of a document (W005).
    train = [data.entity_only(d, nlp.vocab, "entities") for d in data.read(paths["train"], nlp.vocab, n_train)]
    gold = data.read(paths["train"], nlp.vocab, n_train)
    examples = [Example(p, g) for p, g in zip(train, gold)]
    update_steps(nlp, examples, steps)
    reasoner = nlp.add_pipe("logic_reasoner", config={
        "backbone": "clm_classifier", "spans_key": "entities", "em_iterations": 0, "extractor_epochs": 0,
        "generator_pretrain_steps": 20 if quick else 200})
    reasoner.initialize(lambda: examples, nlp=nlp)
    return nlp


def logic_speed(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    paths = data.dataset("dwie", corpus_dir, work, smoke)
    nlp = logic_pipeline(paths, quick)
    repeats = 3
    docs = [data.entity_only(d, nlp.vocab, "entities") for d in data.read(paths["dev"], nlp.vocab, 8 if quick else 32)]
    words, sents = counts(docs)
    result = {"component": "logic", "data": paths["split"], "dev_docs": len(docs), "words": words, "sentences": sents,
              "config": "configs/clm_cpu.cfg backbone (ner removed, gold entities) + logic_reasoner defaults "
                        "(em_iterations 0, extractor_epochs 0, generator_pretrain_steps %d)" % (20 if quick else 200),
              "batches": []}
    for batch_size in BATCH_SIZES:
        seconds = measure(piper(nlp, docs, "docs", batch_size), repeats)
        result["batches"].append({"batch_size": batch_size, "seconds": seconds, "docs_per_s": rate(len(docs), seconds),
                                  "words_per_s": rate(words, seconds)})
        print("logic", batch_size, result["batches"][-1]["docs_per_s"], file=sys.stderr, flush=True)
    full = piper(nlp, docs, "docs", 16)

    def backbone_only():
        with nlp.select_pipes(disable=["logic_reasoner"]):
            return full()

    # ratio = time(backbone + reasoner) / time(backbone alone)
    result["reasoner_vs_backbone"] = alternate(backbone_only, full, repeats)
    rows = []
    for label, members in bucketed(docs, lambda d: len(d.spans["entities"]), DOC_ENTITY_BUCKETS).items():
        seconds = measure(piper(nlp, members, "docs", 16), repeats)
        rows.append({"bucket": label, "docs": len(members), "words": sum(len(d) for d in members),
                     "s_per_doc": seconds["median"] / len(members), "docs_per_s": rate(len(members), seconds)})
    result["entity_buckets"] = rows
    return result


# --- one document with 200 entities ----------------------------------------------------

ENTITIES_PER_SENTENCE = 10


def synthetic_doc(nlp: Language, n_entities: int, per_sentence: int) -> Doc:
    """`n_entities` one-token PER/ORG mentions, `per_sentence` to a sentence ("A1 and
    B2 and ... ."), each its own entity (mention cluster of one)."""
    words, starts, ents = [], [], []
    for i in range(n_entities):
        first = i % per_sentence == 0
        if first and words:
            words.append(".")
            starts.append(False)
        if not first:
            words.append("and")
            starts.append(False)
        ents.append(len(words))
        words.append(f"Name{i}")
        starts.append(first)
    words.append(".")
    starts.append(False)
    doc = Doc(nlp.vocab, words=words, sent_starts=starts)
    labels = ["PER", "ORG", "LOC"]
    doc.ents = [Span(doc, i, i + 1, label=labels[k % 3]) for k, i in enumerate(ents)]
    doc.spans["entities"] = [Span(doc, i, i + 1, label=labels[k % 3], span_id=f"e{k}") for k, i in enumerate(ents)]
    return doc


def memory_200(name: str, corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """Peak RSS of processing one document with 200 entities, 10 to a sentence (20
    sentences; sentence-scoped pair components see 20 x 90 = 1,800 ordered pairs)."""
    if name == "logic":
        nlp = logic_pipeline(data.dataset("dwie", corpus_dir, work, smoke), True)
    else:
        dataset, configs, _ = COMPONENTS[name]
        paths = data.dataset(dataset, corpus_dir, work, smoke)
        nlp = build(CONFIGS / configs["cpu"], paths["train"], paths["dev"], 16, 1)
        if "ner" in nlp.pipe_names:
            nlp.remove_pipe("ner")
    doc = synthetic_doc(nlp, 200, ENTITIES_PER_SENTENCE)
    before_rss, before_peak = current_rss_mb(), peak_rss_mb()
    out = nlp(doc)
    after_peak = peak_rss_mb()
    return {"component": name, "entities": 200, "entities_per_sentence": ENTITIES_PER_SENTENCE,
            "tokens": len(doc), "relations_written": len(out._.relations),
            "rss_before_mb": before_rss, "peak_before_mb": before_peak, "peak_after_mb": after_peak,
            # When the document did not raise the process's peak, its own peak is at most that.
            "doc_raised_peak": after_peak > before_peak,
            "doc_increase_mb": after_peak - before_rss}


def run(name: str, corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
    """The figures of one benchmark (`smoke`: on the smoke sets of data.py, quick sizes)."""
    if name.startswith("memory200-"):
        return memory_200(name.split("-", 1)[1], corpus_dir, work, quick, smoke)
    if name == "logic":
        return logic_speed(corpus_dir, work, quick, smoke)
    return component_speed(name, corpus_dir, work, quick, smoke)


def _bench(name: str):
    def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
        figures = run(name, corpus_dir, work, quick, smoke)
        dataset = "dwie" if name.endswith("logic") else COMPONENTS[name.split("-")[-1]][0]
        split = data.split_text(dataset, smoke)
        return {"data": split if not name.startswith("memory200") else f"synthetic document; model initialised on {split}",
                "figures": figures}
    return bench


# The harness's entry points (benchmarks/run.py).
bench_rere, bench_clm, bench_rationale, bench_logic = (_bench(n) for n in ("rere", "clm", "rationale", "logic"))
bench_memory200_clm, bench_memory200_rationale, bench_memory200_logic = (
    _bench(f"memory200-{n}") for n in ("clm", "rationale", "logic"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("component", choices=[*COMPONENTS, "logic", "memory200-clm", "memory200-rationale",
                                              "memory200-logic"])
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/bench"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.component, args.corpus_dir, args.work, args.quick), indent=2))


if __name__ == "__main__":
    main()
