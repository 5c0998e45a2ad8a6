"""Pre-tokenised formats with token-offset arguments: CoNLL04, SciERC, Wiki80, FewRel."""

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..errors import Errors
from ..relations import Relation, set_symmetric_labels
from .common import (
    ENTITY_ROW,
    RELATION_ROW,
    SPAN,
    ConversionError,
    ConversionSummary,
    DocStream,
    Record,
    Shape,
    check,
    check_row,
    check_rows,
    doc_from_sentences,
    doc_from_words,
    field,
    is_kind,
    json_array,
    json_lines,
    read_json,
    set_entities,
    show,
    token_relations,
    token_span,
)

PID_NAMES = "pid2name.json"
# SciERC's relations without a direction (Luan et al., 2018; PL-Marker and SURE
# train and score them in both directions).
SCIERC_SYMMETRIC = ("COMPARE", "CONJUNCTION")


def per_sentence(value: Any, shape: Shape, what: str) -> List[Tuple[Any, ...]]:
    """SciERC's rows grouped by sentence (an array of row arrays), flattened."""
    groups = check(value, "array", what)
    return [r for i, rows in enumerate(groups) for r in check_rows(rows, shape, f"sentence {i} of {what}")]


def conll04(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """CoNLL04 (unified JSON): `[start, end_exclusive, type]` entities, relations by argument offsets."""

    def to_doc(record: Record) -> Doc:
        data = record.data
        doc = doc_from_words(nlp.vocab, field(data, "tokens", "array"))
        entities = check_rows(field(data, "entities", "array"), ENTITY_ROW, "field 'entities'")
        relations = check_rows(field(data, "relations", "array"), RELATION_ROW, "field 'relations'")
        mentions = {(start, end): token_span(doc, start, end, label) for start, end, label in entities}
        doc._.relations = token_relations(relations, mentions, doc, summary)
        set_entities(doc, mentions.values())
        return doc

    return DocStream(json_array(path), to_doc)


def scierc(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """SciERC (DyGIE JSON lines): one Doc per abstract; document-level inclusive ends made exclusive.

    Mentions in a coreference cluster share the id `C<k>`; the others are their own cluster.
    """

    def to_doc(record: Record) -> Doc:
        data = record.data
        doc, _ = doc_from_sentences(nlp.vocab, field(data, "sentences", "array"))
        cluster = {
            (start, end + 1): f"C{k}"
            for k, spans in enumerate(field(data, "clusters", "array", default=[]))
            for start, end in check_rows(spans, SPAN, f"cluster {k} of field 'clusters'")
        }
        mentions = {
            (start, end + 1): token_span(doc, start, end + 1, label, cluster.get((start, end + 1), ""))
            for start, end, label in per_sentence(field(data, "ner", "array"), ENTITY_ROW, "field 'ner'")
        }
        rows = per_sentence(field(data, "relations", "array"), RELATION_ROW, "field 'relations'")
        doc._.relations = token_relations(rows, mentions, doc, summary, inclusive=True)
        set_symmetric_labels(doc, SCIERC_SYMMETRIC)
        set_entities(doc, mentions.values())
        return doc

    return DocStream(json_lines(path), to_doc)


def wiki80(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """Wiki80 (JSON lines): `pos` = [start, end) tokens, QIDs as span ids, `type` as label."""

    def to_doc(record: Record) -> Doc:
        data = record.data
        doc = doc_from_words(nlp.vocab, field(data, "token", "array"))
        head, tail = (_wiki80_argument(doc, field(data, arg, "object"), f"field {arg!r}") for arg in ("h", "t"))
        set_entities(doc, [head, tail])
        doc._.relations = [Relation(head=head, tail=tail, label=field(data, "relation", "string"))]
        return doc

    return DocStream(json_lines(path), to_doc)


def _wiki80_argument(doc: Doc, arg: Dict[str, Any], what: str) -> Span:
    start, end = check_row(field(arg, "pos", "array", what=what), SPAN, f"field 'pos' of {what}")
    return token_span(doc, start, end, field(arg, "type", "string", what=what), field(arg, "id", "string", what=what))


def fewrel(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """FewRel (`{PID: [instances]}`): PIDs named by `pid2name.json` beside the input, as in Wiki80.

    Every occurrence of an argument is a mention with the QID as id; the relation joins
    the first listed occurrence of each.
    """
    names_path = path.parent / PID_NAMES
    if not names_path.exists():
        raise FileNotFoundError(Errors.E102.format(path=names_path, fmt="fewrel"))
    names = {}
    for pid, value in read_json(names_path, dict).items():
        if not (isinstance(value, list) and value and isinstance(value[0], str)):
            reason = f"expected [name, description] (an array starting with a string), got {show(value)}"
            raise ConversionError(Errors.E101.format(path=names_path, record=pid, reason=reason))
        names[pid] = value[0]
    records = []
    for pid, items in read_json(path, dict).items():
        if not isinstance(items, list):
            reason = f"the instances of a relation must be an array, got {show(items)}"
            raise ConversionError(Errors.E101.format(path=path, record=pid, reason=reason))
        records += [Record(path, f"{pid}[{i}]", (pid, item)) for i, item in enumerate(items)]

    def to_doc(record: Record) -> Doc:
        pid, item = record.data
        if pid not in names:
            summary.skip(f"label without a name in {PID_NAMES} (PID kept)")
        doc = doc_from_words(nlp.vocab, field(item, "tokens", "array"))
        head, tail = (_occurrences(doc, field(item, arg, "array"), f"field {arg!r}") for arg in ("h", "t"))
        set_entities(doc, {(s.start, s.end, s.id_): s for s in head + tail}.values())
        doc._.relations = [Relation(head=head[0], tail=tail[0], label=names.get(pid, pid))]
        return doc

    return DocStream(records, to_doc)


FEWREL_ARGUMENT: Shape = (("string", "string", "array"), "[name, id, [token indices of each occurrence]]")


def _occurrences(doc: Doc, arg: Sequence[Any], what: str) -> List[Span]:
    _name, qid, occurrences = check_row(arg, FEWREL_ARGUMENT, what)
    spans = []
    for i, indices in enumerate(occurrences):
        if not (is_kind(indices, "array") and indices and all(is_kind(k, "integer") for k in indices)):
            expected = "a non-empty array of token indices"
            raise ValueError(f"occurrence {i} of {what} must be {expected}, got {show(indices)}")
        if list(indices) != list(range(indices[0], indices[0] + len(indices))):
            raise ValueError(f"token indices {indices!r} of {qid} are not a contiguous run")
        spans.append(token_span(doc, indices[0], indices[-1] + 1, span_id=qid))
    if not spans:
        raise ValueError(f"argument {qid} has no occurrence")
    return spans
