"""String-triple formats (CasRel/PRGC JSON): WebNLG and NYT.

Subjects and objects are strings; they are located as token sequences in the
space-separated text. When a string occurs several times, the (subject, object)
occurrence pair with the smallest token gap is used (ties: the earliest pair).
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..relations import Relation
from .common import (
    ConversionSummary,
    DocStream,
    Record,
    Shape,
    check_rows,
    doc_from_words,
    field,
    json_array,
    set_entities,
    token_span,
    unique,
)

UNLOCATED = "subject or object not found in the text"
DUPLICATE_TRIPLE = "duplicate triple"
TRIPLE: Shape = (("string", "string", "string"), "[subject, relation, object]")
Offsets = Tuple[int, int]


def triples(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """WebNLG / NYT `{"text", "triple_list": [[subject, relation, object], ...]}` records."""

    def to_doc(record: Record) -> Doc:
        words = field(record.data, "text", "string").split()
        doc = doc_from_words(nlp.vocab, words)
        triples = check_rows(field(record.data, "triple_list", "array"), TRIPLE, "field 'triple_list'")
        mentions: Dict[Offsets, Span] = {}
        relations = []
        for subject, label, obj in unique(triples, summary, DUPLICATE_TRIPLE):
            pair = locate_pair(words, subject.split(), obj.split())
            if pair is None:
                summary.skip(UNLOCATED)
                summary.unlocated.append(f"{record.path.name} record {record.id}: {[subject, label, obj]}")
                continue
            head, tail = (mentions.setdefault(offsets, token_span(doc, *offsets)) for offsets in pair)
            relations.append(Relation(head=head, tail=tail, label=label))
        set_entities(doc, mentions.values())
        doc._.relations = relations
        return doc

    return DocStream(json_array(path), to_doc)


def locate_pair(words: Sequence[str], subject: Sequence[str], obj: Sequence[str]) -> Optional[Tuple[Offsets, Offsets]]:
    """The closest (subject, object) pair of occurrences, or None if either is absent."""
    pairs = [(s, o) for s in occurrences(words, subject) for o in occurrences(words, obj)]
    return min(pairs, key=lambda pair: _gap(*pair), default=None)


def occurrences(words: Sequence[str], target: Sequence[str]) -> List[Offsets]:
    """Every (start, end) where the token sequence `target` occurs in `words`."""
    n = len(target)
    return [(i, i + n) for i in range(len(words) - n + 1) if n and list(words[i : i + n]) == list(target)]


def _gap(a: Offsets, b: Offsets) -> int:
    return max(a[0] - b[1], b[0] - a[1], 0)
