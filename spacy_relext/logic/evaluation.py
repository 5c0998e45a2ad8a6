"""LogiRE's evaluation on top of the document-level scorer: the F1-best threshold scan,
the logic score of gold rules and F1 by entity-pair distance (Ru et al., 2021,
"Learning Logic Rules for Document-level Relation Extraction", section 4 and Figure 4)."""
import ast
import bisect
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import torch
from spacy.training import Example

from ..errors import Errors
from ..relations import get_relations
from ..scorer import ClusterKey, RelKey, count_keys, entity_arg_keys, entity_facts, relation_keys


def best_f1_threshold(scores: Sequence[float], correct: Sequence[bool], n_gold: int) -> Dict[str, Optional[float]]:
    """The threshold that maximises F1 when everything scored at or above it is
    predicted: LogiRE's scan over the sorted scores (the authors' code, rudongyu/LogiRE:
    evaluation.py). Equal scores are
    kept or dropped together; of equally good cuts the highest wins, and the threshold
    lies midway between the last score kept and the next one (a margin on both sides,
    for scores of other documents).

    scores (Sequence[float]): Score per prediction (a list or a 1d tensor).
    correct (Sequence[bool]): Whether each prediction is correct.
    n_gold (int): Number of gold facts (found or not).
    RETURNS (Dict[str, Optional[float]]): `threshold` (None when no prediction is
        correct) and the `f`, `p`, `r` it gives.
    """
    scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    hits = torch.as_tensor(correct, dtype=torch.float64).reshape(-1)
    order = torch.argsort(scores, descending=True, stable=True)
    scores, hits = scores[order], hits[order]
    found = torch.cumsum(hits, 0)
    p = found / torch.arange(1, len(scores) + 1, dtype=torch.float64)
    r = found / max(1, n_gold)
    f = torch.where(found > 0, 2 * p * r / (p + r).clamp(min=1e-12), torch.zeros_like(p))
    f[:-1][scores[1:] == scores[:-1]] = -1.0  # a cut between equal scores is not a threshold
    if not len(f) or float(f.max()) <= 0:
        return {"threshold": None, "f": 0.0, "p": 0.0, "r": 0.0}
    i = int(torch.argmax(f))
    threshold = float(scores[i] + scores[i + 1]) / 2 if i + 1 < len(scores) else float(scores[i])
    return {"threshold": threshold, "f": float(f[i]), "p": float(p[i]), "r": float(r[i])}


def doc_relation_threshold_scan(
    examples: Iterable[Example], *, spans_key: Optional[str] = None, negative_label: Optional[str] = None
) -> Dict[str, Optional[float]]:
    """The best score threshold for document-level relations and its F1, facts matched
    as in `score_doc_relations`: a fact's score is the highest score of the relations
    stating it. LogiRE picks its one global threshold this way on dev.

    examples (Iterable[Example]): Examples with gold and (scored) predicted relations.
    spans_key (Optional[str]): Span group holding the mentions (default doc.ents).
    negative_label (Optional[str]): "No relation" label, ignored.
    RETURNS (Dict[str, Optional[float]]): See `best_f1_threshold`.
    """
    scores: List[float] = []
    correct: List[bool] = []
    n_gold = 0
    for eg in examples:
        gold_key, pred_key = entity_arg_keys(eg, spans_key)
        gold = relation_keys(get_relations(eg.reference), gold_key, negative_label=negative_label)
        facts: Dict[RelKey, float] = {}
        for rel in get_relations(eg.predicted):
            if rel.label != negative_label:
                key = (rel.label, pred_key(rel.head), pred_key(rel.tail))
                facts[key] = max(rel.score, facts.get(key, rel.score))
        n_gold += len(gold)
        scores.extend(facts.values())
        correct.extend(key in gold for key in facts)
    return best_f1_threshold(scores, correct, n_gold)


LogicRule = Tuple[Tuple[str, ...], str]  # (body atoms, "~rel" = inverse; head relation)
# Figure 4 of the LogiRE paper groups DWIE entity pairs by distance into four buckets;
# the text names the 100- and 400-token marks, so the groups read as below (tokens).
DISTANCE_BUCKETS = ((0, 99), (100, 199), (200, 399), (400, None))


