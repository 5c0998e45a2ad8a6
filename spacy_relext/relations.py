"""The `Relation` record and the `doc._.relations` extension.

Relations are stored as plain data (token offsets, strings, floats) in `doc.user_data`
and turned into `Relation` objects holding `Span`s on every access, so they survive
`DocBin(store_user_data=True)`, pickle, `nlp.pipe(n_process=2)` and `Doc.from_docs`.

Storage layout: one "block" per source document under the user_data key
`("._.", STORE_NAME, start_char, end_char)`, the key format spaCy uses for span
extensions. `Doc.from_docs` shifts the character offsets of such keys for each merged
document, so every block keeps pointing at its own document's tokens; the token
offsets inside a block are relative to the block's first token.

Each record also keeps the character offsets of its spans (`"chars"`, relative to the
block's first character): on access, spans whose tokens no longer cover those
characters (the Doc was retokenized) are found again by their characters, and E011 is
raised when the characters no longer start and end on token boundaries. Records
written before `"chars"` existed are read by their token offsets alone.

A corpus can also declare labels symmetric (r(a, b) == r(b, a), as SciERC's CONJUNCTION and
COMPARE): `set_symmetric_labels` stores them under `("._.", SYMMETRIC_STORE_NAME, 0,
len(doc.text))`, the same kind of key, so the declaration travels with the gold relations
through DocBins, pickle and `Doc.from_docs`. Gold records keep the direction the corpus
wrote; the scorers and the components that learn directions read the declaration.
"""
import bisect
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span
from spacy.training import Example

from . import msgpack_registry  # noqa: F401 (Doc serialization without registry rescans, issue 24)
from .errors import Errors, Warnings

DOC_EXT_ATTR = "relations"
STORE_NAME = "spacy_relext_relations"
SYMMETRIC_STORE_NAME = "spacy_relext_symmetric_labels"
SENT_EXT_ATTR = "relation_scores"


@dataclass(frozen=True)
class Relation:
    """A directed relation `head -> tail` between two spans of one Doc.

    head (Span): The first argument (subject).
    tail (Span): The second argument (object).
    label (str): The relation label.
    score (float): Confidence in [0, 1] (E009 otherwise); 1.0 for gold relations.
    source (str): Name of the component that produced it ("" for gold or user data).
    rationale (Tuple[Span, ...]): Token segments that explain the decision.
    rules (Tuple[str, ...]): Human-readable logic-rule explanations.

    Every span (head, tail, rationale) holds at least one token (E008).
    """

    head: Span
    tail: Span
    label: str
    score: float = 1.0
    source: str = ""
    rationale: Tuple[Span, ...] = field(default=())
    rules: Tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("head", "tail"):
            value = getattr(self, name)
            if not isinstance(value, Span):
                raise ValueError(Errors.E001.format(arg=name, type=type(value).__name__))
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(Errors.E006.format(label=self.label))
        score = float(self.score)
        if not math.isfinite(score):
            raise ValueError(Errors.E007.format(score=self.score))
        if not 0.0 <= score <= 1.0:
            raise ValueError(Errors.E009.format(score=self.score))
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "rationale", tuple(self.rationale))
        object.__setattr__(self, "rules", tuple(str(rule) for rule in self.rules))
        doc = self.head.doc
        # Names are only built for a message: this runs for every relation read.
        for k, span in enumerate((self.head, self.tail, *self.rationale)):
            if k >= 2 and not isinstance(span, Span):
                raise ValueError(Errors.E001.format(arg=_arg_name(k), type=type(span).__name__))
            if span.end <= span.start:
                raise ValueError(Errors.E008.format(arg=_arg_name(k), start=span.start, end=span.end))
            if span.doc is not doc:
                raise ValueError(Errors.E002.format(head=doc_name(doc), arg=_arg_name(k), other=doc_name(span.doc)))

    @property
    def doc(self) -> Doc:
        return self.head.doc

    @property
    def key(self) -> Tuple[int, int, int, int, str]:
        """(head.start, head.end, tail.start, tail.end, label): identity for scoring."""
        return (self.head.start, self.head.end, self.tail.start, self.tail.end, self.label)

    def __repr__(self) -> str:
        return (
            f"Relation(head={self.head.text!r}[{self.head.start}:{self.head.end}], "
            f"label={self.label!r}, tail={self.tail.text!r}[{self.tail.start}:{self.tail.end}], "
            f"score={self.score:.3f}, source={self.source!r})"
        )


