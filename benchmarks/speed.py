"""Inference speed, scaling and memory of each component on its reference dev set.

Speed does not depend on how well a model is trained, so each pipeline is built from
its shipped config, initialised on a sample of its training set and given a few update
steps (`build`); the doc says so next to every figure. Timing: `timing.py` (warm-up,
at least 3 repeats, median with min-max; ratios measured alternately).

Torch threads are pinned (`--threads`, default 1) and recorded in every result. Every
speed row is timed alternately with a baseline in the same process (issue 24): the
pipeline with its relation components disabled (tok2vec, ner or transformer only), or,
for a relation component that owns its encoder (clm_classifier's transformer mode), a
plain forward of that encoder over the same sentences. `relation_cost` is the relation
component's time as a ratio of the baseline, per round: (full - baseline) / baseline
when the baseline is part of the pipeline, full / baseline for the plain encoder. For
gold-entity inputs, a tok2vec + pair-MLP reference component (pair_mlp.py, trained
briefly on the same data) is timed alternately with the component as the peer floor.

    python benchmarks/speed.py COMPONENT --corpus-dir ../shared/corpus [--work DIR] [--quick]
        [--threads 1] [--configs cpu,trf] [--smoke] [--n-process-only]

The n_process row (issue 24 item 5) times `nlp.pipe(n_process=2)` alternately with one
process on at least `N_PROCESS_SENTENCES` sentences (the training documents, cycled when
there are fewer), and records the CPU seconds of the parent and of its worker processes;
`--n-process-only` builds the CPU pipeline and times that row alone.

COMPONENT: rere (relation_detector + span_extractor), rationale (rationale_masker),
clm (clm_classifier), clm-gold (clm_classifier, gold-entity configs), logic
(logic_reasoner on a clm_classifier backbone), or memory200-clm / memory200-rationale /
memory200-logic (one 200-entity document).
"""
import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config, minibatch, resolve_dot_names
from thinc.api import Config

sys.path.insert(0, str(Path(__file__).parent))
import data  # noqa: E402
import pair_mlp  # noqa: E402 (registers the reference component's factory)
from timing import alternate, current_rss_mb, measure, peak_rss_mb, rate, summary  # noqa: E402

CONFIGS = Path(__file__).parents[1] / "configs"
BATCH_SIZES = (1, 16, 64)
# component -> dataset, {config name: config file}, input kind ("text" or gold-entity "docs")
COMPONENTS = {
    "rere": ("conll04", {"cpu": "rere_cpu.cfg", "trf": "rere_trf.cfg"}, "text"),
    "clm": ("conll04", {"cpu": "clm_cpu.cfg", "trf": "clm_trf.cfg"}, "docs"),
    "clm-gold": ("conll04", {"cpu": "clm_cpu_gold.cfg", "trf": "clm_trf_gold.cfg"}, "docs"),
    "rationale": ("semeval", {"cpu": "rationale_cpu.cfg", "trf": "rationale_trf.cfg"}, "docs"),
}
# Dev documents timed (0 = all), (quick, full): MiniLM on CPU and rationale_masker at
# batch size 1 (about 1-7 docs/s on 2 shared cores) would take hours on whole dev sets.
DEV_LIMIT = {"cpu": {"rere": (0, 0), "clm": (120, 0), "clm-gold": (120, 0), "rationale": (200, 0)}, "trf": (32, 231)}
SPANS_KEY = {"clm-gold": "entities"}  # the gold configs pair the "entities" span group
RELATION_FACTORIES = {"relation_detector", "span_extractor", "rationale_masker", "clm_classifier", "logic_reasoner",
                      pair_mlp.FACTORY}
DEFAULT_THREADS = 1
N_PROCESS_SENTENCES = 2000  # issue 24: multi-process scaling is measured on at least 2,000 sentences
N_PROCESS_SMOKE_SENTENCES = 64


