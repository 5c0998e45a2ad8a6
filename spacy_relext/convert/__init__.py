"""Convert raw relation-extraction corpora into `.spacy` DocBins with gold `doc._.relations`.

`convert(fmt, input_path, output_path)` writes the DocBin and returns a
`ConversionSummary`; `split_docbin` splits a converted corpus into train and dev by
document. Every converter writes all mentions to `doc.spans["entities"]`, the
non-overlapping ones to `doc.ents`, and sets sentence boundaries. Relations whose head
and tail are the same span are left out and counted, unless `keep_self_relations`.

Both refuse to write over an input, and replace an existing output only with
`overwrite=True`; outputs are written through a temporary file (`safe_write`).
"""

import random
import sys
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from tqdm import tqdm

from ..errors import Errors
from ..safe_write import atomic_output, check_outputs
from .annotations import brat, brat_files, doccano, labelstudio, prodigy
from .common import ENTITIES_KEY, ConversionSummary, DocStream, drop_self_relations
from .documents import DWIE_SPLITS, docred, dwie, dwie_files
from .marked import chemprot, semeval
from .spans import PID_NAMES, conll04, fewrel, scierc, wiki80
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
    # exports of annotation tools (a user's own data)
    "prodigy": prodigy,
    "brat": brat,
    "labelstudio": labelstudio,
    "doccano": doccano,
}
# fmt: on

__all__ = ["CONVERTERS", "ENTITIES_KEY", "ConversionSummary", "convert", "get_converter", "iter_docs", "split_docbin"]


def get_converter(fmt: str) -> Converter:
    """The converter registered for a format name.

    fmt (str): A key of `CONVERTERS`.
    RETURNS (Converter): Function (input path, nlp, summary) -> DocStream.
    """
    if fmt not in CONVERTERS:
        raise ValueError(Errors.E100.format(name=fmt, available=", ".join(sorted(CONVERTERS))))
    return CONVERTERS[fmt]


def convert(
    fmt: str,
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    overwrite: bool = False,
    keep_self_relations: bool = False,
    dwie_split: Optional[str] = None,
    show_progress: bool = True,
) -> ConversionSummary:
    """Convert a raw corpus file (a directory for `dwie` and `brat`) into a `.spacy` DocBin.

    The output is checked before converting (E110 if it would replace an input, E112 if
    it exists and `overwrite` is False) and written only when every record converted,
    through a temporary file: an interrupted run leaves any earlier output as it was.

    fmt (str): Corpus format, a key of `CONVERTERS`.
    input_path (Path): The raw file or directory.
    output_path (Path): The `.spacy` file to write (parent directories are created).
    overwrite (bool): Replace an existing output.
    keep_self_relations (bool): Keep relations whose head and tail are the same span.
    dwie_split (Optional[str]): For `dwie`: "train" (default, every document not tagged
        'test') or "test" (exactly DWIE's held-out test documents).
    show_progress (bool): Show a progress bar on stderr.
    RETURNS (ConversionSummary): Counts of what was written and what was skipped, and why.
    """
    output_path = Path(output_path)
    check_outputs([output_path], input_files(fmt, Path(input_path)), overwrite=overwrite)
    summary = ConversionSummary(fmt=fmt)
    options = dict(keep_self_relations=keep_self_relations, dwie_split=dwie_split, show_progress=show_progress)
    docbin = DocBin(docs=iter_docs(fmt, input_path, summary, **options), store_user_data=True)
    if not summary.docs:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in summary.skipped.most_common())
        raise ValueError(Errors.E107.format(path=input_path, reasons=reasons))
    with atomic_output(output_path) as tmp:
        docbin.to_disk(tmp)
    return summary


def input_files(fmt: str, input_path: Path) -> List[Path]:
    """The files a conversion reads (for dwie and brat, every document of the directory)."""
    if fmt == "dwie" and input_path.is_dir():
        return [input_path, *dwie_files(input_path)]
    if fmt == "brat" and input_path.is_dir():
        anns = brat_files(input_path)
        return [input_path, *anns, *(ann.with_suffix(".txt") for ann in anns)]
    if fmt == "fewrel":
        return [input_path, input_path.parent / PID_NAMES]
    return [input_path]


