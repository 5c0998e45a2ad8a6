"""Document-level formats with entity clusters: DWIE (raw release) and DocRED-style JSON.

Relations are document-level: one Relation per (head cluster, tail cluster, label),
between the first mention (in text order) of each cluster.
"""

import json
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc, Span

from ..errors import Errors
from ..relations import Relation
from .common import (
    ARG_NO_MENTION,
    DUPLICATE_RELATION,
    NO_MENTION,
    NO_TYPE,
    TYPE_PREFIX,
    ConversionSummary,
    DocStream,
    Record,
    char_span,
    doc_from_sentences,
    first_mentions,
    json_array,
    lookup,
    set_entities,
    token_span,
    type_label,
    unique,
)

# DWIE's own split is a tag per document; the test documents are held back for
# independent evaluation, so a training corpus must never contain them.
DWIE_TEST_DOCUMENT = "document tagged 'test' (DWIE's held-out split, not converted)"

# (head cluster id, label, tail cluster id, rationale sentence indices)
ClusterTriple = Tuple[str, str, str, Tuple[int, ...]]


def dwie(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """DWIE `annos_with_content`: a directory of `DW_*.json` (or one such file).

    Sentences come from spaCy's rule-based sentencizer, plus a break after every line
    break (headlines have no final punctuation). Concept ids become cluster ids `c<id>`;
    the span label is the concept's coarse type (`coarse_type`), and all its types go to
    `doc.spans["entities"].attrs["types"]`. Documents tagged `test` (the official
    held-out split, present in public copies of the release) are skipped and counted.
    """
    files = sorted(path.glob("DW_*.json")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(Errors.E103.format(path=path))
    sentencizer = Sentencizer()

    def to_doc(record: Record) -> Optional[Doc]:
        data = json.loads(record.path.read_text(encoding="utf8"))
        if "test" in data.get("tags", ()):
            summary.skip(DWIE_TEST_DOCUMENT)
            return None
        text = data["content"]
        doc = sentencizer(nlp.make_doc(text))
        for token in doc[:-1]:
            if "\n" in token.text_with_ws and token.is_space:
                doc[token.i + 1].is_sent_start = True
        types = {
            concept["concept"]: [type_label(tag) for tag in concept.get("tags", []) if tag.startswith(TYPE_PREFIX)]
            for concept in data["concepts"]
        }
        mentions = []
        for mention in data["mentions"]:
            begin, end, concept = mention["begin"], mention["end"], mention["concept"]
            label = coarse_type(lookup(types, concept, "concept"))
            if "text" in mention and isinstance(begin, int) and text[begin:end] != mention["text"]:
                raise ValueError(f"mention text {mention['text']!r} differs from content[{begin}:{end}]")
            mentions.append(char_span(doc, begin, end, summary, label, f"c{concept}"))
        clusters = {span.id_ for span in mentions}
        set_entities(doc, mentions, types={f"c{c}": t for c, t in types.items() if f"c{c}" in clusters})
        summary.skip(NO_MENTION, len(types) - len(clusters))
        triples = ((f"c{rel['s']}", rel["p"], f"c{rel['o']}", ()) for rel in data["relations"])
        doc._.relations = cluster_relations(mentions, triples, [], summary)
        return doc

    return DocStream([Record(file, file.stem, None) for file in files], to_doc)


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
        sentences = data["sents"]
        doc, starts = doc_from_sentences(nlp.vocab, sentences)
        mentions = []
        for i, vertex in enumerate(data["vertexSet"]):
            if not vertex:
                summary.skip(NO_MENTION)
            for mention in vertex:
                sent_id, (start, end) = mention["sent_id"], mention["pos"]
                in_sentence = isinstance(sent_id, int) and 0 <= sent_id < len(sentences)
                if not (in_sentence and 0 <= start and end <= len(sentences[sent_id])):
                    raise ValueError(
                        f"mention {mention.get('name')!r} pos {start}:{end} is outside sentence {sent_id!r}"
                    )
                offset = starts[sent_id]
                mentions.append(token_span(doc, offset + start, offset + end, type_label(mention["type"]), f"E{i}"))
        set_entities(doc, mentions)
        triples = (
            (f"E{rel['h']}", rel["r"], f"E{rel['t']}", tuple(rel.get("evidence", ()))) for rel in data.get("labels", [])
        )
        doc._.relations = cluster_relations(mentions, triples, list(doc.sents), summary)
        return doc

    return DocStream(json_array(path), to_doc)


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
