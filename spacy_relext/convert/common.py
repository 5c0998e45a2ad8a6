"""Pieces shared by every corpus converter: records, Doc building, summary counting.

A converter turns a raw file into a `DocStream`: a list of `Record`s (one per source
document or sentence) and a function building one Doc from one record. The stream wraps
any failure inside that function into E101, naming the file and the record, so the
converters themselves only check what the data promises and say why it is wrong.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar

from spacy.tokens import Doc, Span, SpanGroup
from spacy.util import filter_spans
from spacy.vocab import Vocab

from ..entities import get_entity_clusters
from ..errors import Errors
from ..relations import Relation

ENTITIES_KEY = "entities"
NO_TYPE = "ENTITY"
TYPE_PREFIX = "type::"
# Skip reasons shared by several converters (the summary counts them by these strings).
EXPANDED = "mention expanded to token boundaries (kept)"
NO_MENTION = "entity without mention"
ARG_NO_MENTION = "relation argument has no mention"
DUPLICATE_RELATION = "duplicate relation"

T = TypeVar("T")


@dataclass
class Record:
    """One raw input record: the file it comes from, how to name it, its data."""

    path: Path
    id: str
    data: Any


@dataclass
class ConversionSummary:
    """What a conversion produced, and what it left out and why.

    docs (int): Docs written.
    sentences (int): Sentences over all Docs.
    entities (int): Entity mentions (`doc.spans["entities"]`).
    clusters (int): Document-level entities (mentions grouped by id).
    relations (Counter): Gold relations per label.
    skipped (Counter): Left-out or altered items per reason.
    negatives (int): Records whose gold answer is "no relation" (SemEval `Other`).
    not_in_ents (int): Mentions kept in the span group but left out of `doc.ents` because they overlap.
    unlocated (List[str]): Triples whose arguments could not be found in the text.
    """

    fmt: str = ""
    docs: int = 0
    sentences: int = 0
    entities: int = 0
    clusters: int = 0
    relations: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    negatives: int = 0
    not_in_ents: int = 0
    unlocated: List[str] = field(default_factory=list)

    def count_doc(self, doc: Doc) -> None:
        """Add the counts of one converted Doc."""
        mentions = doc.spans[ENTITIES_KEY]
        self.docs += 1
        self.sentences += sum(1 for _ in doc.sents)
        self.entities += len(mentions)
        self.clusters += len(get_entity_clusters(doc, ENTITIES_KEY))
        self.not_in_ents += len(mentions) - len(doc.ents)
        self.relations.update(rel.label for rel in doc._.relations)

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[reason] += count

    def format(self) -> str:
        """A readable multi-line summary (the CLI prints it)."""
        lines = [
            f"Converted {self.fmt or 'corpus'}: {self.docs} docs, {self.sentences} sentences",
            f"Entities: {self.entities} mentions in {self.clusters} clusters "
            f"({self.not_in_ents} overlapping mentions left out of doc.ents)",
            f"Relations: {sum(self.relations.values())} in {len(self.relations)} labels",
        ]
        lines += [f"  {label}: {n}" for label, n in self.relations.most_common()]
        if self.negatives:
            lines.append(f"Negatives (no relation, not stored): {self.negatives}")
        lines.append(f"Skipped: {sum(self.skipped.values())}")
        lines += [f"  {reason}: {n}" for reason, n in self.skipped.most_common()]
        if self.unlocated:
            lines.append(f"Unlocated triples ({len(self.unlocated)}):")
            lines += [f"  {item}" for item in self.unlocated]
        return "\n".join(lines)


class DocStream:
    """The Docs of a list of records, built on iteration; `len()` is the record count.
    `to_doc` returns None for a record it leaves out (after counting it as skipped)."""

    def __init__(self, records: Sequence[Record], to_doc: Callable[[Record], Optional[Doc]]) -> None:
        self.records = records
        self.to_doc = to_doc

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Doc]:
        for record in self.records:
            try:
                doc = self.to_doc(record)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
                raise ValueError(Errors.E101.format(path=record.path, record=record.id, reason=_reason(e))) from e
            if doc is not None:
                yield doc


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    if isinstance(error, json.JSONDecodeError):
        return f"invalid JSON ({error})"
    return str(error) or type(error).__name__


def read_json(path: Path, expected: type = object) -> Any:
    """Parse a whole JSON file; a syntax error names the line and column.

    expected (type): `list` or `dict` when the file must hold a JSON array or object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf8"))
    except json.JSONDecodeError as e:
        record = f"at line {e.lineno} column {e.colno}"
        raise ValueError(Errors.E101.format(path=path, record=record, reason=f"invalid JSON ({e.msg})")) from None
    if not isinstance(data, expected):
        kind = "an array" if expected is list else "an object"
        raise ValueError(Errors.E101.format(path=path, record="(whole file)", reason=f"expected {kind} of records"))
    return data


def json_array(path: Path) -> List[Record]:
    """Records of a file holding one JSON array (named by index, and title where given)."""
    return [Record(path, _record_name(i, item), item) for i, item in enumerate(read_json(path, list))]


