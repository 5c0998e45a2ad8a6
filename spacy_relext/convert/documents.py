"""Document-level formats with entity clusters: DWIE (raw release) and DocRED-style JSON.

Relations are document-level: one Relation per (head cluster, tail cluster, label),
between the first mention (in text order) of each cluster.
"""

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..errors import Errors
from ..relations import Relation
from .common import (
    ARG_NO_MENTION,
    DUPLICATE_RELATION,
    NO_MENTION,
    NO_TYPE,
    SPAN,
    TYPE_PREFIX,
    ConversionSummary,
    DocStream,
    Record,
    char_span,
    check,
    check_row,
    doc_from_sentences,
    field,
    first_mentions,
    json_array,
    lookup,
    read_text,
    set_entities,
    split_sentences,
    text_doc,
    token_span,
    type_label,
    unique,
)

# DWIE's own split is a tag per document; the test documents are held back for
# independent evaluation, so a training corpus must never contain them. `split="test"`
# converts exactly those, for evaluation on DWIE's own test split.
DWIE_SPLITS = ("train", "test")
DWIE_TEST_DOCUMENT = "document tagged 'test' (DWIE's held-out split, not converted)"
DWIE_NOT_TEST_DOCUMENT = "document not tagged 'test' (--dwie-split test converts only DWIE's test split)"

# (head cluster id, label, tail cluster id, rationale sentence indices)
ClusterTriple = Tuple[str, str, str, Tuple[int, ...]]
# (key, kind) of a relation object's head, label and tail
DWIE_TRIPLE = (("s", "id"), ("p", "string"), ("o", "id"))
DOCRED_TRIPLE = (("h", "integer"), ("r", "string"), ("t", "integer"))


def dwie(path: Path, nlp: Language, summary: ConversionSummary, *, split: str = "train") -> DocStream:
    """DWIE `annos_with_content`: a directory of `DW_*.json` (or one such file).

    Sentences come from spaCy's rule-based sentencizer, plus a break after every line
    break (headlines have no final punctuation). Concept ids become cluster ids `c<id>`;
    the span label is the concept's coarse type (`coarse_type`), and all its types go to
    `doc.spans["entities"].attrs["types"]`. Documents tagged `test` (the official
    held-out split, present in public copies of the release) are skipped and counted,
    unless `split` is "test": then exactly those are converted, the others skipped.
    """
    files = dwie_files(path)
    if not files:
        raise FileNotFoundError(Errors.E103.format(path=path))

    def to_doc(record: Record) -> Optional[Doc]:
        data = json.loads(read_text(record.path))
        is_test = "test" in field(data, "tags", "array", default=[])
        if is_test != (split == "test"):
            summary.skip(DWIE_TEST_DOCUMENT if is_test else DWIE_NOT_TEST_DOCUMENT)
            return None
        text = field(data, "content", "string")
        doc = split_sentences(text_doc(nlp, text))
        types = {}
        for i, concept in enumerate(field(data, "concepts", "array")):
            what = f"item {i} of field 'concepts'"
            tags = field(concept, "tags", "array", what=what, default=[])
            types[field(concept, "concept", "id", what=what)] = [
                type_label(tag) for tag in tags if check(tag, "string", f"a tag of {what}").startswith(TYPE_PREFIX)
            ]
        mentions = []
        for i, mention in enumerate(field(data, "mentions", "array")):
            what = f"item {i} of field 'mentions'"
            begin, end = (field(mention, key, "integer", what=what) for key in ("begin", "end"))
            concept = field(mention, "concept", "id", what=what)
            label = coarse_type(lookup(types, concept, "concept"))
            if "text" in mention and text[begin:end] != mention["text"]:
                raise ValueError(f"mention text {mention['text']!r} differs from content[{begin}:{end}]")
            mentions.append(char_span(doc, begin, end, summary, label, f"c{concept}"))
        clusters = {span.id_ for span in mentions}
        set_entities(doc, mentions, types={f"c{c}": t for c, t in types.items() if f"c{c}" in clusters})
        summary.skip(NO_MENTION, len(types) - len(clusters))
        relations = field(data, "relations", "array")
        triples = [
            cluster_triple(rel, DWIE_TRIPLE, "c", f"item {i} of field 'relations'") for i, rel in enumerate(relations)
        ]
        doc._.relations = cluster_relations(mentions, triples, [], summary)
        return doc

    return DocStream([Record(file, file.stem, None) for file in files], to_doc)


