"""Registered scorers for relations stored in `doc._.relations`.

Every scorer reads gold relations from `eg.reference._.relations` and predictions from
`eg.predicted._.relations`, and compares arguments by CHARACTER offsets, so the score
does not depend on how either Doc was tokenized. Counts run over gold ∪ predicted: a
gold relation that was never predicted (never even a candidate) is a false negative.
Duplicated predictions count once.

All scorers take `examples` and `**kwargs`, because `Pipe.score` merges the component's
`cfg` (labels, threshold, ...) into the scorer's keyword arguments; unknown keys are
ignored. They share one counting path: relations become hashable keys
`(label, head, tail)` (`relation_keys`) and `count_keys` compares the gold and predicted key
sets of each example with spaCy's `PRFScore`, micro and per label.
"""
import bisect
import functools
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Set, Tuple

from spacy.scorer import PRFScore
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import SimpleFrozenList, registry
from spacy.vocab import Vocab

from .entities import cluster_id, get_entities, sentence_spans
from .errors import Errors, Warnings
from .relations import Relation, get_relations, get_sentence_scores, get_symmetric_labels

Offsets = Tuple[int, int]
ArgKey = Callable[[Span], Hashable]
RelKey = Tuple[str, Any, Any]
Fact = Tuple[str, str, str]
Scorer = Callable[..., Dict[str, Any]]

SEMEVAL_DIRECTIONS = ("(e1,e2)", "(e2,e1)")


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _offsets(span: Span) -> Offsets:
    return (span.start_char, span.end_char)


def _mention_index(doc: Doc, spans_key: Optional[str]) -> Dict[Offsets, Span]:
    """Entity mentions of a Doc by character offsets; {} when the span group is absent
    (a predicted Doc need not carry the reference's span group)."""
    if spans_key is not None and spans_key not in doc.spans:
        return {}
    return {_offsets(span): span for span in get_entities(doc, spans_key)}


def relation_keys(
    relations: Iterable[Relation],
    arg_key: ArgKey,
    *,
    negative_label: Optional[str] = None,
    symmetric_labels: Iterable[str] = (),
) -> Set[RelKey]:
    """Map relations to hashable `(label, head, tail)` keys, one per distinct relation.

    relations (Iterable[Relation]): The relations of one Doc.
    arg_key (Callable[[Span], Hashable]): Identity of an argument (offsets, cluster, ...).
    negative_label (Optional[str]): Relations with this label are left out.
    symmetric_labels (Iterable[str]): Labels whose head/tail order is ignored.
    RETURNS (Set[Tuple[str, Hashable, Hashable]]): The keys.
    """
    symmetric = set(symmetric_labels)
    keys = set()
    for rel in relations:
        if rel.label == negative_label:
            continue
        head, tail = arg_key(rel.head), arg_key(rel.tail)
        if rel.label in symmetric:
            head, tail = sorted((head, tail))
        keys.add((rel.label, head, tail))
    return keys


def count_keys(key_sets: Iterable[Tuple[Set[RelKey], Set[RelKey]]]) -> Tuple[PRFScore, Dict[str, PRFScore]]:
    """Count true/false positives and false negatives over gold ∪ predicted.

    key_sets (Iterable[Tuple[Set, Set]]): (gold keys, predicted keys) per example; the
        first element of every key is its label.
    RETURNS (Tuple[PRFScore, Dict[str, PRFScore]]): Micro counts and counts per label
        (every label present in gold or predictions).
    """
    micro = PRFScore()
    per_label: Dict[str, PRFScore] = defaultdict(PRFScore)
    for gold, pred in key_sets:
        micro.score_set(pred, gold)
        for label in {key[0] for key in gold | pred}:
            per_label[label].score_set({k for k in pred if k[0] == label}, {k for k in gold if k[0] == label})
    return micro, dict(per_label)


def _prf(prefix: str, score: PRFScore) -> Dict[str, float]:
    return {f"{prefix}_p": score.precision, f"{prefix}_r": score.recall, f"{prefix}_f": score.fscore}


def _with_defaults(scorer: Scorer, **defaults: Any) -> Scorer:
    """Bind a registered scorer's config to a scoring function. Keyword arguments given
    at call time (the component's cfg, merged in by `Pipe.score`) take precedence.
    A partial, not a closure: components are pickled for `nlp.pipe(n_process=2)` under
    the spawn start method."""
    return functools.partial(scorer, **defaults)


