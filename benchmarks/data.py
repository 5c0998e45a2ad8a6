"""The reference train/dev sets of the benchmarks, built exactly as project.yml's convert
commands build them (cached under the harness's work directory).

- conll04: SpERT `train` / `valid` (the dev set of clm_classifier and RERE);
- scierc: the released `train` / `dev` (clm_classifier's packing speed);
- webnlg: the released `train_triples` / `val_triples` (RERE's second set);
- semeval: TRAIN_FILE.TXT split by `split --dev-fraction 0.1 --seed 0` (RE2's dev set);
- dwie: `annos_with_content` split by `split --dev-fraction 0.14 --seed 0` (logic_reasoner);
- redocred: Re-DocRED `dev_revised.json` (its only split in the corpus) split by
  `split --dev-fraction 0.2 --seed 0` (logic_reasoner's second set).
- nyt: NYT `val_triples.json` (its only split in the corpus: the training split is missing)
  split by `split --dev-fraction 0.2 --seed 0 --group-same-text` (RERE's third set).

In smoke mode (`benchmarks/run.py --mode smoke`, a test that every benchmark runs, not a
measurement) each set is built the same way from the first `SMOKE_DOCS` documents of
each raw file, in a folder of its own.
"""
from itertools import islice
from pathlib import Path
from typing import Dict, List

from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab

from spacy_relext.convert import ConversionSummary, convert, iter_docs, split_docbin

SPLITS = {
    "conll04": "conll04 train: conll04/train.CoNLL04.json; dev: conll04/valid.CoNLL04.json (SpERT split)",
    "scierc": "scierc train: scierc/train.json; dev: scierc/dev.json (the released split)",
    "webnlg": "webnlg train: webnlg/train_triples.json; dev: webnlg/val_triples.json (the released split)",
    "semeval": "semeval train/dev: TRAIN_FILE.TXT split by document, dev fraction 0.1, seed 0 (7200 / 800)",
    "dwie": "dwie train/dev: annos_with_content split by document, dev fraction 0.14, seed 0 (604 / 98)",
    "redocred": "redocred train/dev: Re-DocRED dev_revised.json (the only split in the corpus) split by document, "
                "dev fraction 0.2, seed 0 (400 / 100)",
    "nyt": "nyt train/dev: NYT val_triples.json (the only split in the corpus) split by sentence, dev fraction "
           "0.2, seed 0, repeated sentences kept on one side (4000 / 1000)",
}
CONVERTERS = {"redocred": "docred"}  # dataset -> converter, where the names differ
SMOKE_DOCS = 12  # documents read from each raw file in smoke mode
GROUP_SAME_TEXT = {"nyt"}  # corpora that repeat sentences: a repeated one stays on one side of the split


# Datasets with a released dev split: (train file, dev file) under corpus_dir/<name>.
RELEASED = {"conll04": ("train.CoNLL04.json", "valid.CoNLL04.json"), "scierc": ("train.json", "dev.json"),
            "webnlg": ("train_triples.json", "val_triples.json")}


def mode_name(quick: bool, smoke: bool = False) -> str:
    """The harness's mode, as result files and work folders name it."""
    return "smoke" if smoke else "quick" if quick else "full"


def convert_first(fmt: str, source: Path, output: Path, limit: int = 0) -> None:
    """`convert`, keeping only the first `limit` documents (0: all)."""
    if not limit:
        convert(fmt, source, output, overwrite=True, show_progress=False)
        return
    docs = islice(iter_docs(fmt, source, ConversionSummary(fmt=fmt)), limit)
    DocBin(docs=docs, store_user_data=True).to_disk(output)


def dataset(name: str, corpus_dir: Path, work: Path, smoke: bool = False) -> Dict[str, Path]:
    """Paths of the `train` and `dev` DocBins of a reference dataset, converting once
    (`smoke`: from the first `SMOKE_DOCS` documents of each raw file)."""
    out = work / ("data_smoke" if smoke else "data")
    out.mkdir(parents=True, exist_ok=True)
    train, dev = out / f"{name}_train.spacy", out / f"{name}_dev.spacy"
    limit = SMOKE_DOCS if smoke else 0
    if not (train.exists() and dev.exists()):
        if name in RELEASED:
            for path, source in zip((train, dev), RELEASED[name]):
                convert_first(name, corpus_dir / name / source, path, limit)
        else:
            source, fraction = {
                "semeval": (corpus_dir / "semeval2010_task8" / "SemEval2010_task8_training" / "TRAIN_FILE.TXT", 0.1),
                "dwie": (corpus_dir / "dwie" / "annos_with_content", 0.14),
                "redocred": (corpus_dir / "redocred" / "dev_revised.json", 0.2),
                "nyt": (corpus_dir / "nyt" / "val_triples.json", 0.2),
            }[name]
            full = out / f"{name}_all.spacy"
            convert_first(CONVERTERS.get(name, name), source, full, limit)
            split_docbin(full, train, dev, dev_fraction=fraction, seed=0, overwrite=True,
                         group_same_text=name in GROUP_SAME_TEXT)
    return {"train": train, "dev": dev, "split": split_text(name, smoke)}


def split_text(name: str, smoke: bool = False) -> str:
    """How the reference dataset `name` is split (`SPLITS`), and in smoke mode from what."""
    return SPLITS[name] + (f"; smoke mode: from the first {SMOKE_DOCS} documents of each file" if smoke else "")


def read(path: Path, vocab: Vocab, limit: int = 0) -> List[Doc]:
    docs = list(DocBin().from_disk(path).get_docs(vocab))
    return docs[:limit] if limit else docs


def entity_only(doc: Doc, vocab: Vocab, spans_key: str = "") -> Doc:
    """A copy with words, sentence boundaries and gold entities but no relations: the
    input a relation component sees after an entity recognizer."""
    new = Doc(vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc],
              sent_starts=[bool(t.is_sent_start) for t in doc])
    new.ents = [Span(new, e.start, e.end, label=e.label_) for e in doc.ents]
    if spans_key and spans_key in doc.spans:
        new.spans[spans_key] = [Span(new, s.start, s.end, label=s.label_, span_id=s.id_) for s in doc.spans[spans_key]]
    return new
