"""Pieces shared by every corpus converter: records, Doc building, summary counting.

A converter turns a raw file into a `DocStream`: a list of `Record`s (one per source
document or sentence) and a function building one Doc from one record. The stream wraps
any failure inside that function into E101, naming the file and the record, so the
converters themselves only check what the data promises and say why it is wrong
(`field`, `check` and `check_row` describe the expected shape of a JSON record).

Bounds: a record has at most `MAX_RECORD_TOKENS` tokens (pre-tokenised formats) or
`MAX_RECORD_CHARS` characters (raw text), and a JSON line at most `MAX_LINE_BYTES`; a
larger one is E109, raised before its Doc is built (a Doc takes about 1 KB per token,
so one 50 MB line of tokens used to take about 5 GB).
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import (
    Any,
    BinaryIO,
    Callable,
    Dict,
    Hashable,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
)

from spacy.language import Language
from spacy.pipeline import Sentencizer
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
SELF_RELATION = "self-relation: head and tail are the same span (--keep-self-relations keeps it)"
NO_MENTION = "entity without mention"
ARG_NO_MENTION = "relation argument has no mention"
DUPLICATE_RELATION = "duplicate relation"

# fmt: off
MAX_RECORD_TOKENS = 100_000    # pre-tokenised records
MAX_RECORD_CHARS = 1_000_000   # raw-text records (spaCy's default nlp.max_length)
MAX_LINE_BYTES = 10_000_000    # one JSON line, checked before it is parsed
# fmt: on

T = TypeVar("T")
MISSING = object()


class ConversionError(ValueError):
    """A coded error that already names its file and record: passed on unchanged."""


class RecordTooLarge(ValueError):
    """A record over a bound; the stream turns it into E109 naming the file and record."""

    def __init__(self, size: str, limit: str) -> None:
        super().__init__(size)
        self.size, self.limit = size, limit


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
            except ConversionError:
                raise
            except RecordTooLarge as e:
                raise ConversionError(
                    Errors.E109.format(path=record.path, record=record.id, size=e.size, limit=e.limit)
                ) from None
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
                raise ConversionError(
                    Errors.E101.format(path=record.path, record=record.id, reason=_reason(e))
                ) from e
            if doc is not None:
                yield doc


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    if isinstance(error, json.JSONDecodeError):
        return f"invalid JSON ({error})"
    if isinstance(error, (IndexError, TypeError, AttributeError)):  # a shape no check foresaw
        return f"unexpected record structure ({error})"
    return str(error) or type(error).__name__


def read_text(path: Path, *, allow_empty: bool = False) -> str:
    """The text of a UTF-8 file (a byte-order mark is dropped): E108 names the line of
    an invalid byte, E106 an empty file (unless `allow_empty`: a brat `.ann` file of a
    document nobody annotated yet is empty)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConversionError(
            Errors.E108.format(path=path, byte=e.start, line=data.count(b"\n", 0, e.start) + 1)
        ) from None
    if not text.strip() and not allow_empty:
        raise ConversionError(Errors.E106.format(path=path))
    return text


def read_json(path: Path, expected: type = object) -> Any:
    """Parse a whole JSON file; a syntax error names the line and column.

    expected (type): `list` or `dict` when the file must hold a JSON array or object.
    """
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        record = f"at line {e.lineno} column {e.colno}"
        raise ConversionError(Errors.E101.format(path=path, record=record, reason=f"invalid JSON ({e.msg})")) from None
    if not isinstance(data, expected):
        reason = f"expected {'an array' if expected is list else 'an object'} of records"
        raise ConversionError(Errors.E101.format(path=path, record="(whole file)", reason=reason))
    return data


def json_array(path: Path) -> List[Record]:
    """Records of a file holding one JSON array (named by index, and title where given)."""
    return [Record(path, _record_name(i, item), item) for i, item in enumerate(read_json(path, list))]


def json_lines(path: Path) -> List[Record]:
    """Records of a JSON-lines file, named by line number; blank lines are ignored.

    Lines are read in bounded pieces: a line over `MAX_LINE_BYTES` is E109 before it is
    held in memory or parsed.
    """
    records = []
    offset = 0
    with path.open("rb") as f:
        for n, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), start=1):
            name = f"at line {n}"
            if len(raw) > MAX_LINE_BYTES:
                size, limit = f"{_line_length(f, raw):,} bytes on one line", f"{MAX_LINE_BYTES:,} bytes per JSON line"
                raise ConversionError(Errors.E109.format(path=path, record=name, size=size, limit=limit))
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise ConversionError(Errors.E108.format(path=path, byte=offset + e.start, line=n)) from None
            offset += len(raw)
            if line.strip():
                try:
                    records.append(Record(path, name, json.loads(line)))
                except json.JSONDecodeError as e:
                    reason = f"invalid JSON ({e.msg})"
                    raise ConversionError(Errors.E101.format(path=path, record=name, reason=reason)) from None
    return records


def _line_length(f: BinaryIO, start: bytes) -> int:
    """The length of a line whose first bytes are `start`, reading the rest in pieces."""
    length = len(start)
    while not start.endswith(b"\n"):
        start = f.readline(MAX_LINE_BYTES)
        if not start:
            break
        length += len(start)
    return length


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
    if len(words) > MAX_RECORD_TOKENS:
        raise RecordTooLarge(f"{len(words):,} tokens", f"{MAX_RECORD_TOKENS:,} tokens per record")
    starts = set(sent_starts)
    n = len(words)
    return Doc(
        vocab, words=list(words), spaces=[i < n - 1 for i in range(n)], sent_starts=[i in starts for i in range(n)]
    )


