"""`python -m spacy_relext demo` (what `make demo` runs).

Until the first relation component lands, the demo converts the bundled CoNLL04
sample and prints its statistics and a few gold relations, showing the data model.
"""
import tempfile
from pathlib import Path

import spacy
from spacy.tokens import DocBin

from .convert import convert

SAMPLE = Path(__file__).resolve().parents[1] / "corpus" / "samples" / "conll04" / "train.json"


def run_demo(sample: Path = SAMPLE, n_docs: int = 3) -> None:
    if not sample.exists():
        raise FileNotFoundError(f"The demo needs the repository's sample corpus at {sample}.")
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "conll04_sample.spacy"
        summary = convert("conll04", sample, output, show_progress=False)
        print(summary.format())
        docs = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    print(f"\nGold relations (doc._.relations) of the first {n_docs} sentences:")
    for doc in docs[:n_docs]:
        print(f"\n  {doc.text}")
        for rel in doc._.relations:
            print(f"    {rel.head.text} [{rel.head.label_}] --{rel.label}--> {rel.tail.text} [{rel.tail.label_}]")
