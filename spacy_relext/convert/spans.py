"""Pre-tokenised formats with token-offset arguments: CoNLL04, SciERC, Wiki80, FewRel."""
from itertools import accumulate
from pathlib import Path
from typing import Any, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..errors import Errors
from ..relations import Relation
from .common import (
    ConversionSummary,
    DocStream,
    Record,
    argument,
    doc_from_words,
    json_array,
    json_lines,
    read_json,
    set_entities,
    token_span,
)

PID_NAMES = "pid2name.json"


def conll04(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """CoNLL04 (unified JSON): `[start, end_exclusive, type]` entities, relations by argument offsets."""

    def to_doc(record: Record) -> Doc:
        data = record.data
        doc = doc_from_words(nlp.vocab, data["tokens"])
        mentions = {(start, end): token_span(doc, start, end, label) for start, end, label in data["entities"]}
        doc._.relations = [
            Relation(head=argument(mentions, doc, hs, he, summary), tail=argument(mentions, doc, ts, te, summary), label=label)
            for hs, he, ts, te, label in data["relations"]
        ]
        set_entities(doc, mentions.values())
        return doc

    return DocStream(json_array(path), to_doc)


def scierc(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """SciERC (DyGIE JSON lines): one Doc per abstract; document-level inclusive ends made exclusive.

    Mentions in a coreference cluster share the id `C<k>`; the others are their own cluster.
    """

    def to_doc(record: Record) -> Doc:
        data = record.data
        sentences = data["sentences"]
        starts = [0, *accumulate(len(sentence) for sentence in sentences)][:-1]
        doc = doc_from_words(nlp.vocab, [word for sentence in sentences for word in sentence], starts)
        cluster = {(start, end + 1): f"C{k}" for k, spans in enumerate(data.get("clusters", [])) for start, end in spans}
        mentions = {
            (start, end + 1): token_span(doc, start, end + 1, label, cluster.get((start, end + 1), ""))
            for sentence in data["ner"]
            for start, end, label in sentence
        }
        doc._.relations = [
            Relation(
                head=argument(mentions, doc, hs, he + 1, summary),
                tail=argument(mentions, doc, ts, te + 1, summary),
                label=label,
            )
            for sentence in data["relations"]
            for hs, he, ts, te, label in sentence
        ]
        set_entities(doc, mentions.values())
        return doc

    return DocStream(json_lines(path), to_doc)


def wiki80(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """Wiki80 (JSON lines): `pos` = [start, end) tokens, QIDs as span ids, `type` as label."""

    def to_doc(record: Record) -> Doc:
        data = record.data
        doc = doc_from_words(nlp.vocab, data["token"])
        head, tail = (token_span(doc, *data[arg]["pos"], data[arg]["type"], data[arg]["id"]) for arg in ("h", "t"))
        set_entities(doc, [head, tail])
        doc._.relations = [Relation(head=head, tail=tail, label=data["relation"])]
        return doc

    return DocStream(json_lines(path), to_doc)


def fewrel(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """FewRel (`{PID: [instances]}`): PIDs named by `pid2name.json` beside the input, as in Wiki80.

    Every occurrence of an argument is a mention with the QID as id; the relation joins
    the first listed occurrence of each.
    """
    names_path = path.parent / PID_NAMES
    if not names_path.exists():
        raise FileNotFoundError(Errors.E102.format(path=names_path, fmt="fewrel"))
    names = {pid: value[0] for pid, value in read_json(names_path).items()}
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(Errors.E101.format(path=path, record="(whole file)", reason="expected a JSON object {PID: [instances]}"))
    records = [Record(path, f"{pid}[{i}]", (pid, item)) for pid, items in data.items() for i, item in enumerate(items)]

    def to_doc(record: Record) -> Doc:
        pid, item = record.data
        if pid not in names:
            summary.skip(f"label without a name in {PID_NAMES} (PID kept)")
        doc = doc_from_words(nlp.vocab, item["tokens"])
        head, tail = (_occurrences(doc, item[arg]) for arg in ("h", "t"))
        set_entities(doc, {(s.start, s.end, s.id_): s for s in head + tail}.values())
        doc._.relations = [Relation(head=head[0], tail=tail[0], label=names.get(pid, pid))]
        return doc

    return DocStream(records, to_doc)


def _occurrences(doc: Doc, arg: Sequence[Any]) -> List[Span]:
    _name, qid, occurrences = arg
    spans = []
    for indices in occurrences:
        if not indices or list(indices) != list(range(indices[0], indices[0] + len(indices))):
            raise ValueError(f"token indices {indices!r} of {qid} are not a contiguous run")
        spans.append(token_span(doc, indices[0], indices[-1] + 1, span_id=qid))
    if not spans:
        raise ValueError(f"argument {qid} has no occurrence")
    return spans
