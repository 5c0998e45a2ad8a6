"""Registered candidate-pair generators: which ordered entity pairs a component scores.

A generator is built from config and called as `generator(doc, spans_key)`; it returns
ordered `(head, tail)` mention pairs. Components apply it before scoring, in `predict`
and `update` alike, so training and inference see the same candidates.

`spacy-relext.entity_pairs.v2` also bounds the work per document: at most
`max_pairs_per_sentence` pairs between the mentions of one sentence (or one pair of
sentences) and `max_pairs_per_doc` in all, keeping the pairs whose arguments are
nearest (W030 names the Doc and the pairs skipped). `.v1` has no caps.
"""
import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Set, Tuple

import numpy
from spacy.tokens import Doc, Span
from spacy.util import registry

from .entities import get_entities, sentence_starts
from .errors import Errors, Warnings
from .relations import doc_name

PairGenerator = Callable[[Doc, Optional[str]], List[Tuple[Span, Span]]]
SCOPES = ("sentence", "window", "document")
# A Doc longer than this with no sentence boundaries is almost surely several sentences
# read without a sentencizer (document corpora through spacy.Corpus, raw text).
UNSPLIT_DOC_TOKENS = 200
# The caps of spacy-relext.entity_pairs.v2. 2,000 ordered pairs are all pairs of 45
# mentions in one sentence: more than any sentence of CoNLL04 (24 mentions) or SciERC
# (13); 3 of DWIE's 702 documents have a sentence above it. 20,000 pairs take a few
# seconds on one CPU thread (README, "Bounded work per document").
DEFAULT_MAX_PAIRS_PER_SENTENCE = 2000
DEFAULT_MAX_PAIRS_PER_DOC = 20000
# Mention pairs compared per vectorized step (memory: a few bytes each).
BLOCK_PAIRS = 1 << 20


@registry.misc("spacy-relext.entity_pairs.v1")
def make_entity_pairs(
    max_distance: Optional[int] = None,
    scope: str = "sentence",
    window: int = 1,
    allowed_type_pairs: Optional[Sequence[Sequence[str]]] = None,
) -> PairGenerator:
    """Ordered pairs of distinct entity mentions, filtered before scoring, with no cap
    on their number (`spacy-relext.entity_pairs.v2` adds the caps).

    max_distance (Optional[int]): Most tokens between the two mentions (0 = adjacent);
        None for no limit.
    scope (str): "sentence" (same sentence), "window" (at most `window` sentences
        apart) or "document" (any two mentions).
    window (int): Sentence distance allowed with scope "window".
    allowed_type_pairs (Optional[Sequence[Sequence[str]]]): [head_type, tail_type]
        pairs to keep; None keeps every pair.
    RETURNS (PairGenerator): `generator(doc, spans_key) -> [(head, tail), ...]`.
    """
    return make_entity_pairs_v2(max_distance, scope, window, allowed_type_pairs, max_pairs_per_sentence=None,
                                max_pairs_per_doc=None)


