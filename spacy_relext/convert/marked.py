"""Raw-text formats whose two arguments are marked inline: SemEval-2010 Task 8, ChemProt."""

import re
from pathlib import Path
from typing import Dict, List, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..relations import Relation
from .common import (
    ConversionSummary,
    DocStream,
    Record,
    char_span,
    field,
    json_lines,
    one_sentence,
    read_text,
    set_entities,
    text_doc,
)

SEMEVAL_MARKERS = {"e1": ("<e1>", "</e1>"), "e2": ("<e2>", "</e2>")}
# The spaces belong to the markers; chemical names contain "[[" and "]]" without them.
CHEMPROT_MARKERS = {"head": ("<< ", " >>"), "tail": ("[[ ", " ]]")}
SEMEVAL_NEGATIVE = "Other"
SEMEVAL_LABEL = re.compile(r"^(?P<label>[^()]+)\((?P<head>e[12]),(?P<tail>e[12])\)$")


def semeval(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """SemEval-2010 Task 8 `TRAIN_FILE.TXT`: directional labels become head -> tail; `Other` is a negative."""
    blocks = re.split(r"\n[ \t]*\n", read_text(path).replace("\r\n", "\n"))
    lines = [block.strip().split("\n") for block in blocks if block.strip()]
    records = [Record(path, f"id {block[0].split(chr(9))[0]}", block) for block in lines]
    return DocStream(records, lambda record: _semeval_doc(record.data, nlp, summary))


def _semeval_doc(lines: List[str], nlp: Language, summary: ConversionSummary) -> Doc:
    if len(lines) < 2 or "\t" not in lines[0]:
        raise ValueError("expected a line '<id><TAB>\"<sentence>\"' followed by a label line")
    text = lines[0].split("\t", 1)[1].strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    doc, args = marked_doc(nlp, text, SEMEVAL_MARKERS, summary)
    label = lines[1].strip()
    if label == SEMEVAL_NEGATIVE:
        summary.negatives += 1
        return doc
    match = SEMEVAL_LABEL.match(label)
    if match is None or match["head"] == match["tail"]:
        raise ValueError(f"label {label!r} is neither '{SEMEVAL_NEGATIVE}' nor 'Name(e1,e2)' / 'Name(e2,e1)'")
    doc._.relations = [Relation(head=args[match["head"]], tail=args[match["tail"]], label=match["label"])]
    return doc


def chemprot(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """ChemProt (SciBERT JSON lines): head = the `<< >>` argument, tail = the `[[ ]]` argument."""

    def to_doc(record: Record) -> Doc:
        doc, args = marked_doc(nlp, field(record.data, "text", "string"), CHEMPROT_MARKERS, summary)
        doc._.relations = [Relation(head=args["head"], tail=args["tail"], label=field(record.data, "label", "string"))]
        return doc

    return DocStream(json_lines(path), to_doc)


def marked_doc(
    nlp: Language, text: str, markers: Dict[str, Tuple[str, str]], summary: ConversionSummary
) -> Tuple[Doc, Dict[str, Span]]:
    """Tokenise `text` without its markers; the marked arguments become the Doc's entities.

    markers (Dict[str, Tuple[str, str]]): argument name -> (opening, closing) marker.
    RETURNS (Tuple[Doc, Dict[str, Span]]): The one-sentence Doc and argument name -> mention.
    """
    clean, offsets = strip_markers(text, markers)
    doc = one_sentence(text_doc(nlp, clean))
    args = {name: char_span(doc, start, end, summary) for name, (start, end) in offsets.items()}
    set_entities(doc, args.values())
    return doc, args


def strip_markers(text: str, markers: Dict[str, Tuple[str, str]]) -> Tuple[str, Dict[str, Tuple[int, int]]]:
    """Remove each argument's markers and return the clean text and the argument offsets.

    The opening marker is its first occurrence, the closing one the first after it: later
    occurrences are text (ChemProt uses " >> " as "greater than").
    """
    cuts = []  # (start, end, argument name) of every marker to remove
    for name, (opening, closing) in markers.items():
        begin = text.find(opening)
        end = text.find(closing, begin + len(opening)) if begin >= 0 else -1
        if end < 0:
            raise ValueError(f"markers {opening!r} ... {closing!r} not found in the text")
        cuts += [(begin, begin + len(opening), name), (end, end + len(closing), name)]
    cuts.sort()
    pieces: List[str] = []
    offsets: Dict[str, List[int]] = {name: [] for name in markers}
    pos = length = 0
    for begin, end, name in cuts:
        if begin < pos:
            raise ValueError(f"markers overlap at character {begin}")
        pieces.append(text[pos:begin])
        length += begin - pos
        offsets[name].append(length)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces), {name: (ends[0], ends[1]) for name, ends in offsets.items()}