def pin_threads(threads: int) -> dict:
    """Pin torch's intra-op threads; RETURNS what every result records about threads."""
    import torch

    torch.set_num_threads(threads)
    return {"torch_threads": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
LENGTH_BUCKETS = ((1, 20), (21, 35), (36, 50), (51, 10_000))
ENTITY_BUCKETS = ((2, 2), (3, 3), (4, 5), (6, 1000))
DOC_ENTITY_BUCKETS = ((1, 20), (21, 40), (41, 60), (61, 10_000))


def build(config: Path, train: Path, dev: Path, n_train: int, steps: int,
          overrides: Optional[dict] = None) -> Language:
    """A pipeline from `config`, initialised on the first `n_train` training docs and
    updated `steps` times on batches of 8 of them (a model to time, not to score)."""
    return build_config(load_config(config), train, dev, n_train, steps, overrides)


def build_config(cfg: Config, train: Path, dev: Path, n_train: int, steps: int,
                 overrides: Optional[dict] = None) -> Language:
    """`build` from a loaded config."""
    overrides = {"paths.train": str(train), "paths.dev": str(dev), "corpora.train.limit": n_train, **(overrides or {})}
    nlp = init_nlp(Config().from_str(cfg.to_str(), overrides=overrides))
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


def relation_pipes(nlp: Language) -> List[str]:
    """The components that write relations (the part a speed row's baseline leaves out)."""
    return [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory in RELATION_FACTORIES]


def own_encoder(nlp: Language):
    """The Hugging Face module of a relation component that owns its encoder, or None."""
    for name in relation_pipes(nlp):
        model = nlp.get_pipe(name).model
        if model.has_ref("encoder"):
            return model.get_ref("encoder").shims[0]._model
    return None


def baseline(nlp: Language, inputs: List, kind: str, batch_size: int, disabled: Sequence[str]) -> tuple:
    """The baseline run of a speed row, its description, and whether it is part of the
    timed pipeline (then the component's cost is the difference)."""
    module = own_encoder(nlp)
    if module is not None:
        return encoder_forward(module, inputs, kind, batch_size), (
            "plain forward of the component's own encoder (eager attention, no markers), one sequence per "
            "sentence, batches of the same size"), False
    skipped = list(disabled) + relation_pipes(nlp)
    kept = [name for name in nlp.pipe_names if name not in skipped]
    return piper(nlp, inputs, kind, batch_size, disable=skipped), f"the pipeline without its relation components: {kept}", True


def encoder_forward(module, inputs: List, kind: str, batch_size: int) -> Callable[[], None]:
    """A forward pass of `module.encoder` over the sentences of `inputs`, no gradient."""
    import torch

    texts = inputs if kind == "text" else [sent.text for doc in inputs for sent in doc.sents]
    max_length = module.encoder.config.max_position_embeddings

    def run() -> None:
        module.eval()
        with torch.no_grad():
            for batch in minibatch(texts, batch_size):
                encoded = module.tokenizer(list(batch), padding=True, truncation=True, max_length=max_length,
                                           return_tensors="pt")
                module.encoder(**encoded)

    return run


def piper(nlp: Language, inputs: List, kind: str, batch_size: int, n_process: int = 1,
          disable: Sequence[str] = ()) -> Callable[[], list]:
    def run() -> list:
        with nlp.select_pipes(disable=list(disable)):
            if kind == "text":
                return list(nlp.pipe(inputs, batch_size=batch_size, n_process=n_process))
            # Fresh copies each call: a component must not see the previous pass's relations.
            return list(nlp.pipe((d.copy() for d in inputs), batch_size=batch_size, n_process=n_process))

    return run


def throughput(nlp: Language, inputs: List, kind: str, words: int, sents: int, batch_size: int,
               repeats: int, disabled: Sequence[str] = ()) -> dict:
    """A speed row: the pipeline timed alternately with its baseline (see the module doc)."""
    base, described, inside = baseline(nlp, inputs, kind, batch_size, disabled)
    timed = alternate(base, piper(nlp, inputs, kind, batch_size, disable=disabled), repeats)
    seconds = timed["b"]
    return {"batch_size": batch_size, "seconds": seconds, "words_per_s": rate(words, seconds),
            "sents_per_s": rate(sents, seconds), "baseline": described, "baseline_seconds": timed["a"],
            "relation_cost": relation_cost(timed, inside),
            "relation_cost_is": "(full - baseline) / baseline" if inside else "full / baseline"}


def relation_cost(timed: dict, inside: bool) -> dict:
    """The relation component's time over the baseline's, per round of `alternate(baseline,
    full)`: the difference when the baseline is part of the pipeline (`inside`)."""
    rounds = zip(timed["rounds"]["a"], timed["rounds"]["b"])
    return summary([(full - base) / base if inside else full / base for base, full in rounds])


def peer_floor(nlp: Language, reference: Language, inputs: List, words: int, batch_size: int, repeats: int,
               disabled: Sequence[str]) -> dict:
    """The component's pipeline timed alternately with the pair-MLP reference pipeline."""
    timed = alternate(piper(reference, inputs, "docs", batch_size), piper(nlp, inputs, "docs", batch_size,
                                                                          disable=disabled), repeats)
    return {"batch_size": batch_size, "reference_words_per_s": rate(words, timed["a"]),
            "words_per_s": rate(words, timed["b"]),
            "words_per_s_vs_reference": summary([a / b for a, b in zip(timed["rounds"]["a"], timed["rounds"]["b"])])}


def reference_pipeline(config: Path, paths: dict, n_train: int, steps: int, spans_key: str) -> Language:
    """`config`'s tok2vec with the pair-MLP reference in place of its relation
    components (same candidates and mentions), trained as briefly as the component."""
    cfg = load_config(config)
    names = [n for n in cfg["nlp"]["pipeline"] if cfg["components"][n].get("factory") in RELATION_FACTORIES]
    candidates = cfg["components"][names[0]].get("candidates", pair_mlp.DEFAULT_CANDIDATES)
    for name in names:
        del cfg["components"][name]
    cfg["nlp"]["pipeline"] = [n for n in cfg["nlp"]["pipeline"] if n not in names] + [pair_mlp.FACTORY]
    width = cfg["components"]["tok2vec"]["model"]["encode"]["width"]
    cfg["components"][pair_mlp.FACTORY] = {
        "factory": pair_mlp.FACTORY, "spans_key": spans_key or None, "candidates": candidates,
        "model": {"@architectures": "spacy-relext-bench.PairMLP.v1", "hidden_width": 64,
                  "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": width, "upstream": "tok2vec"}}}
    cfg["training"]["frozen_components"] = [n for n in cfg["training"].get("frozen_components", []) if n not in names]
    cfg["training"]["annotating_components"] = [n for n in cfg["training"].get("annotating_components", [])
                                                if n not in names]
    cfg["training"]["score_weights"] = {"rel_f": 1.0}
    return build_config(cfg, paths["train"], paths["dev"], n_train, steps)