# ---------------------------------------------------------------------------
# Pair relations
# ---------------------------------------------------------------------------


def score_relations(
    examples: Iterable[Example],
    *,
    negative_label: Optional[str] = None,
    symmetric_labels: Iterable[str] = SimpleFrozenList(),
    spans_key: Optional[str] = None,
    **kwargs: Any,
) -> Dict[str, Any]:
    """Score pair relations in two modes: "Rel" (both argument boundaries, label and
    direction match) and strict "Rel+" (the arguments' entity types match too).

    examples (Iterable[Example]): Examples with gold relations on `eg.reference` and
        predictions on `eg.predicted`.
    negative_label (Optional[str]): "No relation" label, ignored in gold and predictions.
    symmetric_labels (Iterable[str]): Labels whose head/tail order is ignored, besides
        those each reference Doc declares (`set_symmetric_labels`): a symmetric relation
        predicted in either direction, or both, matches its gold relation once.
    spans_key (Optional[str]): Span group holding the entity mentions (default doc.ents);
        used to look up an argument's entity type when its span has no label, and to
        count unreachable gold relations.
    RETURNS (Dict[str, Any]): `rel_p/_r/_f` (micro, Rel), `rel_macro_f` (mean F1 over the
        labels in gold ∪ predictions), `rel_per_type` ({label: {"p", "r", "f"}}),
        `rel_strict_p/_r/_f` (micro, Rel+) and `rel_unreachable` (gold relations whose
        arguments are not both mentions of the predicted Doc, when it has mentions).
    """
    boundary_sets, strict_sets = [], []
    unreachable = 0
    for eg in examples:
        # the labels the reference Doc declares symmetric count too (SciERC's)
        symmetric = tuple(symmetric_labels or ()) + get_symmetric_labels(eg.reference)
        options = {"negative_label": negative_label, "symmetric_labels": symmetric}
        gold_rels, pred_rels = get_relations(eg.reference), get_relations(eg.predicted)
        typed_gold, typed_pred = _typed_arg(eg.reference, spans_key), _typed_arg(eg.predicted, spans_key)
        gold = relation_keys(gold_rels, _offsets, **options)
        boundary_sets.append((gold, relation_keys(pred_rels, _offsets, **options)))
        strict_sets.append(
            (relation_keys(gold_rels, typed_gold, **options), relation_keys(pred_rels, typed_pred, **options))
        )
        mentions = _mention_index(eg.predicted, spans_key)
        if mentions:
            unreachable += sum(1 for _, head, tail in gold if head not in mentions or tail not in mentions)
    micro, per_label = count_keys(boundary_sets)
    strict, _ = count_keys(strict_sets)
    f_scores = [score.fscore for score in per_label.values()]
    return {
        **_prf("rel", micro),
        "rel_macro_f": sum(f_scores) / len(f_scores) if f_scores else 0.0,
        "rel_per_type": {label: score.to_dict() for label, score in sorted(per_label.items())},
        **_prf("rel_strict", strict),
        "rel_unreachable": unreachable,
    }


def _typed_arg(doc: Doc, spans_key: Optional[str]) -> ArgKey:
    """Argument key for the strict mode: offsets plus entity type, the span's own label
    or else that of the mention of `doc` with the same offsets."""
    mentions = _mention_index(doc, spans_key)

    def key(span: Span) -> Tuple[int, int, str]:
        mention = mentions.get(_offsets(span))
        return (*_offsets(span), span.label_ or (mention.label_ if mention is not None else ""))

    return key


@registry.scorers("spacy-relext.relation_scorer.v1")
def make_relation_scorer(
    negative_label: Optional[str] = None, symmetric_labels: Iterable[str] = SimpleFrozenList()
) -> Scorer:
    """Registered pair-relation scorer: `score_relations` with these defaults.

    negative_label (Optional[str]): "No relation" label, ignored when scoring.
    symmetric_labels (Iterable[str]): Labels whose head/tail order is ignored.
    RETURNS (Callable[..., Dict[str, Any]]): The scoring function.
    """
    return _with_defaults(score_relations, negative_label=negative_label, symmetric_labels=tuple(symmetric_labels))


# ---------------------------------------------------------------------------
# SemEval-2010 Task 8
# ---------------------------------------------------------------------------


