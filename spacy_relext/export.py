"""`export`: a pipeline's predictions in the formats of annotation tools, for pre-annotation.

Annotators then correct predictions instead of starting from scratch, and the corrected
export goes back through `convert` (the round trip keeps every entity and relation):

- `prodigy`: JSONL tasks for `rel.manual` (tokens, spans, relations with `head`/`child`
  as the last token of each argument and `head_span`/`child_span`), no `answer`; each
  relation carries its `score`, and `meta` names the pipeline.
- `labelstudio`: a JSON list of tasks whose `predictions` hold `labels` and `relation`
  results with scores, for a labelling config whose `<Labels>` is named "label" and whose
  `<Text>` is named "text" reading `$text`.
- `brat`: a directory of `.txt` + `.ann` files (T and R lines, `*` equivalence sets for
  mentions sharing a cluster id, scores as annotator notes) and an `annotation.conf`
  declaring the types.

Mentions are `doc.spans["entities"]` when the Doc has that group, else `doc.ents`, plus
any relation argument not among them.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple, Union

from spacy.tokens import Doc, Span

from .entities import ENTITY_GROUP
from .errors import Errors
from .safe_write import atomic_output, check_outputs

PathLike = Union[str, Path]
LS_FROM_NAME, LS_TO_NAME = "label", "text"


def doc_mentions(doc: Doc) -> List[Span]:
    """The mentions to export: the span group or `doc.ents`, plus the relation arguments at
    offsets no mention has, each once."""
    spans = list(doc.spans[ENTITY_GROUP]) if ENTITY_GROUP in doc.spans else list(doc.ents)
    unique: Dict[Tuple[int, int, str], Span] = {(s.start, s.end, s.label_): s for s in spans}
    offsets = {(start, end) for start, end, _ in unique}
    for arg in (arg for rel in doc._.relations for arg in (rel.head, rel.tail)):
        if (arg.start, arg.end) not in offsets:
            unique[(arg.start, arg.end, arg.label_)] = arg
            offsets.add((arg.start, arg.end))
    return sorted(unique.values(), key=lambda s: (s.start, s.end, s.label_))


def argument_index(mentions: Sequence[Span]) -> Callable[[Span], int]:
    """Find a relation argument among the mentions: same offsets and type, else same offsets."""
    exact = {(m.start, m.end, m.label_): i for i, m in enumerate(mentions)}
    by_offsets: Dict[Tuple[int, int], int] = {}
    for i, m in enumerate(mentions):
        by_offsets.setdefault((m.start, m.end), i)
    return lambda span: exact.get((span.start, span.end, span.label_), by_offsets[(span.start, span.end)])


def prodigy_task(doc: Doc, source: str) -> Dict[str, Any]:
    """One Prodigy `rel.manual` task with the Doc's predictions."""
    tokens = [{"text": t.text, "start": t.idx, "end": t.idx + len(t), "id": t.i, "ws": bool(t.whitespace_)}
              for t in doc]
    mentions = doc_mentions(doc)
    index = argument_index(mentions)

    def span_data(span: Span) -> Dict[str, Any]:
        return {"start": span.start_char, "end": span.end_char, "token_start": span.start,
                "token_end": span.end - 1, "label": span.label_ or "ENTITY"}

    spans = [span_data(m) for m in mentions]
    relations = []
    for rel in doc._.relations:
        head, child = spans[index(rel.head)], spans[index(rel.tail)]
        relations.append({"head": head["token_end"], "child": child["token_end"], "head_span": head,
                          "child_span": child, "label": rel.label, "score": rel.score})
    return {"text": doc.text, "tokens": tokens, "spans": spans, "relations": relations, "meta": {"source": source}}


def labelstudio_task(doc: Doc, source: str) -> Dict[str, Any]:
    """One Label Studio task whose `predictions` hold the Doc's entities and relations."""
    mentions = doc_mentions(doc)
    index = argument_index(mentions)
    ids = [f"e{i}" for i in range(len(mentions))]
    result: List[Dict[str, Any]] = [
        {"id": ids[i], "from_name": LS_FROM_NAME, "to_name": LS_TO_NAME, "type": "labels",
         "value": {"start": m.start_char, "end": m.end_char, "text": m.text, "labels": [m.label_ or "ENTITY"]}}
        for i, m in enumerate(mentions)
    ]
    result += [
        {"from_id": ids[index(rel.head)], "to_id": ids[index(rel.tail)], "type": "relation", "direction": "right",
         "labels": [rel.label], "score": rel.score}
        for rel in doc._.relations
    ]
    scores = [rel.score for rel in doc._.relations]
    prediction = {"model_version": source, "score": min(scores) if scores else 1.0, "result": result}
    return {"data": {"text": doc.text}, "predictions": [prediction]}


