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
# (13); 3 of DWIE's 702 documents have a sentence above it. 20,000 pairs take seconds
# on one CPU thread, more with long sentences (README, "Bounded work per document").
DEFAULT_MAX_PAIRS_PER_SENTENCE = 2000
DEFAULT_MAX_PAIRS_PER_DOC = 20000
# Mention pairs compared per vectorized step (memory: a few bytes each).
BLOCK_PAIRS = 1 << 18
# Most sentence pairs looked up to bound how far a block's pairs may be and still be kept.
GROUPS_CHECKED = 1 << 16


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
        nearest = _NearestPairs(self.max_pairs_per_sentence, self.max_pairs_per_doc)
        total = 0
        # Heads in blocks, so that memory stays bounded however many mentions a Doc has.
        step = max(1, BLOCK_PAIRS // len(mentions))
        for first in range(0, len(mentions), step):
            block, count = self._block(table, numpy.arange(first, min(first + step, len(mentions))), nearest)
            total += count
            nearest.add(block)
        found = nearest.result()
        if found.shape[1] < total:
            warnings.warn(Warnings.W030.format(doc=doc_name(doc), total=total, skipped=total - found.shape[1],
                                               per_sentence=self.max_pairs_per_sentence,
                                               per_doc=self.max_pairs_per_doc))
        return [(mentions[i], mentions[j]) for i, j in zip(found[0].tolist(), found[1].tolist())]

    def _block(
        self, table: "_MentionTable", heads: numpy.ndarray, nearest: "_NearestPairs"
    ) -> Tuple[numpy.ndarray, int]:
        """The candidate pairs of `heads` that may still be kept, in (head, tail) order,
        as rows: head, tail, sentence pair, token gap, and a key ordering the pairs by
        their lower and higher mention index, then direction; and how many candidate
        pairs `heads` have, those left out as too far to be kept included."""
        # Tails: one run of the sorted mentions, those of the sentences in reach, and of
        # them those near enough (`max_distance`, or the gap the caps still let in).
        lo, hi = 0, len(table.index)
        if self.max_sent_gap is not None:
            lo = int(numpy.searchsorted(table.sents, table.sents[heads[0]] - self.max_sent_gap, side="left"))
            hi = int(numpy.searchsorted(table.sents, table.sents[heads[-1]] + self.max_sent_gap, side="right"))
        left_out = 0
        bound = self.max_distance
        if bound is None:
            bound = nearest.gap_bound(table.sents[heads], table.n_sents, self.max_sent_gap)
        if bound is not None:
            near_lo, near_hi = table.reach(heads, bound)
            if self.max_distance is None:  # beyond `bound`: candidates all the same, only not kept
                left_out = table.count_between(heads, self.max_sent_gap, (lo, near_lo), (near_hi, hi))
            lo, hi = max(lo, near_lo), min(hi, max(near_lo, near_hi))
        tails = table.index[lo:hi]
        starts, ends, sents = table.starts[lo:hi], table.ends[lo:hi], table.sents[lo:hi]
        keep = heads[:, None] != tails[None, :]
        keep &= (table.starts[heads, None] != starts) | (table.ends[heads, None] != ends)
        sent_lo = numpy.minimum(table.sents[heads, None], sents)
        sent_hi = numpy.maximum(table.sents[heads, None], sents)
        if self.max_sent_gap is not None:
            keep &= sent_hi - sent_lo <= self.max_sent_gap
        gap = numpy.maximum(
            0, numpy.maximum(table.starts[heads, None], starts) - numpy.minimum(table.ends[heads, None], ends)
        )
        if self.max_distance is not None:
            keep &= gap <= self.max_distance
        if table.allowed is not None:
            keep &= table.allowed[table.types[heads]][:, table.types[lo:hi]]
        group = sent_lo * table.n_sents + sent_hi
        count = int(numpy.count_nonzero(keep)) + left_out
        keep &= nearest.may_keep(group, gap)
        h, t = numpy.nonzero(keep)  # row-major: the order of the nested loops over mentions
        head, tail = heads[h], tails[t]
        n = len(table.index)
        # (lower, higher, direction) in one int64: both directions of a pair stay adjacent.
        ranking = (numpy.minimum(head, tail) * n + numpy.maximum(head, tail)) * 2 + (head > tail)
        return numpy.stack([head, tail, group[h, t], gap[h, t], ranking]).astype("int64"), count


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
        self.longest = int((self.ends - self.starts).max())
        # Mentions of each type among the first k: counts of tails left out unbuilt.
        n_types = 1 if self.allowed is None else len(self.allowed)
        self.type_counts = numpy.zeros((n_types, len(mentions) + 1), dtype="int64")
        self.type_counts[self.types, self.index + 1] = 1
        self.type_counts = self.type_counts.cumsum(axis=1)

    def reach(self, heads: numpy.ndarray, bound: int) -> Tuple[int, int]:
        """The run of mentions that may lie at most `bound` tokens from one of `heads`:
        every mention outside it is farther (mentions are sorted by start)."""
        earliest = int(self.starts[heads].min()) - bound - self.longest
        latest = int(self.ends[heads].max()) + bound
        return (int(numpy.searchsorted(self.starts, earliest, side="left")),
                int(numpy.searchsorted(self.starts, latest, side="right")))

    def count_between(self, heads: numpy.ndarray, max_sent_gap: Optional[int], *runs: Tuple[int, int]) -> int:
        """The candidate pairs of `heads` with a tail in the `runs` of mentions (heads
        not in them; the tails in each head's sentence reach, of an allowed type)."""
        if max_sent_gap is None:
            first, last = numpy.zeros_like(heads), numpy.full_like(heads, len(self.index))
        else:
            first = numpy.searchsorted(self.sents, self.sents[heads] - max_sent_gap, side="left")
            last = numpy.searchsorted(self.sents, self.sents[heads] + max_sent_gap, side="right")
        tails = numpy.zeros((len(heads), len(self.type_counts)), dtype="int64")  # per head and type
        for start, end in runs:
            a = numpy.maximum(first, start)
            b = numpy.maximum(a, numpy.minimum(last, end))
            tails += (self.type_counts[:, b] - self.type_counts[:, a]).T
        if self.allowed is not None:
            tails *= self.allowed[self.types[heads]]
        return int(tails.sum())


class _NearestPairs:
    """The nearest pairs seen so far (arrays as built by `EntityPairs._block`), pruned
    as blocks arrive, and the caps' final cuts.

    A cut keeps the first pairs by (gap, lower mention, higher mention, direction), and
    drops the last kept pair too when its other direction is the first one cut, so both
    directions are kept or skipped together. On the way, each sentence pair keeps one
    pair more than its cap (for that last check), and the Doc one more than its cap and
    two more for each sentence pair at its cap (the one more it keeps, and the one its
    final cut may drop): a pair left out then stays out whatever arrives later. What a
    pruning keeps also tells how far a later pair may be and still be kept, so that the
    next blocks skip farther pairs before building them.
    """

    def __init__(self, per_sentence: Optional[int], per_doc: Optional[int]) -> None:
        self.per_sentence = per_sentence
        self.per_doc = per_doc
        self.blocks: List[numpy.ndarray] = []
        self.held = 0
        self.next_prune = BLOCK_PAIRS  # doubles with what a pruning keeps: linear time overall
        self.full_groups = numpy.zeros(0, dtype="int64")  # sentence pairs at their bound, sorted
        self.group_gaps = numpy.zeros(0, dtype="int64")  # the largest gap each of them keeps
        self.doc_gap: Optional[int] = None  # the largest gap the Doc keeps, once at its bound

    def add(self, block: numpy.ndarray) -> None:
        self.blocks.append(block)
        self.held += block.shape[1]
        if (self.per_sentence is not None or self.per_doc is not None) and self.held > self.next_prune:
            self._prune()

    def _prune(self) -> None:
        found = numpy.concatenate(self.blocks, axis=1)
        at_cap = 0
        if self.per_sentence is not None:
            found = _cut(found, self.per_sentence + 1, by_group=True)
            groups, counts, largest = _groups(found)
            full = counts > self.per_sentence
            self.full_groups, self.group_gaps = groups[full], largest[full]
            at_cap = int(numpy.count_nonzero(counts >= self.per_sentence))
        if self.per_doc is not None:
            bound = self.per_doc + 1 + 2 * at_cap
            found = _cut(found, bound, by_group=False)
            if found.shape[1] >= bound:
                self.doc_gap = int(found[3].max())
        self.blocks, self.held = [found], found.shape[1]
        self.next_prune = max(BLOCK_PAIRS, 2 * self.held)

    def gap_bound(self, sents: numpy.ndarray, n_sents: int, max_sent_gap: Optional[int]) -> Optional[int]:
        """The largest gap a pair of heads in sentences `sents` (with tails at most
        `max_sent_gap` sentences away) can still be kept with, or None while any gap may
        be: the Doc's, or the largest of the sentence pairs they can fall in, when those
        are all at their bound."""
        bounds = [] if self.doc_gap is None else [self.doc_gap]
        if len(self.full_groups):
            reach = n_sents if max_sent_gap is None else max_sent_gap
            heads = numpy.unique(sents)
            if len(heads) * min(n_sents, 2 * reach + 1) <= GROUPS_CHECKED:  # a bounded check
                others = numpy.arange(-reach, reach + 1)
                tails = (heads[:, None] + others[None, :]).ravel()
                heads = numpy.repeat(heads, len(others))
                inside = (tails >= 0) & (tails < n_sents)
                heads, tails = heads[inside], tails[inside]
                wanted = numpy.minimum(heads, tails) * n_sents + numpy.maximum(heads, tails)
                at = numpy.minimum(numpy.searchsorted(self.full_groups, wanted), len(self.full_groups) - 1)
                if (self.full_groups[at] == wanted).all():
                    bounds.append(int(self.group_gaps[at].max()))
        return min(bounds) if bounds else None

    def may_keep(self, group: numpy.ndarray, gap: numpy.ndarray) -> numpy.ndarray:
        """Whether pairs in sentence pairs `group` with token gaps `gap` can still be kept."""
        keep = numpy.ones(gap.shape, dtype=bool)
        if self.doc_gap is not None:
            keep &= gap <= self.doc_gap
        if len(self.full_groups):
            at = numpy.minimum(numpy.searchsorted(self.full_groups, group), len(self.full_groups) - 1)
            keep &= (self.full_groups[at] != group) | (gap <= self.group_gaps[at])
        return keep

    def result(self) -> numpy.ndarray:
        """The pairs kept by both caps, in the uncapped order (by head, then tail)."""
        found = numpy.concatenate(self.blocks, axis=1)
        if self.per_sentence is not None:
            found = _cut(found, self.per_sentence, by_group=True, pairs_together=True)
        if self.per_doc is not None:
            found = _cut(found, self.per_doc, by_group=False, pairs_together=True)
        return found[:, numpy.lexsort((found[1], found[0]))]


def _cut(found: numpy.ndarray, cap: int, *, by_group: bool, pairs_together: bool = False) -> numpy.ndarray:
    """The `cap` nearest pairs of each sentence pair (`by_group`) or of all `found`
    (sorted by sentence pair, gap and ranking key when any is cut). With
    `pairs_together`, the last kept pair of a cut that its other direction just misses
    is dropped too."""
    if found.shape[1] <= cap:
        return found
    group = found[2] if by_group else numpy.zeros(found.shape[1], dtype="int64")
    order = numpy.lexsort((found[4], found[3], group))
    found, group = found[:, order], group[order]
    rank = numpy.arange(found.shape[1]) - numpy.searchsorted(group, group, side="left")
    keep = rank < cap
    if pairs_together:
        partner_next = numpy.zeros_like(keep)
        partner_next[:-1] = (found[4, :-1] // 2 == found[4, 1:] // 2) & (group[:-1] == group[1:])
        keep &= ~((rank == cap - 1) & partner_next)
    return found[:, keep]


def _groups(found: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The sentence pairs of `found`, sorted, with their number of pairs and largest gap."""
    order = numpy.argsort(found[2], kind="stable")
    groups, first, counts = numpy.unique(found[2, order], return_index=True, return_counts=True)
    largest = numpy.maximum.reduceat(found[3, order], first) if len(first) else numpy.zeros(0, dtype="int64")
    return groups, counts, largest


def token_gap(a: Span, b: Span) -> int:
    """Tokens strictly between two spans (0 when adjacent or overlapping)."""
    return max(0, max(a.start, b.start) - min(a.end, b.end))