@registry.misc("spacy-relext.entity_pairs.v2")
def make_entity_pairs_v2(
    max_distance: Optional[int] = None,
    scope: str = "sentence",
    window: int = 1,
    allowed_type_pairs: Optional[Sequence[Sequence[str]]] = None,
    max_pairs_per_sentence: Optional[int] = DEFAULT_MAX_PAIRS_PER_SENTENCE,
    max_pairs_per_doc: Optional[int] = DEFAULT_MAX_PAIRS_PER_DOC,
) -> PairGenerator:
    """Ordered pairs of distinct entity mentions, filtered before scoring, at most
    `max_pairs_per_sentence` per sentence and `max_pairs_per_doc` per Doc.

    When a cap applies, the pairs whose arguments are fewest tokens apart are kept (ties:
    the earlier mentions first), both directions of a pair together; the kept pairs are
    returned in the uncapped order, and W030 names the Doc and the number skipped.

    max_distance, scope, window, allowed_type_pairs: As `spacy-relext.entity_pairs.v1`.
    max_pairs_per_sentence (Optional[int]): Most pairs between the mentions of one
        sentence (scope "window" or "document": of one pair of sentences); a Doc with
        no sentence boundaries is one sentence. None: no cap.
    max_pairs_per_doc (Optional[int]): Most pairs in a Doc. None: no cap.
    RETURNS (PairGenerator): `generator(doc, spans_key) -> [(head, tail), ...]`.
    """
    if scope not in SCOPES:
        raise ValueError(Errors.E303.format(options=SCOPES, value=scope))
    if max_distance is not None and max_distance < 0:
        raise ValueError(Errors.E304.format(value=max_distance))
    for name, cap in (("max_pairs_per_sentence", max_pairs_per_sentence), ("max_pairs_per_doc", max_pairs_per_doc)):
        if cap is not None and cap < 1:
            raise ValueError(Errors.E305.format(name=name, value=cap))
    allowed = None if allowed_type_pairs is None else {tuple(pair) for pair in allowed_type_pairs}
    max_sent_gap = {"sentence": 0, "window": window, "document": None}[scope]
    return EntityPairs(max_distance, max_sent_gap, allowed, max_pairs_per_sentence, max_pairs_per_doc)


