"""Sentence-level relation instances read from `.spacy` corpora.

Contrastive pre-training builds its relation bags from them: one labelled (head, tail)
pair in one sentence. `read_docs` also reads the Docs `diagnose` scores.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab

from ..entities import ENTITY_GROUP, cluster_id, get_entity_clusters, sentence_index, sentence_starts
from ..errors import Errors
from ..relations import get_relations, install_extensions

Offsets = Tuple[int, int]
PathLike = Union[str, Path]


@dataclass(frozen=True)
class SentencePair:
    """One relation instance: a sentence, two disjoint arguments and a label.

    words (Tuple[str, ...]): The sentence's words.
    head (Tuple[int, int]): Head [start, end) offsets inside the sentence.
    tail (Tuple[int, int]): Tail offsets.
    head_type (str): Entity label of the head ("" when unknown).
    tail_type (str): Entity label of the tail.
    label (str): Relation label.
    """

    words: Tuple[str, ...]
    head: Offsets
    tail: Offsets
    head_type: str
    tail_type: str
    label: str


def sentence_key(words: Sequence[str]) -> str:
    """The comparison key of a sentence: lowercased, space-joined words (as SOURCES.md's
    held-out filter matches sentences)."""
    return " ".join(words).lower()


def read_docs(paths: Iterable[PathLike]) -> Iterator[Doc]:
    """Docs (with gold relations) of `.spacy` files."""
    install_extensions()
    vocab = Vocab()
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(Errors.E201.format(path=path))
        yield from DocBin().from_disk(path).get_docs(vocab)


def doc_pairs(doc: Doc, negative_label: Optional[str] = None) -> Iterator[SentencePair]:
    """The sentence-level relation instances of a Doc.

    A relation between document-level entities (mentions grouped by `id_` in the
    "entities" span group, as the DWIE and DocRED converters write them) yields one
    instance for every head mention and tail mention that share a sentence, whichever
    mentions the relation was stored on. Pairs whose arguments lie in different
    sentences, are equal or overlap are skipped. With `negative_label`, a Doc with
    exactly two entities and no relation (the SemEval "Other" case) yields one instance
    of that label, in text order.

    doc (Doc): A Doc with gold relations in doc._.relations.
    negative_label (Optional[str]): Label of relation-less two-entity Docs.
    YIELDS (SentencePair): The instances.
    """
    relations = get_relations(doc)
    starts = sentence_starts(doc)
    if not relations and negative_label is not None and len(doc.ents) == 2:
        yield from _pair(doc, starts, doc.ents[0], doc.ents[1], negative_label)
    clusters = get_entity_clusters(doc, ENTITY_GROUP) if ENTITY_GROUP in doc.spans else {}

    def mentions(span: Span) -> List[Span]:
        return clusters.get(cluster_id(span), [span]) if span.id_ else [span]

    for rel in relations:
        for head in mentions(rel.head):
            for tail in mentions(rel.tail):
                yield from _pair(doc, starts, head, tail, rel.label)


def read_pairs(paths: Iterable[PathLike], negative_label: Optional[str] = None) -> List[SentencePair]:
    """All sentence-level instances of `.spacy` files (see `doc_pairs`), duplicates removed."""
    return list(dict.fromkeys(pair for doc in read_docs(paths) for pair in doc_pairs(doc, negative_label)))


def sentence_keys(paths: Iterable[PathLike]) -> Set[str]:
    """The keys (`sentence_key`) of every sentence of `.spacy` files."""
    keys: Set[str] = set()
    for doc in read_docs(paths):
        starts = sentence_starts(doc)
        for begin, end in zip(starts, starts[1:] + [len(doc)]):
            keys.add(sentence_key([t.text for t in doc[begin:end]]))
    return keys


def overlapping_sentences(pairs: Iterable[SentencePair], held_out: Set[str]) -> List[str]:
    """Sentence keys of `pairs` that are in `held_out` (from `sentence_keys`), sorted."""
    return sorted({sentence_key(p.words) for p in pairs} & held_out)


def _pair(doc: Doc, starts: List[int], head: Span, tail: Span, label: str) -> Iterator[SentencePair]:
    if len(doc) == 0 or (head.start < tail.end and tail.start < head.end):
        return
    sent = sentence_index(starts, head.start)
    if sentence_index(starts, tail.start) != sent or sentence_index(starts, head.end - 1) != sent:
        return
    if sentence_index(starts, tail.end - 1) != sent:
        return
    begin = starts[sent]
    end = starts[sent + 1] if sent + 1 < len(starts) else len(doc)
    yield SentencePair(
        words=tuple(t.text for t in doc[begin:end]),
        head=(head.start - begin, head.end - begin),
        tail=(tail.start - begin, tail.end - begin),
        head_type=head.label_,
        tail_type=tail.label_,
        label=label,
    )