def counts(docs: List[Doc]) -> tuple:
    return sum(len(d) for d in docs), sum(len(list(d.sents)) for d in docs)


def bucketed(docs: List[Doc], key: Callable[[Doc], int], buckets) -> Dict[str, List[Doc]]:
    out = {}
    for lo, hi in buckets:
        members = [d for d in docs if lo <= key(d) <= hi]
        if members:
            out[f"{lo}-{hi}" if hi < 1000 else f">={lo}"] = members
    return out


def component_speed(name: str, corpus_dir: Path, work: Path, quick: bool, smoke: bool = False,
                    threads: int = DEFAULT_THREADS, config_names: Optional[Sequence[str]] = None) -> dict:
    dataset, configs, kind = COMPONENTS[name]
    paths = data.dataset(dataset, corpus_dir, work, smoke)
    repeats = 3 if quick else 5
    spans_key = SPANS_KEY.get(name, "")
    result = {"component": name, "data": paths["split"], "dev": str(paths["dev"]), "input": kind,
              **pin_threads(threads), "configs": {}}
    for config_name, config_file in configs.items():
        if config_names and config_name not in config_names:
            continue
        trf = config_name == "trf"
        n_train, steps = (64, 4) if quick else (256, 20)
        nlp = build(CONFIGS / config_file, paths["train"], paths["dev"], n_train, steps,
                    ner_source(CONFIGS / config_file, paths, work, n_train))
        disabled = [p for p in ("ner",) if p in nlp.pipe_names]  # entities come from the gold docs
        limit = (DEV_LIMIT["trf"] if trf else DEV_LIMIT["cpu"][name])[0 if quick else 1]
        docs = [data.entity_only(d, nlp.vocab, spans_key) for d in data.read(paths["dev"], nlp.vocab, limit)]
        inputs = [d.text for d in docs] if kind == "text" else docs
        words, sents = counts(docs)
        entry = {"config": f"configs/{config_file}", "init_train_docs": n_train, "update_steps": steps,
                 "torch_threads": torch.get_num_threads(),
                 "dev_docs": len(docs), "words": words, "sentences": sents, "disabled": disabled, "batches": []}
        for batch_size in BATCH_SIZES:
            entry["batches"].append(throughput(nlp, inputs, kind, words, sents, batch_size, repeats, disabled))
            print(config_name, batch_size, entry["batches"][-1]["sents_per_s"], file=sys.stderr, flush=True)
        if kind == "docs" and not trf:
            reference = reference_pipeline(CONFIGS / config_file, paths, n_train, steps, spans_key)
            entry["peer_floor"] = {
                "reference": "benchmarks/pair_mlp.py (tok2vec of the same config + pair MLP, same candidates), "
                             f"initialised on {n_train} docs, {steps} updates",
                "batches": [peer_floor(nlp, reference, inputs, words, b, repeats, disabled) for b in BATCH_SIZES]}
        if not trf:
            entry["n_process"] = n_process_row(nlp, paths, kind, spans_key, disabled, repeats, smoke)
            entry["length_buckets"] = scaling(nlp, docs, kind, len, LENGTH_BUCKETS, repeats, disabled)
            if name.startswith("clm"):
                entry["entity_buckets"] = scaling(nlp, docs, kind, lambda d: len(d.ents), ENTITY_BUCKETS, repeats,
                                                  disabled)
        result["configs"][config_name] = entry
    if "trf" not in configs:
        result["configs"]["trf"] = {"missing": "no transformer config for this component in configs/"}
    return result