@dataclass(frozen=True)
class EntityPairs:
    """The generator built by `make_entity_pairs` (a class, not a closure, so
    components pickle for `nlp.pipe(n_process=2)` under the spawn start method)."""

    max_distance: Optional[int]
    max_sent_gap: Optional[int]
    allowed: Optional[Set[Tuple[str, ...]]]
    max_pairs_per_sentence: Optional[int] = None
    max_pairs_per_doc: Optional[int] = None

    def __call__(self, doc: Doc, spans_key: Optional[str] = None) -> List[Tuple[Span, Span]]:
        # Empty spans cannot be relation arguments (E008).
        mentions = [m for m in get_entities(doc, spans_key) if m.end > m.start]
        if self.max_sent_gap is not None and len(doc) > UNSPLIT_DOC_TOKENS and not doc.has_annotation("SENT_START"):
            warnings.warn(Warnings.W005.format(limit=UNSPLIT_DOC_TOKENS))
        if len(mentions) < 2:
            return []
        table = _MentionTable(mentions, sentence_starts(doc), self.allowed)
        kept: List[numpy.ndarray] = []  # (5, n) blocks: head, tail, sentence pair, gap, ranking
        total = held = 0
        # Heads in blocks, so that memory stays bounded however many mentions a Doc has.
        step = max(1, BLOCK_PAIRS // len(mentions))
        for first in range(0, len(mentions), step):
            block = self._block(table, first, min(first + step, len(mentions)))
            total += block.shape[1]
            held += block.shape[1]
            kept.append(block)
            if self.max_pairs_per_sentence is not None and held > 2 * BLOCK_PAIRS:
                # Keep each sentence pair's nearest pairs on the way (a pair left out stays
                # out as more arrive); the Doc cap waits for the final sentence cuts.
                kept = [_cap(numpy.concatenate(kept, axis=1), self.max_pairs_per_sentence, by_group=True,
                             final=False)]
                held = kept[0].shape[1]
        found = numpy.concatenate(kept, axis=1)
        if self.max_pairs_per_sentence is not None:
            found = _cap(found, self.max_pairs_per_sentence, by_group=True, final=True)
        if self.max_pairs_per_doc is not None:
            found = _cap(found, self.max_pairs_per_doc, by_group=False, final=True)
        if found.shape[1] < total:
            warnings.warn(Warnings.W030.format(doc=doc_name(doc), total=total, skipped=total - found.shape[1],
                                               per_sentence=self.max_pairs_per_sentence,
                                               per_doc=self.max_pairs_per_doc))
        found = found[:, numpy.lexsort((found[1], found[0]))]  # the uncapped order: by head, then tail
        return [(mentions[i], mentions[j]) for i, j in zip(found[0].tolist(), found[1].tolist())]

    def _block(self, table: "_MentionTable", first: int, last: int) -> numpy.ndarray:
        """The pairs with heads `first:last`, in (head, tail) order, as rows: head,
        tail, sentence pair, token gap, and a key ordering the pairs by their lower and
        higher mention index, then direction."""
        heads = numpy.arange(first, last)
        keep = heads[:, None] != table.index[None, :]
        keep &= (table.starts[heads, None] != table.starts) | (table.ends[heads, None] != table.ends)
        sent_h = table.sents[heads, None]
        if self.max_sent_gap is not None:
            keep &= numpy.abs(sent_h - table.sents) <= self.max_sent_gap
        gap = numpy.maximum(
            0, numpy.maximum(table.starts[heads, None], table.starts) - numpy.minimum(table.ends[heads, None], table.ends)
        )
        if self.max_distance is not None:
            keep &= gap <= self.max_distance
        if table.allowed is not None:
            keep &= table.allowed[table.types[heads]][:, table.types]
        h, t = numpy.nonzero(keep)  # row-major: the order of the nested loops over mentions
        head, tail = heads[h], t
        lo, hi = numpy.minimum(head, tail), numpy.maximum(head, tail)
        sent_lo, sent_hi = numpy.minimum(table.sents[head], table.sents[tail]), numpy.maximum(
            table.sents[head], table.sents[tail]
        )
        n = len(table.index)
        # (lower, higher, direction) in one int64: both directions of a pair stay adjacent.
        return numpy.stack(
            [head, tail, sent_lo * table.n_sents + sent_hi, gap[h, t], (lo * n + hi) * 2 + (head > tail)]
        ).astype("int64")


class _MentionTable:
    """Offsets, sentence and type index of each mention, as arrays."""

    def __init__(self, mentions: List[Span], starts: List[int], allowed: Optional[Set[Tuple[str, ...]]]) -> None:
        self.index = numpy.arange(len(mentions))
        self.starts = numpy.asarray([m.start for m in mentions], dtype="int64")
        self.ends = numpy.asarray([m.end for m in mentions], dtype="int64")
        self.sents = numpy.searchsorted(numpy.asarray(starts), self.starts, side="right") - 1
        self.n_sents = len(starts)
        self.types = numpy.zeros(len(mentions), dtype="int64")
        self.allowed: Optional[numpy.ndarray] = None
        if allowed is not None:
            labels = sorted({m.label_ for m in mentions})
            self.types = numpy.asarray([labels.index(m.label_) for m in mentions], dtype="int64")
            self.allowed = numpy.asarray([[(a, b) in allowed for b in labels] for a in labels], dtype=bool)


def _cap(found: numpy.ndarray, cap: int, *, by_group: bool, final: bool) -> numpy.ndarray:
    """The `cap` nearest pairs of each sentence pair (`by_group`) or of all `found`.

    With `final`, a pair whose other direction falls just past the cut is dropped too,
    so both directions are kept or skipped together.
    """
    if found.shape[1] <= cap:
        return found
    group = found[2] if by_group else numpy.zeros(found.shape[1], dtype="int64")
    order = numpy.lexsort((found[4], found[3], group))
    found, group = found[:, order], group[order]
    first = numpy.searchsorted(group, group, side="left")
    rank = numpy.arange(found.shape[1]) - first
    keep = rank < cap
    if final:
        partner_next = numpy.zeros_like(keep)
        partner_next[:-1] = (found[4, :-1] // 2 == found[4, 1:] // 2) & (group[:-1] == group[1:])
        keep &= ~((rank == cap - 1) & partner_next)
    return found[:, keep]


def token_gap(a: Span, b: Span) -> int:
    """Tokens strictly between two spans (0 when adjacent or overlapping)."""
    return max(0, max(a.start, b.start) - min(a.end, b.end))
