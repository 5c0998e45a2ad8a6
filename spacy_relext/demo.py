"""`python -m spacy_relext demo` (what `make demo` runs).

Trains the CPU default pipeline (`tok2vec` + `ner` + `clm_classifier`, configs/clm_cpu.cfg)
on the bundled 150-sentence CoNLL04 sample for a few minutes, then extracts relations
end to end (entities from the trained `ner`) from sentences it never saw in training.
A pipeline trained on 150 sentences for a few hundred steps is a smoke demo, not a
model: BENCHMARKS.md has the figures of real runs.
"""
import tempfile
from pathlib import Path

import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin

from .convert import convert

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "corpus" / "samples" / "conll04"
CONFIG = ROOT / "configs" / "clm_cpu.cfg"


def run_demo(max_steps: int = 300, n_sentences: int = 8) -> None:
    for path in (SAMPLE_DIR / "train.json", SAMPLE_DIR / "dev.json", CONFIG):
        if not path.exists():
            raise FileNotFoundError(f"The demo needs the repository's file {path} (run it from a source checkout).")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for split in ("train", "dev"):
            summary = convert("conll04", SAMPLE_DIR / f"{split}.json", tmp_path / f"{split}.spacy", show_progress=False)
            print(f"[{split}] {summary.format()}\n")
        overrides = {
            "paths.train": str(tmp_path / "train.spacy"),
            "paths.dev": str(tmp_path / "dev.spacy"),
            "training.max_steps": max_steps,
            "training.eval_frequency": 100,
        }
        train(CONFIG, tmp_path / "model", overrides=overrides)
        nlp = spacy.load(tmp_path / "model" / "model-best")
        gold_docs = list(DocBin().from_disk(tmp_path / "dev.spacy").get_docs(nlp.vocab))[:n_sentences]
    print(f"\nRelations extracted end to end from {len(gold_docs)} unseen sentences (dev sample):")
    for gold, doc in zip(gold_docs, nlp.pipe(d.text for d in gold_docs)):
        print(f"\n  {doc.text}")
        print("    entities: " + (", ".join(f"{e.text} [{e.label_}]" for e in doc.ents) or "-"))
        for rel in doc._.relations:
            print(f"    predicted: {rel.head.text} --{rel.label}--> {rel.tail.text}  (score {rel.score:.2f})")
        for rel in gold._.relations:
            print(f"    gold:      {rel.head.text} --{rel.label}--> {rel.tail.text}")