def iter_docs(
    fmt: str,
    input_path: Union[str, Path],
    summary: ConversionSummary,
    *,
    keep_self_relations: bool = False,
    dwie_split: Optional[str] = None,
    show_progress: bool = False,
) -> Iterator[Doc]:
    """The Docs of a raw corpus, without writing them; each is counted into `summary`.

    fmt (str): Corpus format, a key of `CONVERTERS`.
    input_path (Path): The raw file or directory.
    summary (ConversionSummary): Filled in while the Docs are produced.
    keep_self_relations (bool): Keep relations whose head and tail are the same span.
    dwie_split (Optional[str]): For `dwie`: "train" (default) or "test" (see `convert`).
    show_progress (bool): Show a progress bar on stderr.
    YIELDS (Doc): One Doc per document (or sentence, for sentence-level formats).
    """
    converter = get_converter(fmt)
    if dwie_split is not None:
        if fmt != "dwie" or dwie_split not in DWIE_SPLITS:
            raise ValueError(Errors.E116.format(value=dwie_split, fmt=fmt))
        converter = partial(dwie, split=dwie_split)
    input_path = Path(input_path)
    if not input_path.exists():
        raise FileNotFoundError(Errors.E102.format(path=input_path, fmt=fmt))
    docs = converter(input_path, spacy.blank("en"), summary)
    if not len(docs):
        raise ValueError(Errors.E106.format(path=input_path))
    for doc in tqdm(docs, desc=f"convert {fmt}", unit="doc", file=sys.stderr, disable=not show_progress):
        if not keep_self_relations:
            drop_self_relations(doc, summary)
        summary.count_doc(doc)
        yield doc


def split_docbin(
    input: Union[str, Path],
    train_out: Union[str, Path],
    dev_out: Union[str, Path],
    *,
    dev_fraction: float = 0.1,
    seed: int = 0,
    overwrite: bool = False,
    group_same_text: bool = False,
) -> Tuple[int, int]:
    """Split a `.spacy` file into train and dev by document, reproducibly.

    Refuses an output that is the input (E110), two outputs on one path (E111), and
    existing outputs unless `overwrite` (E112). Both outputs are written to temporary
    files first and then renamed into place.

    input (Path): A DocBin written by `convert`.
    train_out (Path): Where to write the training documents.
    dev_out (Path): Where to write the dev documents (round(n * dev_fraction), at least 1 when n > 1).
    dev_fraction (float): Share of documents for dev, in (0, 1).
    seed (int): Seed of the shuffle.
    overwrite (bool): Replace existing outputs.
    group_same_text (bool): Keep documents with the same text on one side, so that a corpus
        that repeats sentences (NYT's validation set holds 22 texts twice or more) cannot put
        a dev sentence in train. Without repeated texts the split is the same either way;
        with them, dev may exceed round(n * dev_fraction) by the other copies of the last
        text drawn into it.
    RETURNS (Tuple[int, int]): Number of train and dev documents.
    """
    input = Path(input)
    if not 0 < dev_fraction < 1:
        raise ValueError(Errors.E104.format(value=dev_fraction))
    if not input.exists():
        raise FileNotFoundError(Errors.E105.format(path=input))
    outputs = (Path(train_out), Path(dev_out))
    check_outputs(outputs, [input], overwrite=overwrite)
    docs = list(DocBin().from_disk(input).get_docs(spacy.blank("en").vocab))
    # Groups of document indices that must stay together: one per document, or one per text.
    groups: Dict[Union[int, str], List[int]] = {}
    for i, doc in enumerate(docs):
        groups.setdefault(doc.text if group_same_text else i, []).append(i)
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    n_dev = min(max(round(len(docs) * dev_fraction), 1), len(docs) - 1) if len(docs) > 1 else 0
    dev_ids: Set[int] = set()
    for group in order:
        if len(dev_ids) >= n_dev:
            break
        dev_ids.update(group)
    if len(dev_ids) == len(docs):  # one text repeated throughout: nothing would be left to train on
        raise ValueError(Errors.E130.format(path=input))
    n_dev = len(dev_ids)
    with atomic_output(outputs[0]) as train_tmp, atomic_output(outputs[1]) as dev_tmp:
        for path, keep in ((train_tmp, False), (dev_tmp, True)):
            part = [doc for i, doc in enumerate(docs) if (i in dev_ids) == keep]
            DocBin(docs=part, store_user_data=True).to_disk(path)
    return len(docs) - n_dev, n_dev