def score_semeval(examples: Iterable[Example], *, negative_label: str = "Other", **kwargs: Any) -> Dict[str, Any]:
    """Score SemEval-2010 Task 8 sentence classification.

    Each reference Doc has exactly the two marked entities in `doc.ents` (e1, e2 in
    text order). Its gold label is its one relation (label and direction) or Other; the
    predicted label is the highest-scored prediction between the same two mentions (in
    either direction; a prediction labelled `negative_label` means Other) or Other.

    The official score, `semeval_macro_f`, follows the official Perl scorer v1.2
    (semeval2010_task8_scorer-v1.2.pl, "(9+1)-way evaluation taking directionality into
    account"), read from its source: per relation R with directions merged, TP counts
    predictions of R with the correct direction; precision divides by every prediction of
    R in either direction (v1.2 added the wrong-direction ones, the bug fixed since v1.1)
    and recall by every gold R; the macro P, R and F1 are the means of the per-relation
    P, R and F1 over the relations present in the answer key, Other excluded (all 9 on
    the official test set). The key's per-relation counts here are exactly those of
    `_count` with keys (R, direction).

    `semeval_micro_p/_r/_f` is the micro average over the 18 directional labels, Other
    excluded, as RE2 and ATLOP report it. It counts every non-Other prediction; the Perl
    scorer's own micro figure leaves out predictions of relations absent from the key,
    which only differs when the key lacks a relation. `semeval_acc` is the 19-way
    accuracy (Other included).

    examples (Iterable[Example]): One example per SemEval sentence.
    negative_label (str): The label standing for "no relation".
    RETURNS (Dict[str, Any]): `semeval_macro_f`, `semeval_macro_p`, `semeval_macro_r`,
        `semeval_micro_p/_r/_f`, `semeval_acc` and `semeval_per_type` (per relation,
        directions merged, as in the official scorer).
    """
    key_sets = []
    n_docs = n_correct = 0
    for eg in examples:
        ents = eg.reference.ents
        if len(ents) != 2:
            raise ValueError(Errors.E203.format(doc=eg.reference.text[:40], count=len(ents)))
        pair = (_offsets(ents[0]), _offsets(ents[1]))
        gold_label = _semeval_gold(eg.reference, pair, negative_label)
        pred_label = _semeval_prediction(eg.predicted, pair, negative_label)
        n_docs += 1
        n_correct += gold_label == pred_label
        key_sets.append(({gold_label} - {None}, {pred_label} - {None}))
    micro, per_relation = count_keys(key_sets)
    # Macro over the relations of the key, as the Perl scorer's `sort keys %allLabelsAnswer`.
    in_key = [per_relation[label] for label in sorted({g[0] for gold, _ in key_sets for g in gold})]
    n_key = len(in_key) or 1
    return {
        "semeval_macro_p": sum(score.precision for score in in_key) / n_key,
        "semeval_macro_r": sum(score.recall for score in in_key) / n_key,
        "semeval_macro_f": sum(score.fscore for score in in_key) / n_key,
        **_prf("semeval_micro", micro),
        "semeval_acc": n_correct / n_docs if n_docs else 0.0,
        "semeval_per_type": {label: score.to_dict() for label, score in sorted(per_relation.items())},
    }


SemEvalLabel = Optional[RelKey]  # (relation, direction, ""), None for Other


def _semeval_label(rel: Relation, pair: Tuple[Offsets, Offsets], negative_label: str) -> SemEvalLabel:
    if rel.label == negative_label:
        return None
    direction = SEMEVAL_DIRECTIONS[0] if _offsets(rel.head) == pair[0] else SEMEVAL_DIRECTIONS[1]
    return (rel.label, direction, "")


def _semeval_gold(doc: Doc, pair: Tuple[Offsets, Offsets], negative_label: str) -> SemEvalLabel:
    labels = {_semeval_label(rel, pair, negative_label) for rel in get_relations(doc)} - {None}
    if len(labels) > 1:
        raise ValueError(Errors.E204.format(doc=doc.text[:40], labels=sorted(labels)))
    return labels.pop() if labels else None


def _semeval_prediction(doc: Doc, pair: Tuple[Offsets, Offsets], negative_label: str) -> SemEvalLabel:
    between = [rel for rel in get_relations(doc) if {_offsets(rel.head), _offsets(rel.tail)} == set(pair)]
    if not between:
        return None
    return _semeval_label(max(between, key=lambda rel: rel.score), pair, negative_label)