def install_extensions() -> None:
    """Register `doc._.relations` once (never with force=True)."""
    if not Doc.has_extension(DOC_EXT_ATTR):
        Doc.set_extension(DOC_EXT_ATTR, getter=get_relations, setter=set_relations)
    elif Doc.get_extension(DOC_EXT_ATTR)[2] is not get_relations:
        warnings.warn(Warnings.W001)


def install_sentence_extension() -> None:
    """Register `span._.relation_scores` once: the relations detected in a sentence,
    `{label: score}` (plain data). spaCy stores a Span extension value in `doc.user_data`
    under `("._.", name, start_char, end_char)`, so it survives DocBin, pickle,
    `nlp.pipe(n_process=2)` and `Doc.from_docs` (which shifts the offsets).
    """
    if not Span.has_extension(SENT_EXT_ATTR):
        Span.set_extension(SENT_EXT_ATTR, default=None)


def get_sentence_scores(sent: Span) -> Optional[Dict[str, float]]:
    """The detected relations of a sentence, read without needing the extension.

    sent (Span): The sentence.
    RETURNS (Optional[Dict[str, float]]): {label: score}, or None if no detector ran.
    """
    return sent.doc.user_data.get(("._.", SENT_EXT_ATTR, sent.start_char, sent.end_char))


def relations_by_sentence(sents: Sequence[Span], relations: Iterable[Relation]) -> List[List[Relation]]:
    """Group relations by the sentence holding both arguments.

    sents (Sequence[Span]): Consecutive sentences of one Doc (`entities.sentence_spans`).
    relations (Iterable[Relation]): Relations on the same Doc.
    RETURNS (List[List[Relation]]): The relations of each sentence; relations whose
        arguments lie in different sentences are left out.
    """
    grouped: List[List[Relation]] = [[] for _ in sents]
    ends = [sent.end for sent in sents]
    for rel in relations:
        i = bisect.bisect_right(ends, rel.head.start)
        if i < len(sents) and sents[i].start <= min(rel.tail.start, rel.head.start) and max(
            rel.head.end, rel.tail.end
        ) <= sents[i].end:
            grouped[i].append(rel)
    return grouped


def get_relations(doc: Doc) -> List[Relation]:
    """Build the Relation objects stored on a Doc, in assignment order.

    Spans are rebuilt from their token offsets; when those no longer cover the
    characters the span was written for (the Doc was retokenized), they are found again
    by their characters, and E011 is raised if the characters no longer start and end
    on token boundaries.

    doc (Doc): The document.
    RETURNS (List[Relation]): A new list; editing it does not change the Doc.
    """
    relations: List[Relation] = []
    blocks = sorted((key[2], value) for key, value in doc.user_data.items() if _is_block_key(key))
    for start_char, records in blocks:
        offset = _token_starting_at(doc, start_char)
        for record in records:
            relations.append(_from_record(doc, record, start_char, offset, len(relations)))
    return relations


def set_relations(doc: Doc, relations: Iterable[Relation]) -> None:
    """Replace the relations stored on a Doc (the setter of `doc._.relations`).

    doc (Doc): The document.
    relations (Iterable[Relation]): The new relations; `[]` removes them all. None, a
        single Relation or another non-list raises E010, an item that is not a Relation
        E005; the Doc's relations are then unchanged.
    """
    if relations is None or isinstance(relations, (Relation, str, bytes, dict)) or not hasattr(relations, "__iter__"):
        raise ValueError(Errors.E010.format(type=type(relations).__name__))
    records = []
    for i, rel in enumerate(relations):
        if not isinstance(rel, Relation):
            raise ValueError(Errors.E005.format(type=type(rel).__name__, index=i))
        if rel.doc is not doc:
            raise ValueError(Errors.E003.format(doc=doc_name(doc), index=i, label=rel.label, other=doc_name(rel.doc)))
        records.append(_to_record(rel))
    for key in [key for key in doc.user_data if _is_block_key(key)]:
        del doc.user_data[key]
    if records:
        doc.user_data[("._.", STORE_NAME, 0, len(doc.text))] = records


