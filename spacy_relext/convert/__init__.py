"""Convert raw relation-extraction corpora into `.spacy` DocBins with gold `doc._.relations`.

`convert(fmt, input_path, output_path)` writes the DocBin and returns a
`ConversionSummary`; `split_docbin` splits a converted corpus into train and dev by
document. Every converter writes all mentions to `doc.spans["entities"]`, the
non-overlapping ones to `doc.ents`, and sets sentence boundaries.
"""
import random
import sys
from pathlib import Path
from typing import Callable, Dict, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import DocBin
from tqdm import tqdm

from ..errors import Errors
from .common import ENTITIES_KEY, ConversionSummary, DocStream
from .documents import docred, dwie
from .marked import chemprot, semeval
from .spans import conll04, fewrel, scierc, wiki80
from .triples import triples

Converter = Callable[[Path, Language, ConversionSummary], DocStream]

# fmt: off
CONVERTERS: Dict[str, Converter] = {
    "semeval": semeval,
    "conll04": conll04,
    "scierc": scierc,
    "chemprot": chemprot,
    "wiki80": wiki80,
    "fewrel": fewrel,
    "webnlg": triples,
    "nyt": triples,
    "dwie": dwie,
    "docred": docred,
}
# fmt: on

__all__ = ["CONVERTERS", "ENTITIES_KEY", "ConversionSummary", "convert", "get_converter", "split_docbin"]


def get_converter(fmt: str) -> Converter:
    """The converter registered for a format name.

    fmt (str): A key of `CONVERTERS`.
    RETURNS (Converter): Function (input path, nlp, summary) -> DocStream.
    """
    if fmt not in CONVERTERS:
        raise ValueError(Errors.E100.format(name=fmt, available=", ".join(sorted(CONVERTERS))))
    return CONVERTERS[fmt]


def convert(fmt: str, input_path: Union[str, Path], output_path: Union[str, Path], *, show_progress: bool = True) -> ConversionSummary:
    """Convert a raw corpus file (a directory for `dwie`) into a `.spacy` DocBin.

    fmt (str): Corpus format, a key of `CONVERTERS`.
    input_path (Path): The raw file or directory.
    output_path (Path): The `.spacy` file to write (parent directories are created).
    show_progress (bool): Show a progress bar on stderr.
    RETURNS (ConversionSummary): Counts of what was written and what was skipped, and why.
    """
    converter = get_converter(fmt)
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise FileNotFoundError(Errors.E102.format(path=input_path, fmt=fmt))
    summary = ConversionSummary(fmt=fmt)
    docbin = DocBin(store_user_data=True)
    docs = converter(input_path, spacy.blank("en"), summary)
    for doc in tqdm(docs, desc=f"convert {fmt}", unit="doc", file=sys.stderr, disable=not show_progress):
        summary.count_doc(doc)
        docbin.add(doc)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    docbin.to_disk(output_path)
    return summary


def split_docbin(
    input: Union[str, Path],
    train_out: Union[str, Path],
    dev_out: Union[str, Path],
    *,
    dev_fraction: float = 0.1,
    seed: int = 0,
) -> Tuple[int, int]:
    """Split a `.spacy` file into train and dev by document, reproducibly.

    input (Path): A DocBin written by `convert`.
    train_out (Path): Where to write the training documents.
    dev_out (Path): Where to write the dev documents (round(n * dev_fraction), at least 1 when n > 1).
    dev_fraction (float): Share of documents for dev, in (0, 1).
    seed (int): Seed of the shuffle.
    RETURNS (Tuple[int, int]): Number of train and dev documents.
    """
    input = Path(input)
    if not 0 < dev_fraction < 1:
        raise ValueError(Errors.E104.format(value=dev_fraction))
    if not input.exists():
        raise FileNotFoundError(Errors.E105.format(path=input))
    docs = list(DocBin().from_disk(input).get_docs(spacy.blank("en").vocab))
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_dev = min(max(round(len(docs) * dev_fraction), 1), len(docs) - 1) if len(docs) > 1 else 0
    dev_ids = set(order[:n_dev])
    for path, keep in ((Path(train_out), False), (Path(dev_out), True)):
        path.parent.mkdir(parents=True, exist_ok=True)
        DocBin(docs=[doc for i, doc in enumerate(docs) if (i in dev_ids) == keep], store_user_data=True).to_disk(path)
    return len(docs) - n_dev, n_dev