@registry.scorers("spacy-relext.semeval_scorer.v1")
def make_semeval_scorer(negative_label: str = "Other") -> Scorer:
    """Registered SemEval-2010 Task 8 scorer: `score_semeval` with this default.

    negative_label (str): The label standing for "no relation".
    RETURNS (Callable[..., Dict[str, Any]]): The scoring function.
    """
    return _with_defaults(score_semeval, negative_label=negative_label)


# ---------------------------------------------------------------------------
# Triples (RERE, CasRel)
# ---------------------------------------------------------------------------


def score_triples(
    examples: Iterable[Example], *, negative_label: Optional[str] = None, **kwargs: Any
) -> Dict[str, Any]:
    """Score (subject, relation, object) triples, subject = head and object = tail.

    Exact match needs both argument spans to match (character offsets). Partial match,
    as in CasRel and RERE (Xie et al., 2021), only needs the last word of each argument
    to match, where a word is a token of the REFERENCE Doc: an argument is keyed by the
    reference token holding its last non-space character. So a predicted "Wyo" (tokenized
    "Wyo", ".") matches a gold "Wyo." and a predicted "TASS" matches a gold "ITAR-TASS";
    keying by each Doc's own last token made partial recall fall below exact recall
    whenever the tokenizations differed. A predicted Doc whose text differs from the
    reference's in whitespace only is aligned character by character (E210 otherwise).

    Both modes count distinct triples (by exact offsets). In partial mode a gold and a
    predicted triple with the same last words are matched one to one, so two gold
    triples whose subjects end in the same word ("Ada Lovelace", "Lovelace") need two
    predictions; hence every exact match is a partial match, and partial precision and
    recall are never below exact ones.

    examples (Iterable[Example]): Examples with gold and predicted relations.
    negative_label (Optional[str]): "No relation" label, ignored when scoring.
    RETURNS (Dict[str, Any]): `triple_exact_p/_r/_f` and `triple_partial_p/_r/_f`.
    """
    exact_sets = []
    partial = PRFScore()
    for eg in examples:
        to_reference = reference_char_map(eg.predicted.text, eg.reference.text)
        gold = relation_keys(get_relations(eg.reference), _offsets, negative_label=negative_label)
        pred = relation_keys(
            get_relations(eg.predicted),
            functools.partial(aligned_offsets, to_reference=to_reference),
            negative_label=negative_label,
        )
        exact_sets.append((gold, pred))
        last_word = ReferenceWords(eg.reference)
        gold_words, pred_words = (
            Counter((label, last_word(head), last_word(tail)) for label, head, tail in keys) for keys in (gold, pred)
        )
        matched = sum((gold_words & pred_words).values())
        partial.tp += matched
        partial.fp += len(pred) - matched
        partial.fn += len(gold) - matched
    exact, _ = count_keys(exact_sets)
    return {**_prf("triple_exact", exact), **_prf("triple_partial", partial)}


CharMap = Optional[List[int]]  # predicted character index -> reference index; None: same text


def reference_char_map(predicted: str, reference: str) -> CharMap:
    """Align the characters of a predicted Doc's text to the reference text, as spaCy's
    `Example` alignment does: the two may differ in whitespace only.

    predicted (str): The predicted Doc's text.
    reference (str): The reference Doc's text.
    RETURNS (Optional[List[int]]): None when the texts are equal (offsets carry over);
        else, for each predicted character index (and the end of the text), the
        reference index of the same non-space character (whitespace maps to the next
        non-space character).
    """
    if predicted == reference:
        return None
    reference_chars = [i for i, char in enumerate(reference) if not char.isspace()]
    predicted_chars = [i for i, char in enumerate(predicted) if not char.isspace()]
    if [predicted[i] for i in predicted_chars] != [reference[i] for i in reference_chars]:
        raise ValueError(Errors.E210.format(predicted=predicted[:40], reference=reference[:40]))
    reference_chars.append(len(reference))
    char_map, rank = [], 0
    for char in predicted:
        char_map.append(reference_chars[rank])
        rank += not char.isspace()
    return char_map + [len(reference)]


