"""Decoding RERE pointer scores into (subject, object) span pairs (Xie et al., 2021, end of
section 4.2; the Cartesian mode follows the authors' code, redreamality/RERE-relation-extraction:
rere/extraction.py, `GetTopSpans` and `EEModel.get_output`).

The input of every function is one query's probabilities over the tokens of one
sentence, shape `(n_tokens, 4)`, channels `(subject start, subject end, object start,
object end)`. Spans are `(start, end, score)` with `end` exclusive, relative to the
sentence. Plain numpy, no model: the span extractor and the tests call these directly.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy

from ..errors import Errors

ScoredSpan = Tuple[int, int, float]
SpanPair = Tuple[ScoredSpan, ScoredSpan, float]

PAIRINGS = ("nearest", "cartesian")
SUBJECT, OBJECT = (0, 1), (2, 3)


def nearest_spans(starts: numpy.ndarray, ends: numpy.ndarray, threshold: float, max_length: int) -> List[ScoredSpan]:
    """The paper's span rule: each start at or above `threshold` is closed by the
    nearest end at or above `threshold` at or after it (within `max_length` tokens).

    starts (numpy.ndarray): Start probabilities, (n_tokens,).
    ends (numpy.ndarray): End probabilities, (n_tokens,).
    threshold (float): Decision threshold for both pointers.
    max_length (int): Longest span, in tokens.
    RETURNS (List[ScoredSpan]): Spans by start; score = min(p_start, p_end).
    """
    end_positions = numpy.flatnonzero(ends >= threshold)
    spans = []
    for start in numpy.flatnonzero(starts >= threshold):
        after = end_positions[(end_positions >= start) & (end_positions < start + max_length)]
        if len(after):
            end = int(after[0])
            spans.append((int(start), end + 1, float(min(starts[start], ends[end]))))
    return spans


def pair_nearest(subjects: Sequence[ScoredSpan], objects: Sequence[ScoredSpan]) -> List[SpanPair]:
    """The paper's pairing rule: each subject takes the objects that start from its own
    start up to the next subject's start. Objects before the first subject go to the
    first subject, and a subject with no object in its window takes the nearest object.

    subjects (Sequence[ScoredSpan]): Subject spans.
    objects (Sequence[ScoredSpan]): Object spans.
    RETURNS (List[SpanPair]): (subject, object, min of their scores).
    """
    subjects = sorted(subjects)
    if not subjects or not objects:
        return []
    pairs = []
    for i, subject in enumerate(subjects):
        lo = subject[0] if i > 0 else -1
        hi = subjects[i + 1][0] if i + 1 < len(subjects) else numpy.inf
        window = [obj for obj in objects if lo <= obj[0] < hi]
        if not window:
            window = [min(objects, key=lambda obj: (abs(obj[0] - subject[0]), obj[0]))]
        pairs.extend((subject, obj, min(subject[2], obj[2])) for obj in window)
    return pairs


def cartesian_spans(
    starts: numpy.ndarray,
    ends: numpy.ndarray,
    texts: Optional[Sequence[str]],
    *,
    max_length: int,
    top_k: int = 40,
    floor: float = 0.1,
) -> List[ScoredSpan]:
    """The released code's span rule (`GetTopSpans`): up to `top_k` starts and ends with
    probability >= `floor`; every span with start <= end and at most `max_length` tokens
    scores `p_start * p_end`, summed over spans with the same surface text (capped at 1); overlapping
    spans are then resolved greedily, best score first (our reading of its nested-span
    heuristic).

    starts (numpy.ndarray): Start probabilities, (n_tokens,).
    ends (numpy.ndarray): End probabilities, (n_tokens,).
    texts (Optional[Sequence[str]]): Token texts, to merge spans with the same surface
        string; None to merge nothing.
    max_length (int): Longest span, in tokens.
    top_k (int): Most starts and most ends considered.
    floor (float): Lowest pointer probability considered.
    RETURNS (List[ScoredSpan]): Non-overlapping spans by start, before any threshold.
    """

    def top(probs: numpy.ndarray) -> numpy.ndarray:
        positions = numpy.flatnonzero(probs >= floor)
        return positions[numpy.argsort(-probs[positions], kind="stable")][:top_k]

    candidates = [
        (int(s), int(e) + 1, float(starts[s] * ends[e]))
        for s in top(starts)
        for e in top(ends)
        if s <= e < s + max_length
    ]
    if texts is not None:
        totals: Dict[str, float] = {}
        for s, e, score in candidates:
            key = " ".join(texts[s:e])
            totals[key] = totals.get(key, 0.0) + score
        candidates = [(s, e, min(1.0, totals[" ".join(texts[s:e])])) for s, e, _ in candidates]
    kept: List[ScoredSpan] = []
    for s, e, score in sorted(candidates, key=lambda span: (-span[2], span[0], span[1])):
        if all(e <= k[0] or k[1] <= s for k in kept):
            kept.append((s, e, score))
    return sorted(kept)


def decode_pointers(
    probs: numpy.ndarray,
    threshold: float,
    *,
    pairing: str = "nearest",
    texts: Optional[Sequence[str]] = None,
    max_length: int = 40,
) -> List[SpanPair]:
    """Decode one query's pointer probabilities into (subject, object) span pairs.

    probs (numpy.ndarray): (n_tokens, 4) probabilities: subject start/end, object start/end.
    threshold (float): "nearest": the threshold of every pointer; "cartesian": the
        threshold of both span scores (`min(score_s, score_o) >= threshold`).
    pairing (str): "nearest" (the paper's rule) or "cartesian" (the released code's).
    texts (Optional[Sequence[str]]): Token texts ("cartesian" merges equal strings).
    max_length (int): Longest argument span, in tokens.
    RETURNS (List[SpanPair]): (subject, object, score) with score >= threshold.
    """
    if pairing not in PAIRINGS:
        raise ValueError(Errors.E601.format(options=PAIRINGS, value=pairing))
    if pairing == "nearest":
        subjects, objects = (
            nearest_spans(probs[:, a], probs[:, b], threshold, max_length) for a, b in (SUBJECT, OBJECT)
        )
        return pair_nearest(subjects, objects)
    subjects, objects = (
        [
            span
            for span in cartesian_spans(probs[:, a], probs[:, b], texts, max_length=max_length)
            if span[2] >= threshold
        ]
        for a, b in (SUBJECT, OBJECT)
    )
    return [(subj, obj, min(subj[2], obj[2])) for subj in subjects for obj in objects]