def add_relations(doc: Doc, relations: Iterable[Relation]) -> None:
    """Append relations to those already on the Doc."""
    set_relations(doc, get_relations(doc) + list(relations))


def set_symmetric_labels(doc: Doc, labels: Iterable[str]) -> None:
    """Declare relation labels symmetric on a Doc (r(a, b) == r(b, a)): a relation with
    such a label holds in both directions, whichever one its record names.

    doc (Doc): The document (usually a gold one, written by a converter).
    labels (Iterable[str]): The labels; empty removes the declaration.
    """
    for key in [key for key in doc.user_data if _is_symmetric_key(key)]:
        del doc.user_data[key]
    labels = sorted(set(labels))
    if labels:
        doc.user_data[("._.", SYMMETRIC_STORE_NAME, 0, len(doc.text))] = labels


def get_symmetric_labels(doc: Doc) -> Tuple[str, ...]:
    """The relation labels a Doc declares symmetric (of every document a merged Doc
    was made of).

    doc (Doc): The document.
    RETURNS (Tuple[str, ...]): The labels, sorted; () when none are declared.
    """
    labels = {label for key, value in doc.user_data.items() if _is_symmetric_key(key) for label in value}
    return tuple(sorted(labels))


def _is_symmetric_key(key: Any) -> bool:
    return isinstance(key, tuple) and len(key) == 4 and key[0] == "._." and key[1] == SYMMETRIC_STORE_NAME


def align_relations(example: Example) -> Tuple[List[Relation], List[Relation]]:
    """Map the gold relations of `example.reference` onto `example.predicted`.

    Tokenizations may differ; a relation is aligned when both arguments (and every
    rationale span) start and end on token boundaries of the predicted Doc.

    example (Example): The training example.
    RETURNS (Tuple[List[Relation], List[Relation]]): Aligned relations (spans of
        `example.predicted`) and the gold relations that could not be aligned.
    """
    aligned, missed = [], []
    same_text = same_texts(example)
    for rel in get_relations(example.reference):
        head, tail = align_span(example, rel.head, same_text), align_span(example, rel.tail, same_text)
        rationale = [align_span(example, span, same_text) for span in rel.rationale]
        if head is None or tail is None or None in rationale:
            missed.append(rel)
        else:
            aligned.append(Relation(head=head, tail=tail, label=rel.label, score=rel.score, source=rel.source,
                                    rationale=tuple(rationale), rules=rel.rules))
    return aligned, missed


def same_texts(example: Example) -> bool:
    """Whether the predicted and reference Docs have the same text (`align_span`'s fast
    path). Computed once per example: `Doc.text` joins every token anew on each call,
    which per span made a 600-token document's mentions cost half a training step."""
    return example.predicted.text == example.reference.text


def align_span(example: Example, span: Span, same_text: Optional[bool] = None) -> Optional[Span]:
    """The span of `example.predicted` covering the same characters as a reference
    span, with its label and id kept; None if the tokenizations do not align there.

    same_text (Optional[bool]): `same_texts(example)`, if the caller has it already.
    """
    x = example.predicted
    if same_text is None:
        same_text = same_texts(example)
    same = x[span.start : span.end] if span.end <= len(x) and same_text else None
    if same is not None and (same.start_char, same.end_char) == (span.start_char, span.end_char):
        start, end = span.start, span.end  # same tokens here: the common case, no alignment needed
    else:
        mapped = example.get_aligned_spans_y2x([span], allow_overlap=True)
        if len(mapped) != 1 or mapped[0].text != span.text:
            return None
        start, end = mapped[0].start, mapped[0].end
    return Span(x, start, end, label=span.label_, kb_id=span.kb_id_, span_id=span.id_)


