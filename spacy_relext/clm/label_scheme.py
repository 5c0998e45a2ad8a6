"""Directional label space for pair classifiers (SURE / PL-Marker; the authors' code,
Hiaa1/SURE: run_sure.py, `ACEDataset`).

An ordered pair (s, o) gets one class out of `C = 1 + |sym| + 2 * |asym|`:
NIL (0), each symmetric label, each asymmetric label read forward (s -> o) and each
asymmetric label read in reverse (o -> s). Decoding sums the scores of (s, o) with the
re-indexed scores of (o, s), so both directions vote on one decision.
"""
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy

NIL = 0


class DirectionalLabels:
    """The class indices of a directional label space.

    labels (Sequence[str]): The relation labels, in the component's order.
    symmetric (Iterable[str]): The labels with no direction (r(a, b) == r(b, a)).
    """

    def __init__(self, labels: Sequence[str], symmetric: Iterable[str] = ()) -> None:
        symmetric = set(symmetric)
        self.symmetric: Tuple[str, ...] = tuple(label for label in labels if label in symmetric)
        self.asymmetric: Tuple[str, ...] = tuple(label for label in labels if label not in symmetric)
        n_sym, n_asym = len(self.symmetric), len(self.asymmetric)
        self.n_classes = 1 + n_sym + 2 * n_asym
        self._forward: Dict[str, int] = {label: 1 + i for i, label in enumerate(self.symmetric)}
        self._forward.update({label: 1 + n_sym + i for i, label in enumerate(self.asymmetric)})
        # reverse[c] is the class of the same decision read from the other pair (o, s)
        reverse = list(range(self.n_classes))
        for i in range(n_asym):
            reverse[1 + n_sym + i], reverse[1 + n_sym + n_asym + i] = 1 + n_sym + n_asym + i, 1 + n_sym + i
        self.reverse = numpy.asarray(reverse, dtype="int64")
        self._decoded: List[Tuple[Optional[str], bool]] = [(None, False)] * self.n_classes
        for label, c in self._forward.items():
            self._decoded[c] = (label, False)
            if label in self.asymmetric:
                self._decoded[int(self.reverse[c])] = (label, True)

    def encode(self, label: Optional[str], *, reverse: bool = False) -> int:
        """The class of pair (s, o) when `label` holds from s to o (or, with
        `reverse`, from o to s). None encodes NIL.
        """
        if label is None:
            return NIL
        c = self._forward[label]
        return int(self.reverse[c]) if reverse else c

    def decode(self, c: int) -> Tuple[Optional[str], bool]:
        """The label of class `c` and whether it reads from o to s (None for NIL)."""
        return self._decoded[c]

    def is_symmetric(self, c: int) -> bool:
        """Whether class `c` is a symmetric label."""
        return c != NIL and int(self.reverse[c]) == c

    def combine(self, forward: numpy.ndarray, backward: Optional[numpy.ndarray]) -> numpy.ndarray:
        """Sum the log-scores of (s, o) with the re-indexed log-scores of (o, s).

        forward (numpy.ndarray): Log-probabilities of pair (s, o), shape (C,).
        backward (Optional[numpy.ndarray]): Log-probabilities of pair (o, s), or None
            when only (s, o) was scored.
        RETURNS (numpy.ndarray): Combined scores in the class space of (s, o).
        """
        if backward is None:
            return forward
        return forward + backward[self.reverse]


def learn_symmetric_labels(triples: Iterable[Tuple[object, object, str]]) -> List[str]:
    """Labels whose gold relations always also occur reversed.

    triples (Iterable[Tuple[object, object, str]]): (head key, tail key, label) of
        every gold relation.
    RETURNS (List[str]): The symmetric labels, sorted.
    """
    seen = set(triples)
    symmetric: Dict[str, bool] = {}
    for head, tail, label in seen:
        symmetric[label] = symmetric.get(label, True) and (tail, head, label) in seen
    return sorted(label for label, sym in symmetric.items() if sym)


def decode_pairs(
    pairs: Sequence[Tuple[int, Any, Any]], log_probs: numpy.ndarray, scheme: DirectionalLabels
) -> List[Tuple[int, Any, Any, str, float]]:
    """Decode scored ordered pairs into directed relations (the authors' code, Hiaa1/SURE:
    run_sure.py, `evaluate`).

    Both orders of a pair vote: the argmax (NIL included) of the summed log-scores is
    taken, a reverse class flips the direction and a symmetric label gives both
    directions. The score is the geometric mean of the probabilities of the voting
    orders. Then, by descending score, a relation is dropped if a kept one has the
    same label and overlapping head and tail.

    pairs (Sequence[Tuple[int, Span, Span]]): (doc index, head, tail) per row.
    log_probs (numpy.ndarray): (P, C) log-probabilities per row.
    scheme (DirectionalLabels): The label space.
    RETURNS (List[Tuple[int, Span, Span, str, float]]): (doc index, head, tail, label,
        score), by descending score.
    """
    rows = {(i, head.start, head.end, tail.start, tail.end): row for row, (i, head, tail) in enumerate(pairs)}
    found = []
    for row, (i, head, tail) in enumerate(pairs):
        back = rows.get((i, tail.start, tail.end, head.start, head.end))
        if back is not None and back < row:
            continue  # decided together with the earlier row
        combined = scheme.combine(log_probs[row], None if back is None else log_probs[back])
        c = int(numpy.argmax(combined))
        if c == NIL:
            continue
        score = float(numpy.exp(combined[c] / (1 if back is None else 2)))
        label, flipped = scheme.decode(c)
        if scheme.is_symmetric(c):
            found.extend([(i, head, tail, label, score), (i, tail, head, label, score)])
        else:
            found.append((i, tail, head, label, score) if flipped else (i, head, tail, label, score))
    return drop_overlapping(found)


def drop_overlapping(found: List[Tuple[int, Any, Any, str, float]]) -> List[Tuple[int, Any, Any, str, float]]:
    """By descending score, the relations no kept one overlaps: same Doc and label,
    overlapping heads and overlapping tails.

    found (List[Tuple[int, Span, Span, str, float]]): (doc index, head, tail, label, score).
    RETURNS (List[Tuple[int, Span, Span, str, float]]): The kept ones, by descending score.
    """
    found = sorted(found, key=lambda rel: -rel[4])
    # Two relations have overlapping heads and overlapping tails exactly when they share
    # a (head token, tail token) cell, so each kept relation marks its cells and a
    # candidate is checked against those: work per relation is |head| x |tail| tokens,
    # where comparing with every kept relation made decoding quadratic in the pairs.
    kept: List[Tuple[int, Any, Any, str, float]] = []
    taken: Dict[Tuple[int, str], Set[Tuple[int, int]]] = {}
    for rel in found:
        cells = [(h, t) for h in range(rel[1].start, rel[1].end) for t in range(rel[2].start, rel[2].end)]
        seen = taken.setdefault((rel[0], rel[3]), set())
        if seen.isdisjoint(cells):
            kept.append(rel)
            seen.update(cells)
    return kept
