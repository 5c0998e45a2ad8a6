"""Registered candidate-pair generators: which ordered entity pairs a component scores.

A generator is built from config and called as `generator(doc, spans_key)`; it returns
ordered `(head, tail)` mention pairs. Components apply it before scoring, in `predict`
and `update` alike, so training and inference see the same candidates.
"""
import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc, Span
from spacy.util import registry

from .errors import Errors, Warnings
from .entities import get_entities, sentence_index, sentence_starts

PairGenerator = Callable[[Doc, Optional[str]], List[Tuple[Span, Span]]]
SCOPES = ("sentence", "window", "document")
# A Doc longer than this with no sentence boundaries is almost surely several sentences
# read without a sentencizer (document corpora through spacy.Corpus, raw text).
UNSPLIT_DOC_TOKENS = 200


@registry.misc("spacy-relext.entity_pairs.v1")
def make_entity_pairs(
    max_distance: Optional[int] = None,
    scope: str = "sentence",
    window: int = 1,
    allowed_type_pairs: Optional[Sequence[Sequence[str]]] = None,
) -> PairGenerator:
    """Ordered pairs of distinct entity mentions, filtered before scoring.

    max_distance (Optional[int]): Most tokens between the two mentions (0 = adjacent);
        None for no limit.
    scope (str): "sentence" (same sentence), "window" (at most `window` sentences
        apart) or "document" (any two mentions).
    window (int): Sentence distance allowed with scope "window".
    allowed_type_pairs (Optional[Sequence[Sequence[str]]]): [head_type, tail_type]
        pairs to keep; None keeps every pair.
    RETURNS (PairGenerator): `generator(doc, spans_key) -> [(head, tail), ...]`.
    """
    if scope not in SCOPES:
        raise ValueError(Errors.E303.format(options=SCOPES, value=scope))
    if max_distance is not None and max_distance < 0:
        raise ValueError(Errors.E304.format(value=max_distance))
    allowed = None if allowed_type_pairs is None else {tuple(pair) for pair in allowed_type_pairs}
    max_sent_gap = {"sentence": 0, "window": window, "document": None}[scope]
    return EntityPairs(max_distance, max_sent_gap, allowed)


@dataclass(frozen=True)
class EntityPairs:
    """The generator built by `make_entity_pairs` (a class, not a closure, so
    components pickle for `nlp.pipe(n_process=2)` under the spawn start method)."""

    max_distance: Optional[int]
    max_sent_gap: Optional[int]
    allowed: Optional[Set[Tuple[str, ...]]]

    def __call__(self, doc: Doc, spans_key: Optional[str] = None) -> List[Tuple[Span, Span]]:
        mentions = get_entities(doc, spans_key)
        starts = sentence_starts(doc)
        if self.max_sent_gap is not None and len(doc) > UNSPLIT_DOC_TOKENS and not doc.has_annotation("SENT_START"):
            warnings.warn(Warnings.W005.format(limit=UNSPLIT_DOC_TOKENS))
        sent_of = [sentence_index(starts, m.start) for m in mentions]
        pairs = []
        for i, head in enumerate(mentions):
            for j, tail in enumerate(mentions):
                if i == j or (head.start, head.end) == (tail.start, tail.end):
                    continue
                if self.max_sent_gap is not None and abs(sent_of[i] - sent_of[j]) > self.max_sent_gap:
                    continue
                if self.max_distance is not None and token_gap(head, tail) > self.max_distance:
                    continue
                if self.allowed is not None and (head.label_, tail.label_) not in self.allowed:
                    continue
                pairs.append((head, tail))
        return pairs


def token_gap(a: Span, b: Span) -> int:
    """Tokens strictly between two spans (0 when adjacent or overlapping)."""
    return max(0, max(a.start, b.start) - min(a.end, b.end))