def doc_from_sentences(vocab: Vocab, sentences: Sequence[Sequence[str]]) -> Tuple[Doc, List[int]]:
    """A pre-tokenised Doc from a list of token lists, and the token offset of each sentence."""
    for i, sentence in enumerate(check(sentences, "array", "the sentences")):
        check(sentence, "array", f"sentence {i}")
    starts = [0, *accumulate(len(sentence) for sentence in sentences)][:-1]
    return doc_from_words(vocab, [word for sentence in sentences for word in sentence], starts), starts


def text_doc(nlp: Language, text: Any) -> Doc:
    """`nlp.make_doc(text)` for a raw-text record, within `MAX_RECORD_CHARS`."""
    check(text, "string", "the text")
    if len(text) > MAX_RECORD_CHARS:
        raise RecordTooLarge(f"{len(text):,} characters", f"{MAX_RECORD_CHARS:,} characters of text per record")
    return nlp.make_doc(text)


def split_sentences(doc: Doc, *, spaces_end_sentences: bool = False) -> Doc:
    """Sentence boundaries of a raw-text document: spaCy's rule-based sentencizer, plus a
    break after every line break (headlines and list items have no final punctuation).

    spaces_end_sentences (bool): A whitespace token the sentencizer would start a sentence
        with (the line break after a full stop) ends the previous one instead, so no
        sentence is whitespace only. False for DWIE, whose converted sentences predate it.
    """
    doc = Sentencizer()(doc)
    for token in doc[:-1]:
        if "\n" in token.text_with_ws and token.is_space:
            doc[token.i + 1].is_sent_start = True
    if spaces_end_sentences:
        for token in doc[1:]:
            if token.is_space and token.is_sent_start:
                token.is_sent_start = False
                if token.i + 1 < len(doc):  # the sentence then starts after the spaces
                    doc[token.i + 1].is_sent_start = True
    return doc


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


def drop_self_relations(doc: Doc, summary: ConversionSummary) -> None:
    """Leave out relations whose head and tail are the same span, counted as skipped."""
    relations = doc._.relations
    kept = [rel for rel in relations if (rel.head.start, rel.head.end) != (rel.tail.start, rel.tail.end)]
    if len(kept) < len(relations):
        summary.skip(SELF_RELATION, len(relations) - len(kept))
        doc._.relations = kept


# The expected shape of JSON records: `field` and `check` raise a ValueError saying what
# was expected and what was found, which the stream reports as the E101 reason.
# fmt: off
KINDS: Dict[str, Tuple[str, Callable[[Any], bool]]] = {
    "object": ("an object", lambda v: isinstance(v, dict)),
    "array": ("an array", lambda v: isinstance(v, list)),
    "string": ("a string", lambda v: isinstance(v, str)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "id": ("a string or an integer", lambda v: isinstance(v, (str, int)) and not isinstance(v, bool)),
}
# A row of fixed length: (the kind of each item, how a message names the row)
Shape = Tuple[Tuple[str, ...], str]
SPAN: Shape = (("integer", "integer"), "[start, end]")
ENTITY_ROW: Shape = (("integer", "integer", "string"), "[start, end, type]")
RELATION_ROW: Shape = (("integer",) * 4 + ("string",), "[head start, head end, tail start, tail end, label]")
# fmt: on


def is_kind(value: Any, kind: str) -> bool:
    """Whether `value` is of `kind`, a key of `KINDS`."""
    return KINDS[kind][1](value)


def check(value: Any, kind: str, what: str) -> Any:
    """`value`, if it is of `kind` (a key of `KINDS`); else a ValueError naming `what`."""
    name, test = KINDS[kind]
    if not test(value):
        raise ValueError(f"{what} must be {name}, got {show(value)}")
    return value


def field(obj: Any, key: str, kind: str, *, what: str = "the record", default: Any = MISSING) -> Any:
    """`obj[key]` of `kind`, `obj` being an object; `default` when given and the key is absent."""
    check(obj, "object", what)
    if key not in obj:
        if default is not MISSING:
            return default
        raise ValueError(f"missing field {key!r}" + ("" if what == "the record" else f" in {what}"))
    return check(obj[key], kind, f"field {key!r}" + ("" if what == "the record" else f" of {what}"))


def check_row(row: Any, shape: Shape, what: str) -> Tuple[Any, ...]:
    """A fixed-length array such as `[start, end, type]`, checked item by item."""
    kinds, names = shape
    if not (isinstance(row, list) and len(row) == len(kinds) and all(is_kind(v, k) for k, v in zip(kinds, row))):
        expected = ", ".join(KINDS[k][0] for k in kinds)
        raise ValueError(f"{what} must be {names} ({expected}), got {show(row)}")
    return tuple(row)


def check_rows(rows: Any, shape: Shape, what: str) -> List[Tuple[Any, ...]]:
    """An array of `check_row` rows; `what` names the array."""
    return [check_row(row, shape, f"item {i} of {what}") for i, row in enumerate(check(rows, "array", what))]


def show(value: Any) -> str:
    """A short JSON rendering of a value, for messages."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def argument(mentions: Dict[Any, Span], doc: Doc, start: int, end: int, summary: ConversionSummary) -> Span:
    """The mention at token offsets start:end; an unannotated argument is added as `ENTITY`."""
    if (start, end) not in mentions:
        summary.skip("relation argument not annotated as entity (added as ENTITY)")
        mentions[(start, end)] = token_span(doc, start, end)
    return mentions[(start, end)]