def aligned_offsets(span: Span, to_reference: CharMap) -> Offsets:
    """A predicted span's character offsets in the reference text, from its first to its
    last non-space character (its own offsets when the texts are equal).

    span (Span): A span of the predicted Doc.
    to_reference (Optional[List[int]]): The output of `reference_char_map`.
    RETURNS (Tuple[int, int]): Start and end offsets in the reference text.
    """
    if to_reference is None:
        return _offsets(span)
    text = span.text
    if not text.strip():
        return (to_reference[span.start_char], to_reference[span.start_char])
    first = span.start_char + len(text) - len(text.lstrip())
    last = span.start_char + len(text.rstrip()) - 1
    return (to_reference[first], to_reference[last] + 1)


class ReferenceWords:
    """Partial-match key: the reference token holding an argument's last non-space
    character, found from the argument's character offsets in the reference text.

    reference (Doc): The reference Doc of one example.
    """

    def __init__(self, reference: Doc) -> None:
        self.text = reference.text
        self.starts = [token.idx for token in reference]
        self.ends = [token.idx + len(token.text) for token in reference]

    def __call__(self, offsets: Offsets) -> Offsets:
        """offsets (Tuple[int, int]): An argument in reference characters.
        RETURNS (Tuple[int, int]): The offsets of the reference token holding its last
            non-space character (the argument's own offsets when it has none).
        """
        start, end = offsets
        last = start + len(self.text[start:end].rstrip()) - 1
        if last < start:
            return offsets
        token = bisect.bisect_right(self.starts, last) - 1
        return (self.starts[token], self.ends[token])


@registry.scorers("spacy-relext.triple_scorer.v2")
def make_triple_scorer_v2() -> Scorer:
    """Registered triple scorer.

    RETURNS (Callable[..., Dict[str, Any]]): `score_triples`.
    """
    return score_triples


@registry.scorers("spacy-relext.triple_scorer.v1")
def make_triple_scorer() -> Scorer:
    """The first triple scorer, kept so that configs naming it score as they did: its
    partial match keys an argument by its last token in each Doc's own tokenization, so
    it depends on the tokenizer (partial recall can fall below exact recall). Use v2.

    RETURNS (Callable[..., Dict[str, Any]]): `score_triples_v1`.
    """
    return score_triples_v1


def score_triples_v1(examples: Iterable[Example], *, negative_label: Optional[str] = None,
                     **kwargs: Any) -> Dict[str, Any]:
    """`triple_scorer.v1`: as `score_triples`, with the tokenization-dependent partial match."""
    examples = list(examples)
    last_token = lambda span: _offsets(span[-1:]) if len(span) else _offsets(span)  # noqa: E731
    scores = {}
    for mode, arg_key in (("exact", _offsets), ("partial", last_token)):
        micro, _ = count_keys(
            (relation_keys(get_relations(eg.reference), arg_key, negative_label=negative_label),
             relation_keys(get_relations(eg.predicted), arg_key, negative_label=negative_label))
            for eg in examples
        )
        scores.update(_prf(f"triple_{mode}", micro))
    return scores


# ---------------------------------------------------------------------------
# Sentence-level relation detection (RERE's relation_detector)
# ---------------------------------------------------------------------------