def n_process_inputs(paths: dict, vocab, kind: str, spans_key: str, sentences: int) -> tuple:
    """At least `sentences` sentences of the training set (cycled when it has fewer), as the
    row's input kind; RETURNS (inputs, number of sentences)."""
    docs = [data.entity_only(d, vocab, spans_key) for d in data.read(paths["train"], vocab)]
    chosen, count = [], 0
    while count < sentences:
        doc = docs[len(chosen) % len(docs)]
        chosen.append(doc)
        count += len(list(doc.sents))
    return ([d.text for d in chosen] if kind == "text" else chosen), count


def cpu_seconds() -> tuple:
    """CPU seconds (user + system) of this process and of its finished child processes."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def with_cpu(fn: Callable[[], object], log: List[tuple]) -> Callable[[], None]:
    """`fn`, logging the CPU seconds of this process and its workers for each call."""
    def run() -> None:
        before = cpu_seconds()
        fn()
        after = cpu_seconds()
        log.append((after[0] - before[0], after[1] - before[1]))
    return run


def n_process_row(nlp: Language, paths: dict, kind: str, spans_key: str, disabled: Sequence[str], repeats: int,
                  smoke: bool = False) -> dict:
    """`nlp.pipe(n_process=2)` timed alternately with one process, batch size 64, on at least
    `N_PROCESS_SENTENCES` sentences: the alternate() summary (a = 2 processes, b = 1 process,
    ratio = time(1) / time(2), the speed-up), the start method, the sentences timed, and
    the median CPU seconds of the parent and of its workers per call."""
    import multiprocessing

    wanted = N_PROCESS_SMOKE_SENTENCES if smoke else N_PROCESS_SENTENCES
    inputs, sentences = n_process_inputs(paths, nlp.vocab, kind, spans_key, wanted)
    two, one = [], []
    timed = alternate(with_cpu(piper(nlp, inputs, kind, 64, 2, disabled), two),
                      with_cpu(piper(nlp, inputs, kind, 64, 1, disabled), one), repeats)
    cpu = {name: {"parent_s": summary([c[0] for c in log[1:]])["median"],  # warm-up call left out
                  "workers_s": summary([c[1] for c in log[1:]])["median"]} for name, log in (("2", two), ("1", one))}
    return {**timed, "sentences": sentences, "docs": len(inputs), "batch_size": 64,
            "start_method": multiprocessing.get_start_method(), "cpu_seconds": cpu,
            "inputs": f"the training set's first documents, cycled to reach {wanted} sentences"}


def n_process_only(name: str, corpus_dir: Path, work: Path, quick: bool, smoke: bool = False,
                   threads: int = DEFAULT_THREADS) -> dict:
    """The n_process row alone, for the CPU config of `name`."""
    dataset, configs, kind = COMPONENTS[name]
    paths = data.dataset(dataset, corpus_dir, work, smoke)
    n_train, steps = (64, 4) if quick else (256, 20)
    nlp = build(CONFIGS / configs["cpu"], paths["train"], paths["dev"], n_train, steps)
    disabled = [p for p in ("ner",) if p in nlp.pipe_names]
    return {"component": name, "data": paths["split"], "config": f"configs/{configs['cpu']}", **pin_threads(threads),
            "n_process": n_process_row(nlp, paths, kind, SPANS_KEY.get(name, ""), disabled, 3 if quick else 5,
                                       smoke)}


def scaling(nlp: Language, docs: List[Doc], kind: str, key, buckets, repeats: int,
            disabled: Sequence[str] = ()) -> List[dict]:
    rows = []
    for label, members in bucketed(docs, key, buckets).items():
        inputs = [d.text for d in members] if kind == "text" else members
        words, sents = counts(members)
        row = throughput(nlp, inputs, kind, words, sents, 64, repeats, disabled)
        rows.append({"bucket": label, "docs": len(members), "words": words, "sentences": sents,
                     "ms_per_sentence": 1000 * row["seconds"]["median"] / sents, **row})
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


def run(name: str, corpus_dir: Path, work: Path, quick: bool, smoke: bool = False, threads: int = DEFAULT_THREADS,
        config_names: Optional[Sequence[str]] = None) -> dict:
    """The figures of one benchmark (`smoke`: on the smoke sets of data.py, quick sizes),
    with torch pinned to `threads` threads."""
    if name.startswith("memory200-"):
        return {**memory_200(name.split("-", 1)[1], corpus_dir, work, quick, smoke), **pin_threads(threads)}
    if name == "logic":
        return {**logic_speed(corpus_dir, work, quick, smoke), **pin_threads(threads)}
    return component_speed(name, corpus_dir, work, quick, smoke, threads, config_names)


def _bench(name: str):
    def bench(corpus_dir: Path, work: Path, quick: bool, smoke: bool = False) -> dict:
        figures = run(name, corpus_dir, work, quick, smoke)
        dataset = "dwie" if name.endswith("logic") else COMPONENTS[name.replace("memory200-", "")][0]
        split = data.split_text(dataset, smoke)
        return {"data": split if not name.startswith("memory200") else f"synthetic document; model initialised on {split}",
                "figures": figures}
    return bench


# The harness's entry points (benchmarks/run.py).
bench_rere, bench_clm, bench_clm_gold, bench_rationale, bench_logic = (
    _bench(n) for n in ("rere", "clm", "clm-gold", "rationale", "logic"))
bench_memory200_clm, bench_memory200_rationale, bench_memory200_logic = (
    _bench(f"memory200-{n}") for n in ("clm", "rationale", "logic"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("component", choices=[*COMPONENTS, "logic", "memory200-clm", "memory200-rationale",
                                              "memory200-logic"])
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/bench"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="the small smoke sets of data.py (checks the harness)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch threads, pinned and recorded")
    parser.add_argument("--configs", default="", help="comma-separated config names to time (default: all)")
    parser.add_argument("--n-process-only", action="store_true",
                        help="time only n_process=2 against 1 (CPU config, at least 2,000 sentences)")
    args = parser.parse_args()
    configs = [c for c in args.configs.split(",") if c] or None
    if args.n_process_only:
        print(json.dumps(n_process_only(args.component, args.corpus_dir, args.work, args.quick or args.smoke,
                                        args.smoke, args.threads), indent=2))
        return
    print(json.dumps(run(args.component, args.corpus_dir, args.work, args.quick or args.smoke, args.smoke,
                         args.threads, configs), indent=2))


if __name__ == "__main__":
    main()