def json_lines(path: Path) -> List[Record]:
    """Records of a JSON-lines file, named by line number; blank lines are ignored."""
    records = []
    with path.open(encoding="utf8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    records.append(Record(path, f"at line {n}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise ValueError(
                        Errors.E101.format(path=path, record=f"at line {n}", reason=f"invalid JSON ({e.msg})")
                    ) from None
    return records


def _record_name(index: int, item: Any) -> str:
    for key in ("title", "doc_key", "id"):
        if isinstance(item, dict) and key in item:
            return f"{index} ({key} {item[key]!r})"
    return str(index)


def doc_from_words(vocab: Vocab, words: Sequence[str], sent_starts: Iterable[int] = (0,)) -> Doc:
    """A pre-tokenised Doc: one space after every token but the last, sentence starts set."""
    if not words:
        raise ValueError("the record has no tokens")
    if isinstance(words, str) or not all(isinstance(word, str) for word in words):
        raise ValueError("the tokens must be a list of strings")
    starts = set(sent_starts)
    n = len(words)
    return Doc(
        vocab, words=list(words), spaces=[i < n - 1 for i in range(n)], sent_starts=[i in starts for i in range(n)]
    )


def doc_from_sentences(vocab: Vocab, sentences: Sequence[Sequence[str]]) -> Tuple[Doc, List[int]]:
    """A pre-tokenised Doc from a list of token lists, and the token offset of each sentence."""
    starts = [0, *accumulate(len(sentence) for sentence in sentences)][:-1]
    return doc_from_words(vocab, [word for sentence in sentences for word in sentence], starts), starts


def one_sentence(doc: Doc) -> Doc:
    """Mark a tokenised text as a single sentence."""
    if len(doc) == 0:
        raise ValueError("the record has no tokens")
    for token in doc:
        token.is_sent_start = token.i == 0
    return doc


def token_span(doc: Doc, start: int, end: int, label: str = NO_TYPE, span_id: str = "") -> Span:
    """A mention from token offsets (end exclusive), checked against the Doc."""
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(doc)):
        raise ValueError(f"token span {start!r}:{end!r} is outside the {len(doc)} tokens")
    return Span(doc, start, end, label=_text(label, "entity type") or NO_TYPE, span_id=_text(span_id, "entity id"))


def _text(value: Any, what: str) -> str:
    # spaCy reads an int label as a string-store hash, so a number would be lost silently
    if not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not a string")
    return value


def char_span(
    doc: Doc, start: int, end: int, summary: ConversionSummary, label: str = NO_TYPE, span_id: str = ""
) -> Span:
    """A mention from character offsets; one not on token boundaries is expanded and counted."""
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(doc.text)):
        raise ValueError(f"character span {start!r}:{end!r} is outside the text (length {len(doc.text)})")
    span = doc.char_span(start, end, label=label or NO_TYPE, span_id=span_id)
    if span is None:
        span = doc.char_span(start, end, label=label or NO_TYPE, span_id=span_id, alignment_mode="expand")
        if span is None or not span.text.strip():
            raise ValueError(f"character span {start}:{end} covers no token")
        summary.skip(EXPANDED)
    return span


def type_label(tag: str) -> str:
    """An entity type as span label: the `type::` prefix removed, `ENTITY` when empty."""
    return (tag[len(TYPE_PREFIX) :] if tag.startswith(TYPE_PREFIX) else tag) or NO_TYPE


def set_entities(doc: Doc, mentions: Iterable[Span], **attrs: Any) -> None:
    """All mentions into `doc.spans["entities"]`, the non-overlapping ones into `doc.ents`."""
    mentions = sorted(mentions, key=lambda span: (span.start, span.end))
    doc.spans[ENTITIES_KEY] = SpanGroup(doc, name=ENTITIES_KEY, attrs=attrs, spans=mentions)
    doc.ents = filter_spans(mentions)


def first_mentions(mentions: Iterable[Span]) -> Dict[str, Span]:
    """The first mention (in text order) of each cluster id."""
    first: Dict[str, Span] = {}
    for span in sorted(mentions, key=lambda span: (span.start, span.end)):
        first.setdefault(span.id_, span)
    return first


def unique(
    items: Iterable[T], summary: ConversionSummary, reason: str, key: Callable[[T], Hashable] = lambda item: item
) -> Iterator[T]:
    """The items in order, each once (by `key`); repeats are counted as skipped with `reason`."""
    seen = set()
    for item in items:
        if key(item) in seen:
            summary.skip(reason)
            continue
        seen.add(key(item))
        yield item


def lookup(mapping: Dict[Any, Any], key: Any, what: str) -> Any:
    """`mapping[key]`, or a ValueError naming the unknown key."""
    if key not in mapping:
        raise ValueError(f"unknown {what} {key!r}")
    return mapping[key]


def token_relations(
    rows: Iterable[Sequence[Any]],
    mentions: Dict[Any, Span],
    doc: Doc,
    summary: ConversionSummary,
    *,
    inclusive: bool = False,
) -> List[Relation]:
    """Relations from `[head_start, head_end, tail_start, tail_end, label]` token-offset rows."""
    extra = 1 if inclusive else 0
    return [
        Relation(
            head=argument(mentions, doc, hs, he + extra, summary),
            tail=argument(mentions, doc, ts, te + extra, summary),
            label=label,
        )
        for hs, he, ts, te, label in rows
    ]


def argument(mentions: Dict[Any, Span], doc: Doc, start: int, end: int, summary: ConversionSummary) -> Span:
    """The mention at token offsets start:end; an unannotated argument is added as `ENTITY`."""
    if (start, end) not in mentions:
        summary.skip("relation argument not annotated as entity (added as ENTITY)")
        mentions[(start, end)] = token_span(doc, start, end)
    return mentions[(start, end)]