def read_logic_rules(path: Union[str, Path]) -> List[LogicRule]:
    """Read gold logic rules in LogiRE's `dwie.grules.txt` format: one rule per line,
    `<number> [<body atom>, ...] <head relation>`, e.g. `25 ['in2', 'in0'] in0` for
    `in0(x, y) <- in2(x, z) ^ in0(z, y)`; an atom `~rel` is the inverse of `rel`.

    path (Union[str, Path]): The rule file.
    RETURNS (List[Tuple[Tuple[str, ...], str]]): (body atoms, head relation) per rule.
    """
    rules = []
    for number, line in enumerate(Path(path).read_text(encoding="utf8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            body_text, head = line.split(" ", 1)[1].rsplit("]", 1)
            body = ast.literal_eval(body_text + "]")
        except (IndexError, ValueError, SyntaxError) as e:
            raise ValueError(Errors.E205.format(path=path, line=number, text=line)) from e
        if not body or not head.strip() or not all(isinstance(atom, str) for atom in body):
            raise ValueError(Errors.E205.format(path=path, line=number, text=line))
        rules.append((tuple(body), head.strip()))
    return rules


def score_logic(
    examples: Iterable[Example],
    rules: Sequence[LogicRule],
    *,
    spans_key: Optional[str] = None,
    negative_label: Optional[str] = None,
    **kwargs: Any,
) -> Dict[str, Any]:
    """LogiRE's "logic" score: the mean precision of gold rules applied to the
    predicted facts, as the authors' `evaluation.py` (`Evaluator.check_rules`)
    computes it, read from its source.

    Per document, a rule's body holds for an entity pair (x, y) when some chain of
    predicted facts `b1(x, z1), b2(z1, z2), ..., bL(zL-1, y)` exists (an inverse atom
    follows a fact backwards); x = y is not excluded, as there. The rule's support is
    the number of such pairs, and its correct count those that also have the head fact
    predicted. Both are summed over the documents; a rule's precision is correct /
    support, and the score is the mean over the rules with support > 0 (rules that
    never fire are left out, as the NaN filtering there does).

    examples (Iterable[Example]): Examples with predicted relations (the gold ones are
        only read for the entity clusters, as in `score_doc_relations`).
    rules (Sequence[Tuple[Tuple[str, ...], str]]): The rules (see `read_logic_rules`).
    spans_key (Optional[str]): Span group holding the mentions (default doc.ents).
    negative_label (Optional[str]): "No relation" label, ignored.
    RETURNS (Dict[str, Any]): `logic` (0.0 when no rule fires), `logic_rules_fired`
        and `logic_per_rule` ({"head <- body": {"correct", "support"}}).
    """
    correct = [0] * len(rules)
    support = [0] * len(rules)
    for eg in examples:
        _, pred = entity_facts(eg, spans_key, negative_label)
        edges: Dict[str, Set[Tuple[ClusterKey, ClusterKey]]] = defaultdict(set)
        for label, head, tail in pred:
            edges[label].add((head, tail))
            edges["~" + label].add((tail, head))
        for i, (body, head_label) in enumerate(rules):
            pairs = edges.get(body[0], set())
            for atom in body[1:]:
                step: Dict[ClusterKey, List[ClusterKey]] = defaultdict(list)
                for a, b in edges.get(atom, ()):
                    step[a].append(b)
                pairs = {(x, y) for x, z in pairs for y in step.get(z, ())}
            support[i] += len(pairs)
            correct[i] += sum(1 for x, y in pairs if (head_label, x, y) in pred)
    fired = [c / s for c, s in zip(correct, support) if s]
    return {
        "logic": sum(fired) / len(fired) if fired else 0.0,
        "logic_rules_fired": len(fired),
        "logic_per_rule": {
            f"{head} <- {' ^ '.join(body)}": {"correct": c, "support": s}
            for (body, head), c, s in zip(rules, correct, support)
        },
    }


def score_doc_relations_by_distance(
    examples: Iterable[Example],
    *,
    buckets: Sequence[Tuple[int, Optional[int]]] = DISTANCE_BUCKETS,
    spans_key: Optional[str] = None,
    negative_label: Optional[str] = None,
    **kwargs: Any,
) -> Dict[str, Any]:
    """Document-level P/R/F1 per entity-pair distance bucket (LogiRE's Figure 4).

    The distance of an entity pair is, as the LogiRE paper defines it, "the number of
    tokens in between the nearest mentions of an entity pair": the minimum over the
    mention pairs of the two entities of the number of tokens of the reference Doc
    that start at or after the end of the earlier mention and before the start of the
    later one (0 for adjacent or overlapping mentions). Every gold and predicted fact
    falls in the bucket of its pair's distance; facts are matched as in
    `score_doc_relations`.

    examples (Iterable[Example]): Examples with gold and predicted relations.
    buckets (Sequence[Tuple[int, Optional[int]]]): Inclusive (low, high) distances,
        high None for no upper bound.
    spans_key (Optional[str]): Span group holding the mentions (default doc.ents).
    negative_label (Optional[str]): "No relation" label, ignored.
    RETURNS (Dict[str, Any]): `docre_distance`: {"low-high" or ">=low": {"p", "r", "f",
        "gold", "pred"}} for every bucket.
    """
    names = [f"{low}-{high}" if high is not None else f">={low}" for low, high in buckets]
    key_sets: Dict[str, List[Tuple[Set[RelKey], Set[RelKey]]]] = {name: [] for name in names}
    for eg in examples:
        gold, pred = entity_facts(eg, spans_key, negative_label)
        starts = [token.idx for token in eg.reference]
        split: Dict[str, Tuple[Set[RelKey], Set[RelKey]]] = {name: (set(), set()) for name in names}
        for side, facts in enumerate((gold, pred)):
            for fact in facts:
                distance = _entity_distance(starts, fact[1], fact[2])
                for name, (low, high) in zip(names, buckets):
                    if low <= distance and (high is None or distance <= high):
                        split[name][side].add(fact)
        for name in names:
            key_sets[name].append(split[name])
    out = {}
    for name in names:
        micro, _ = count_keys(key_sets[name])
        out[name] = {
            "p": micro.precision, "r": micro.recall, "f": micro.fscore,
            "gold": micro.tp + micro.fn, "pred": micro.tp + micro.fp,
        }
    return {"docre_distance": out}


def _entity_distance(token_starts: List[int], head: ClusterKey, tail: ClusterKey) -> int:
    """Tokens between the nearest mentions of two entities (mentions as char offsets)."""
    best = None
    for a in head:
        for b in tail:
            first, second = sorted((a, b))
            gap = max(0, bisect.bisect_left(token_starts, second[0]) - bisect.bisect_left(token_starts, first[1]))
            best = gap if best is None else min(best, gap)
    return best or 0
