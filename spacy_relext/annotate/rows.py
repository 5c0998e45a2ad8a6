"""The rows `annotate` writes: one per relation, one per document, one per bad record.

A relation row holds everything a `Relation` holds, as plain columns: the document id,
both arguments (text, character and token offsets, entity label and cluster id), the
label, score and source component, the rationale segments (character and token
offsets, and text) and the rules. Character offsets index the document's text as read
from the input, so `text[head_start_char:head_end_char] == head_text`.
"""
from typing import Any, Dict, List

from spacy.tokens import Doc, Span

from ..relations import get_relations
from .corpus import Record


def relation_rows(doc: Doc, doc_id: str) -> List[Dict[str, Any]]:
    """One row per relation in `doc._.relations`, in their order.

    doc (Doc): An annotated Doc.
    doc_id (str): Its id in the output.
    RETURNS (List[Dict[str, Any]]): Rows with the columns of `RELATION_COLUMNS`.
    """
    rows = []
    for index, rel in enumerate(get_relations(doc)):
        row: Dict[str, Any] = {"doc_id": doc_id, "index": index}
        for role, span in (("head", rel.head), ("tail", rel.tail)):
            row.update(_span_columns(role, span))
        row.update({
            "label": rel.label,
            "score": rel.score,
            "source": rel.source,
            "rationale": [{"start_char": s.start_char, "end_char": s.end_char, "start": s.start, "end": s.end,
                           "text": s.text} for s in rel.rationale],
            "rules": list(rel.rules),
        })
        rows.append(row)
    return rows


def _span_columns(role: str, span: Span) -> Dict[str, Any]:
    return {f"{role}_text": span.text, f"{role}_start_char": span.start_char, f"{role}_end_char": span.end_char,
            f"{role}_start": span.start, f"{role}_end": span.end, f"{role}_label": span.label_,
            f"{role}_id": span.id_}


def document_row(record: Record, doc: Doc, n_relations: int, partition: str) -> Dict[str, Any]:
    """The row of an annotated document: its id, where it came from, its counts and metadata."""
    return {"doc_id": record.doc_id, "record": record.key, "partition": partition, "n_chars": len(doc.text),
            "n_tokens": len(doc), "n_sents": _n_sents(doc), "n_entities": len(doc.ents), "n_relations": n_relations,
            "meta": record.meta}


def _n_sents(doc: Doc) -> int:
    if not (doc.has_annotation("SENT_START") or doc.has_annotation("DEP")):
        return 0  # no component set sentences: 0 says so, where 1 would claim one sentence
    return sum(1 for _ in doc.sents)


def error_row(record: Record, partition: str) -> Dict[str, Any]:
    """The row of a bad record: its id, where it came from, the reason and the detail."""
    return {"doc_id": record.doc_id, "record": record.key, "partition": partition, "reason": record.error,
            "detail": record.detail}


def schemas() -> Dict[str, Any]:
    """The pyarrow schema of the relation and document tables, fixed so that every part has the same columns and
    types (an empty part too) and the parts read as one dataset."""
    import pyarrow as pa

    span = [(f"{{}}_{name}", kind) for name, kind in (("text", pa.string()), ("start_char", pa.int64()),
                                                     ("end_char", pa.int64()), ("start", pa.int64()),
                                                     ("end", pa.int64()), ("label", pa.string()), ("id", pa.string()))]
    segment = pa.struct([("start_char", pa.int64()), ("end_char", pa.int64()), ("start", pa.int64()),
                         ("end", pa.int64()), ("text", pa.string())])
    relations = pa.schema(
        [("doc_id", pa.string()), ("index", pa.int64())]
        + [(name.format(role), kind) for role in ("head", "tail") for name, kind in span]
        + [("label", pa.string()), ("score", pa.float64()), ("source", pa.string()),
           ("rationale", pa.list_(segment)), ("rules", pa.list_(pa.string()))]
    )
    documents = pa.schema([("doc_id", pa.string()), ("record", pa.string()), ("partition", pa.string()),
                           ("n_chars", pa.int64()), ("n_tokens", pa.int64()), ("n_sents", pa.int64()),
                           ("n_entities", pa.int64()), ("n_relations", pa.int64()), ("meta", pa.string())])
    return {"relations": relations, "documents": documents}
