"""Relation bags, pair sampling and entity blanking for contrastive pre-training (CP).

Sentences are grouped into one bag per relation label. Each epoch every bag is shuffled
and cut into consecutive pairs, so relations are sampled in proportion to their size;
bags with fewer than 2 sentences are dropped and a sentence is never paired with itself.
Each argument is blanked independently with probability `p_blank`, re-sampled each
epoch unless blanking is static (decided once, as in the original code).
"""
import random
from typing import Dict, List, NamedTuple, Sequence, Tuple

from .sentence_pairs import SentencePair


class Bags(NamedTuple):
    """Relation bags over a list of instances.

    pairs (List[SentencePair]): The kept instances, indexed by the bags.
    bags (Dict[str, List[int]]): Relation label -> indices into `pairs` (>= 2 each).
    """

    pairs: List[SentencePair]
    bags: Dict[str, List[int]]

    @property
    def labels(self) -> List[str]:
        return sorted(self.bags)


class PairSample(NamedTuple):
    """Two different sentences of one relation: indices into `Bags.pairs` and the label id."""

    first: int
    second: int
    label_id: int


def build_bags(pairs: Sequence[SentencePair]) -> Bags:
    """Group distinct instances by relation label and drop bags of fewer than 2.

    pairs (Sequence[SentencePair]): Instances (duplicates are removed).
    RETURNS (Bags): The bags.
    """
    by_label: Dict[str, List[SentencePair]] = {}
    for pair in dict.fromkeys(pairs):
        by_label.setdefault(pair.label, []).append(pair)
    kept: List[SentencePair] = []
    bags: Dict[str, List[int]] = {}
    for label in sorted(by_label):
        members = by_label[label]
        if len(members) < 2:
            continue
        bags[label] = list(range(len(kept), len(kept) + len(members)))
        kept.extend(members)
    return Bags(kept, bags)


def sample_pairs(bags: Bags, rng: random.Random) -> List[PairSample]:
    """One epoch of positive pairs: each bag shuffled and cut into consecutive pairs
    (an odd last sentence waits for another epoch), all pairs shuffled.

    bags (Bags): The relation bags.
    rng (random.Random): Source of randomness (seed it per epoch for reproducible resumes).
    RETURNS (List[PairSample]): The pairs of the epoch.
    """
    samples: List[PairSample] = []
    for label_id, label in enumerate(bags.labels):
        members = list(bags.bags[label])
        rng.shuffle(members)
        samples.extend(PairSample(a, b, label_id) for a, b in zip(members[0::2], members[1::2]))
    rng.shuffle(samples)
    return samples


def sample_blanks(n: int, p_blank: float, rng: random.Random) -> List[Tuple[bool, bool]]:
    """Whether to blank (head, tail) of each of `n` instances, each with probability `p_blank`."""
    return [(rng.random() < p_blank, rng.random() < p_blank) for _ in range(n)]


def epoch_rng(seed: int, epoch: int) -> random.Random:
    """The random source of one epoch, so a resumed run replays the same epoch."""
    return random.Random(seed * 100_003 + epoch)


def epoch_blanks(n: int, p_blank: float, seed: int, epoch: int, static: bool) -> List[Tuple[bool, bool]]:
    """The blanking of an epoch: drawn per epoch, or once for all epochs when `static`."""
    return sample_blanks(n, p_blank, random.Random(seed if static else seed * 100_003 + epoch + 7))