def _is_block_key(key: Any) -> bool:
    return isinstance(key, tuple) and len(key) == 4 and key[0] == "._." and key[1] == STORE_NAME


def _token_starting_at(doc: Doc, start_char: int) -> Optional[int]:
    """The token where a block starts, or None when no token starts at its first
    character any more (a retokenized merged Doc)."""
    if start_char == 0:
        return 0
    for token in doc:  # only merged Docs (Doc.from_docs) have blocks not at 0
        if token.idx == start_char:
            return token.i
    return None


def _to_record(rel: Relation) -> Dict[str, Any]:
    """The plain-data record of a relation (the block starts at the Doc's first token
    and character, so offsets are the spans' own)."""

    def span_data(span: Span) -> List[Any]:
        return [span.start, span.end, span.label_, span.id_]

    spans = (rel.head, rel.tail, *rel.rationale)
    return {
        "head": span_data(rel.head),
        "tail": span_data(rel.tail),
        "label": rel.label,
        "score": rel.score,
        "source": rel.source,
        "rationale": [[s.start, s.end] for s in rel.rationale],
        "rules": list(rel.rules),
        "chars": [[s.start_char, s.end_char] for s in spans],  # head, tail, then the rationale
    }


def _from_record(doc: Doc, record: Dict[str, Any], start_char: int, offset: Optional[int], index: int) -> Relation:
    chars = record.get("chars")  # absent from records written by earlier versions

    def make_span(data: Sequence[Any], k: int, arg: str) -> Span:
        label = data[2] if len(data) > 2 else ""
        span_id = data[3] if len(data) > 3 else ""
        if chars is None:
            if offset is None:
                raise ValueError(Errors.E004.format(index=index, start=start_char, end=start_char, length=len(doc)))
            start, end = int(data[0]) + offset, int(data[1]) + offset
            if not 0 <= start <= end <= len(doc):
                raise ValueError(Errors.E004.format(index=index, start=start, end=end, length=len(doc)))
            return Span(doc, start, end, label=label, span_id=span_id)
        first, last = start_char + chars[k][0], start_char + chars[k][1]
        if offset is not None:
            start, end = int(data[0]) + offset, int(data[1]) + offset
            if 0 <= start < end <= len(doc):
                span = Span(doc, start, end, label=label, span_id=span_id)
                if span.start_char == first and span.end_char == last:
                    return span  # the tokens are unchanged: the common case
        # Retokenized since the relation was written: find the span by its characters.
        span = doc.char_span(first, last, label=label, span_id=span_id, alignment_mode="strict")
        if span is None or len(span) == 0:
            raise ValueError(
                Errors.E011.format(index=index, label=record["label"], doc=doc_name(doc), arg=arg, start=first,
                                   end=last, text=doc.text[first:last])
            )
        return span

    return Relation(
        head=make_span(record["head"], 0, "head"),
        tail=make_span(record["tail"], 1, "tail"),
        label=record["label"],
        score=record["score"],
        source=record["source"],
        rationale=tuple(make_span(s, 2 + i, f"rationale[{i}]") for i, s in enumerate(record["rationale"])),
        rules=tuple(record["rules"]),
    )


def _arg_name(k: int) -> str:
    """The name of a relation's k-th span: head, tail, then rationale[i]."""
    return ("head", "tail")[k] if k < 2 else f"rationale[{k - 2}]"


def doc_name(doc: Optional[Doc]) -> str:
    """The first 40 characters of a Doc's text, to name it in a message."""
    text = doc.text if doc is not None else ""
    return text[:40] + ("..." if len(text) > 40 else "")


# Every module that reads or writes relations imports this one: registering the extension
# here gives them `doc._.relations` without the package import doing it (the package
# imports its names lazily, so that `python -m spacy_relext --help` stays fast).
install_extensions()