def dwie_files(path: Path) -> List[Path]:
    """The DWIE documents `dwie` reads from `path` (a directory, or one file)."""
    return sorted(path.glob("DW_*.json")) if path.is_dir() else [path]


# The ten entity types of the DWIE DocRED-style release (LogiRE's ner2id), most useful
# first; DWIE concepts carry them among finer tags sorted alphabetically ("entity", "gpe0"...).
DWIE_COARSE_TYPES = ("person", "organization", "location", "event", "ethnicity", "time", "role", "money", "misc", "other")
GENERIC_TYPES = ("entity", "value")


def coarse_type(types: List[str]) -> str:
    """One label for a DWIE concept: its coarse type, else its first specific tag."""
    for candidate in DWIE_COARSE_TYPES:
        if candidate in types:
            return candidate
    return next((t for t in types if t not in GENERIC_TYPES), NO_TYPE)


def docred(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """DocRED format (Re-DocRED, DWIE DocRED-style): `vertexSet` clusters `E<index>`, evidence as rationale.

    Labels are kept as given (Wikidata PIDs for Re-DocRED); `type::` prefixes are removed.
    """

    def to_doc(record: Record) -> Doc:
        data = record.data
        sentences = field(data, "sents", "array")
        doc, starts = doc_from_sentences(nlp.vocab, sentences)
        mentions = []
        for i, vertex in enumerate(field(data, "vertexSet", "array")):
            if not check(vertex, "array", f"entity {i} of field 'vertexSet'"):
                summary.skip(NO_MENTION)
            for j, mention in enumerate(vertex):
                what = f"mention {j} of entity {i} of field 'vertexSet'"
                sent_id = field(mention, "sent_id", "integer", what=what)
                start, end = check_row(field(mention, "pos", "array", what=what), SPAN, f"field 'pos' of {what}")
                if not (0 <= sent_id < len(sentences) and 0 <= start and end <= len(sentences[sent_id])):
                    raise ValueError(
                        f"mention {mention.get('name')!r} pos {start}:{end} is outside sentence {sent_id!r}"
                    )
                offset = starts[sent_id]
                label = type_label(field(mention, "type", "string", what=what))
                mentions.append(token_span(doc, offset + start, offset + end, label, f"E{i}"))
        set_entities(doc, mentions)
        labels = field(data, "labels", "array", default=[])
        triples = [
            cluster_triple(rel, DOCRED_TRIPLE, "E", f"item {i} of field 'labels'") for i, rel in enumerate(labels)
        ]
        doc._.relations = cluster_relations(mentions, triples, list(doc.sents), summary)
        return doc

    return DocStream(json_array(path), to_doc)


def cluster_triple(rel: Dict[str, Any], keys: Sequence[Tuple[str, str]], prefix: str, what: str) -> ClusterTriple:
    """(head cluster, label, tail cluster, evidence) of a relation object, checked."""
    head, label, tail = (field(rel, key, kind, what=what) for key, kind in keys)
    evidence = field(rel, "evidence", "array", what=what, default=[])
    return (f"{prefix}{head}", label, f"{prefix}{tail}", tuple(evidence))


def cluster_relations(
    mentions: Iterable[Span], triples: Iterable[ClusterTriple], sentences: Sequence[Span], summary: ConversionSummary
) -> List[Relation]:
    """One Relation per distinct (head, label, tail) between the clusters' first mentions.

    Triples touching a cluster without mentions are skipped and counted.
    """
    first = first_mentions(mentions)
    relations = []
    for head, label, tail, evidence in unique(triples, summary, DUPLICATE_RELATION, key=lambda triple: triple[:3]):
        if head not in first or tail not in first:
            summary.skip(ARG_NO_MENTION)
            continue
        if not all(isinstance(k, int) and 0 <= k < len(sentences) for k in evidence):
            raise ValueError(f"evidence {list(evidence)} of relation {label!r} names a sentence outside the document")
        rationale = tuple(sentences[k] for k in evidence)
        relations.append(Relation(head=first[head], tail=first[tail], label=label, rationale=rationale))
    return relations