def score_relation_detection(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
    """Score sentence-level relation detection: a decision is (sentence, label).

    Predictions are the labels in `span._.relation_scores` of each sentence of
    `eg.predicted`; a gold relation counts for the predicted sentence holding both of
    its arguments (by character offsets).

    examples (Iterable[Example]): Examples with gold relations and detected relations.
    RETURNS (Dict[str, Any]): `rel_detect_p/_r/_f` (micro) and `rel_detect_per_type`.
    """
    key_sets = []
    for eg in examples:
        sents = sentence_spans(eg.predicted)
        pred = {(label, _offsets(sent)) for sent in sents for label in (get_sentence_scores(sent) or {})}
        gold = set()
        for rel in get_relations(eg.reference):
            start = min(rel.head.start_char, rel.tail.start_char)
            end = max(rel.head.end_char, rel.tail.end_char)
            gold.update((rel.label, _offsets(s)) for s in sents if s.start_char <= start and end <= s.end_char)
        key_sets.append((gold, pred))
    micro, per_label = count_keys(key_sets)
    scores: Dict[str, Any] = _prf("rel_detect", micro)
    scores["rel_detect_per_type"] = {label: score.to_dict() for label, score in sorted(per_label.items())}
    return scores


@registry.scorers("spacy-relext.relation_detection_scorer.v1")
def make_relation_detection_scorer() -> Scorer:
    """Registered sentence-level relation detection scorer.

    RETURNS (Callable[..., Dict[str, Any]]): `score_relation_detection`.
    """
    return score_relation_detection


# ---------------------------------------------------------------------------
# Document-level relations (DocRED, Re-DocRED, DWIE)
# ---------------------------------------------------------------------------

ClusterKey = Tuple[Offsets, ...]


def score_doc_relations(
    examples: Iterable[Example],
    *,
    train_facts: Optional[Set[Fact]] = None,
    spans_key: Optional[str] = None,
    negative_label: Optional[str] = None,
    **kwargs: Any,
) -> Dict[str, Any]:
    """Score document-level relations between entities (clusters of mentions).

    A fact is (head entity, tail entity, label); a relation stated on any mention of an
    entity states the fact for the entity. Entities are identified by the character
    offsets of their mentions, and gold entities are the reference: a gold argument must
    be a mention of the reference Doc (else ValueError E200); a predicted argument belongs
    to its cluster among the predicted Doc's mentions, or else to the reference cluster
    of the mention with the same offsets. A predicted cluster that differs from every gold
    cluster makes its facts wrong (strict end-to-end matching).

    Ign F1 follows DocRED's official evaluation script (code/evaluation.py), read from
    its source: a correct fact is "in train" when any (head mention text, tail mention
    text, label) of its entities is in `train_facts`; Ign precision is
    (correct - correct_in_train) / (n_pred - correct_in_train) while recall stays
    correct / n_gold over ALL gold facts. The paper describes Ign F1 as "excluding
    facts shared with the training set", which would also remove them from the gold side;
    the script, whose figures everyone reports, does not.

    examples (Iterable[Example]): Examples with gold and predicted relations.
    train_facts (Optional[Set[Tuple[str, str, str]]]): Facts of the training set by mention
        names (see `collect_train_facts`); without them Ign F1 equals F1.
    spans_key (Optional[str]): Span group holding the mentions (default doc.ents).
    negative_label (Optional[str]): "No relation" label, ignored when scoring.
    RETURNS (Dict[str, Any]): `docre_p/_r/_f` and `docre_ign_f`.
    """
    train_facts = train_facts or set()
    key_sets = []
    correct_in_train = 0
    for eg in examples:
        gold, pred = entity_facts(eg, spans_key, negative_label)
        key_sets.append((gold, pred))
        text = eg.reference.text
        correct_in_train += sum(1 for fact in gold & pred if _mention_facts(text, fact) & train_facts)
    micro, _ = count_keys(key_sets)
    n_pred = micro.tp + micro.fp
    ign_p = (micro.tp - correct_in_train) / (n_pred - correct_in_train) if n_pred > correct_in_train else 0.0
    recall = micro.recall
    return {
        **_prf("docre", micro),
        "docre_ign_f": 2 * ign_p * recall / (ign_p + recall) if ign_p + recall else 0.0,
    }


def entity_facts(eg: Example, spans_key: Optional[str], negative_label: Optional[str]) -> Tuple[Set[RelKey], Set[RelKey]]:
    """The gold and predicted facts `(label, head cluster, tail cluster)` of an example,
    with the argument matching of `score_doc_relations`."""
    gold_key, pred_key = entity_arg_keys(eg, spans_key)
    gold = relation_keys(get_relations(eg.reference), gold_key, negative_label=negative_label)
    pred = relation_keys(get_relations(eg.predicted), pred_key, negative_label=negative_label)
    return gold, pred


def entity_arg_keys(eg: Example, spans_key: Optional[str]) -> Tuple[ArgKey, ArgKey]:
    """The entity of a gold argument (its reference cluster) and of a predicted one (its
    cluster among the predicted mentions, else the reference cluster with the same
    offsets, else its own offsets)."""
    gold_clusters = _cluster_keys(eg.reference, spans_key)
    pred_clusters = {**gold_clusters, **_cluster_keys(eg.predicted, spans_key)}
    return (
        _gold_cluster_of(eg.reference, gold_clusters, spans_key),
        lambda span: pred_clusters.get(_offsets(span), (_offsets(span),)),
    )


def _cluster_keys(doc: Doc, spans_key: Optional[str]) -> Dict[Offsets, ClusterKey]:
    """Map each mention's offsets to its entity: the sorted offsets of all its mentions."""
    clusters: Dict[str, List[Offsets]] = defaultdict(list)
    for offsets, span in _mention_index(doc, spans_key).items():
        clusters[cluster_id(span)].append(offsets)
    return {offsets: tuple(sorted(members)) for members in clusters.values() for offsets in members}


def _gold_cluster_of(doc: Doc, clusters: Dict[Offsets, ClusterKey], spans_key: Optional[str]) -> ArgKey:
    def key(span: Span) -> ClusterKey:
        if _offsets(span) not in clusters:
            raise ValueError(
                Errors.E200.format(
                    text=span.text, start=span.start, end=span.end, doc=doc.text[:40], spans_key=spans_key
                )
            )
        return clusters[_offsets(span)]

    return key


def _mention_facts(text: str, fact: RelKey) -> Set[Fact]:
    """All (head mention name, tail mention name, label) of an entity-level fact."""
    label, head, tail = fact
    return {(text[hs:he], text[ts:te], label) for hs, he in head for ts, te in tail}


def collect_train_facts(docs: Iterable[Doc], *, spans_key: Optional[str] = None) -> Set[Fact]:
    """Collect the training facts used by Ign F1: every (head mention name, tail mention
    name, label) of every gold relation, over all mentions of both entities, as DocRED's
    `gen_train_facts` does.

    docs (Iterable[Doc]): Training Docs with gold relations and entity mentions.
    spans_key (Optional[str]): Span group holding the mentions (default doc.ents).
    RETURNS (Set[Tuple[str, str, str]]): The facts.
    """
    facts: Set[Fact] = set()
    for doc in docs:
        clusters = _cluster_keys(doc, spans_key)
        for fact in relation_keys(get_relations(doc), _gold_cluster_of(doc, clusters, spans_key)):
            facts |= _mention_facts(doc.text, fact)
    return facts


@registry.scorers("spacy-relext.doc_relation_scorer.v1")
def make_doc_relation_scorer(train_path: Optional[str] = None, spans_key: Optional[str] = None) -> Scorer:
    """Registered document-level scorer: `score_doc_relations` with the training facts
    read from a `.spacy` DocBin (saved with `store_user_data=True`).

    The file is read at the first scoring, not when the pipeline is created: a saved
    pipeline names it in its config, and must load on a machine that does not have it
    (there, Ign F1 is left out of the scores, with warning W033).

    train_path (Optional[str]): Training DocBin; None leaves Ign F1 equal to F1.
    spans_key (Optional[str]): Span group holding the training Docs' mentions (default
        doc.ents), e.g. "entities" for DWIE, whose overlapping mentions are not all
        in doc.ents. Scoring itself reads the component's own spans_key.
    RETURNS (Callable[..., Dict[str, Any]]): The scoring function.
    """
    return DocRelationScorer(train_path, spans_key)


@dataclass
class DocRelationScorer:
    """The scorer `make_doc_relation_scorer` builds (a class, so that components pickle
    for `nlp.pipe(n_process=2)`); the training facts are read once, when first needed."""

    train_path: Optional[str]
    spans_key: Optional[str]
    facts: Optional[Set[Fact]] = field(default=None, repr=False)
    missing: bool = False

    def __call__(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        facts = self.train_facts()
        scores = score_doc_relations(examples, **{"train_facts": facts or set(), **kwargs})
        if facts is None:  # no training file here: an Ign F1 equal to F1 would be wrong
            scores.pop("docre_ign_f")
        return scores

    def train_facts(self) -> Optional[Set[Fact]]:
        """The training facts; an empty set without `train_path`; None (with W033, once)
        when the file does not exist here. E202 for a file that is not a DocBin with
        gold relations."""
        if self.train_path is None:
            return set()
        if self.facts is None and not self.missing:
            if not Path(self.train_path).exists():
                warnings.warn(Warnings.W033.format(path=self.train_path))
                self.missing = True
                return None
            try:
                docs = list(DocBin().from_disk(self.train_path).get_docs(Vocab()))
            except (OSError, ValueError) as e:
                raise ValueError(Errors.E202.format(path=self.train_path)) from e
            self.facts = collect_train_facts(docs, spans_key=self.spans_key)
            if not self.facts:
                raise ValueError(Errors.E202.format(path=self.train_path))
        return self.facts