def brat_annotations(doc: Doc) -> Tuple[str, List[str], List[str]]:
    """The `.ann` text of a Doc, and the entity and relation types it uses."""
    mentions = doc_mentions(doc)
    index = argument_index(mentions)
    lines = [f"T{i + 1}\t{m.label_ or 'ENTITY'} {m.start_char} {m.end_char}\t{m.text}" for i, m in enumerate(mentions)]
    clusters: Dict[str, List[int]] = {}
    for i, m in enumerate(mentions):
        if m.id_:
            clusters.setdefault(m.id_, []).append(i + 1)
    lines += ["*\tEquiv " + " ".join(f"T{k}" for k in members) for members in clusters.values() if len(members) > 1]
    for k, rel in enumerate(doc._.relations, start=1):
        lines.append(f"R{k}\t{rel.label} Arg1:T{index(rel.head) + 1} Arg2:T{index(rel.tail) + 1}")
        lines.append(f"#{k}\tAnnotatorNotes R{k}\tscore {rel.score:.4f}")
    types = sorted({m.label_ or "ENTITY" for m in mentions})
    return "".join(line + "\n" for line in lines), types, sorted({rel.label for rel in doc._.relations})


def brat_config(entity_types: Iterable[str], relation_types: Iterable[str]) -> str:
    """An `annotation.conf` declaring the types, overlapping mentions and equivalence sets."""
    lines = ["[entities]", *sorted(entity_types), "", "[relations]"]
    lines += [f"{label}\tArg1:<ENTITY>, Arg2:<ENTITY>" for label in sorted(relation_types)]
    lines += ["Equiv\tArg1:<ENTITY>, Arg2:<ENTITY>, <REL-TYPE>:symmetric-transitive",
              "<OVERLAP>\tArg1:<ENTITY>, Arg2:<ENTITY>, <OVL-TYPE>:<ANY>", "", "[events]", "", "[attributes]", ""]
    return "\n".join(lines)


EXPORTERS = ("prodigy", "labelstudio", "brat")


def export_docs(
    fmt: str, docs: Iterable[Doc], output: PathLike, *, source: str = "", inputs: Sequence[PathLike] = (),
    overwrite: bool = False
) -> int:
    """Write Docs with predicted entities and relations in an annotation tool's format.

    fmt (str): "prodigy" (a .jsonl file), "labelstudio" (a .json file) or "brat" (a directory).
    docs (Iterable[Doc]): Docs with entities and `doc._.relations`.
    output (Path): The file or directory to write (through a temporary path).
    source (str): The pipeline's name, stored as the prediction's source.
    inputs (Sequence[Path]): What the command read: an output replacing one is E110.
    overwrite (bool): Replace an existing output (else E112).
    RETURNS (int): The number of Docs written.
    """
    if fmt not in EXPORTERS:
        raise ValueError(Errors.E126.format(name=fmt, available=", ".join(EXPORTERS)))
    output = Path(output)
    check_outputs([output], inputs, overwrite=overwrite, is_dir=fmt == "brat")
    docs = list(docs)
    with atomic_output(output) as tmp:
        if fmt == "prodigy":
            tmp.write_text("".join(json.dumps(prodigy_task(doc, source)) + "\n" for doc in docs), encoding="utf8")
        elif fmt == "labelstudio":
            tmp.write_text(json.dumps([labelstudio_task(doc, source) for doc in docs], indent=1), encoding="utf8")
        else:
            tmp.mkdir()
            entity_types, relation_types = set(), set()
            width = len(str(len(docs)))
            for i, doc in enumerate(docs, start=1):
                ann, entities, relations = brat_annotations(doc)
                entity_types.update(entities)
                relation_types.update(relations)
                # newline="" : brat offsets count characters, so line ends are written as they are
                with (tmp / f"doc{i:0{width}d}.txt").open("w", encoding="utf8", newline="") as f:
                    f.write(doc.text)
                (tmp / f"doc{i:0{width}d}.ann").write_text(ann, encoding="utf8")
            (tmp / "annotation.conf").write_text(brat_config(entity_types, relation_types), encoding="utf8")
    return len(docs)


def read_texts(path: PathLike) -> List[str]:
    """Texts to pre-annotate: a `.jsonl` file of `{"text": ...}` records, or a text file
    with one document per non-empty line."""
    from .convert.common import field, json_lines, read_text

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(Errors.E127.format(path=path, reason="not found"))
    if path.suffix == ".jsonl":
        texts = []
        for record in json_lines(path):
            try:
                texts.append(field(record.data, "text", "string"))
            except ValueError as e:
                raise ValueError(Errors.E101.format(path=path, record=record.id, reason=e)) from None
    else:
        texts = [line for line in read_text(path).splitlines() if line.strip()]
    if not texts:
        raise ValueError(Errors.E127.format(path=path, reason="no text in it"))
    return texts
