"""`rationale_masker`: relation classification through continuous, sparse rationales (RE2,
RE2 paper, section 2).

For each candidate pair the model selects a binary mask over the tokens of the pair's
region (the sentence or sentences holding both arguments), scored by importance
`s_i = h_i . (h_e1 + h_e2) / sqrt(D)`, a continuity reward between adjacent selected tokens
and a budget `K = ceil(k_ratio * L)`; it then classifies the pair from the masked tokens
and the entity vectors. Training relaxes the mask (perturb-and-MAP marginals, annealed
temperature); inference takes the exact budgeted MAP mask, which is written with the
relation as its `rationale`: the selected contiguous token segments.

With `pair_level = "cluster"` the pairs are document-level entities (mentions grouped by
`ent_id_` / span `id_`): the argument vectors pool all mentions of each cluster, the
maskable region is the shortest sentence span holding a mention of each (where the two
entities are closest; the solver's cost grows with the square of the region, so a region
over the whole document would be infeasible), and the relation is written between the
first mentions of the two clusters.
"""
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats2d

from ..candidates import PairGenerator
from ..entities import cluster_id, get_entities, get_entity_clusters, sentence_index, sentence_starts, window_around
from ..errors import Errors, Warnings
from ..relation_pipe import (
    BOOL,
    DEFAULT_CANDIDATES,
    DEFAULT_SCORER,
    DEFAULT_TOK2VEC_CONFIG,
    NUMBER,
    OPTIONAL_INT,
    STR_LIST,
    CandidatePairPipe,
    one_of,
    softmax_cross_entropy,
)
from ..relations import Relation
from .architectures import PairRegion, PairRegions, build_masker
from .document_pairs import MODEL_NAME as DOCUMENT_PAIR_MODEL
from .document_pairs import build_classifier as build_document_pair_classifier
from .solver import mask_segments

PAIR_LEVELS = ("mention", "cluster")
# Longest maskable region, in tokens: longer than all but one of the 19,252 sentences of
# DWIE (555 tokens; the next is under 300). The solver's work per pair grows with the
# square of the region (README, "Bounded work per document").
DEFAULT_MAX_REGION_LENGTH = 512
# Annealing length for a component trained without `initialize` or by epochs.
DEFAULT_ANNEAL_STEPS = 1000
# Score key of the fraction of saturated training marginals (printed by spacy train).
SATURATION_SCORE = "rationale_saturation"
RegionPair = Tuple[int, Span, Span, int]  # (doc index, head, tail, region start)

DEFAULT_RATIONALE_MODEL_CONFIG = """
[model]
@architectures = "spacy-relext.RationaleMasker.v2"
k_ratio = 0.6
continuity = true
token_continuity = false
sparsity = true
add_entities = true
masking = true
roles = "untyped"
faithful = false
hidden_width = null
dropout = 0.1
bisection_iters = 20
implicit_gradient = false
perturb = true
straight_through = false
"""
DEFAULT_RATIONALE_MODEL = Config().from_str(DEFAULT_RATIONALE_MODEL_CONFIG + DEFAULT_TOK2VEC_CONFIG)["model"]


@Language.factory(
    "rationale_masker",
    assigns=["doc._.relations"],
    requires=["doc.ents"],
    default_config={
        "model": DEFAULT_RATIONALE_MODEL,
        "candidates": DEFAULT_CANDIDATES,
        "spans_key": None,
        "threshold": 0.0,
        "pair_level": "mention",
        "keep_candidates": False,
        "candidate_floor": 0.0,
        "max_region_length": DEFAULT_MAX_REGION_LENGTH,
        "temperature_start": 1.0,
        "temperature_end": 0.1,
        "anneal_steps": None,
        "multi_label": False,
        "train_on_gold_entities": True,
        "scorer": DEFAULT_SCORER,
    },
    default_score_weights={"rel_f": 1.0, "rel_p": 0.0, "rel_r": 0.0, "rel_macro_f": None, "rel_per_type": None,
                           SATURATION_SCORE: 0.0},
)
def make_rationale_masker(
    nlp: Language,
    name: str,
    model: Model,
    candidates: PairGenerator,
    spans_key: Optional[str],
    threshold: float,
    pair_level: str,
    keep_candidates: bool,
    candidate_floor: float,
    max_region_length: Optional[int],
    temperature_start: float,
    temperature_end: float,
    anneal_steps: Optional[int],
    multi_label: bool,
    train_on_gold_entities: bool,
    scorer: Optional[Callable],
) -> "RationaleMasker":
    """Create a `rationale_masker` component.

    model (Model): A `spacy-relext.RationaleMasker.v2` (or v1) model, or a
        `spacy-relext.DocumentPairClassifier.v1`: the document-level backbone without
        rationales (every pair of entity clusters across sentences; it needs
        `pair_level = "cluster"`, and with `multi_label` its output is ATLOP's).
    candidates (PairGenerator): Which ordered mention pairs to classify.
    spans_key (Optional[str]): Read mentions from `doc.spans[spans_key]` instead of `doc.ents`.
    threshold (float): Relations whose probability is below it are not written. The
        decision is the argmax over the labels and the negative class.
    pair_level (str): "mention" (pairs of mentions) or "cluster" (pairs of entity
        clusters, for document-level relations).
    keep_candidates (bool): Write every label of every candidate pair with its
        probability, below the threshold and for pairs decided negative too (the
        scores a `logic_reasoner` backbone needs). Evaluation then counts them all.
    candidate_floor (float): With `keep_candidates`, labels whose probability is below
        it are not written (0 writes all). A document-level backbone has dozens of labels
        per entity pair, and a `logic_reasoner` reads an unwritten label as very unlikely,
        so a floor such as 0.01 saves most of the time and memory at little cost.
    max_region_length (Optional[int]): Most tokens a pair's rationale is chosen from. A
        longer region (a very long sentence, or a long text without sentence
        boundaries) is cut to a window of this many tokens centred on the two
        arguments, with a warning (W031): the solver's work per pair grows with the
        square of the region. None: no limit.
    temperature_start (float): Relaxation temperature at the first update.
    temperature_end (float): Temperature reached after `anneal_steps` updates.
    anneal_steps (Optional[int]): Updates of the geometric annealing; null (the
        default): `[training] max_steps`, so the run ends at `temperature_end` whatever
        its length; 0: always `temperature_end`.
    multi_label (bool): A pair may hold several labels (document-level data): every gold
        label of a pair is a target, and the output is an adaptive threshold (the
        negative class's logit is each pair's threshold; ATLOP, Zhou et al. 2021)
        instead of a softmax over single labels.
    train_on_gold_entities (bool): Pair the gold mentions in training.
    scorer (Optional[Callable]): The scoring method.
    """
    return RationaleMasker(
        nlp.vocab,
        model,
        name,
        candidates=candidates,
        spans_key=spans_key,
        threshold=threshold,
        pair_level=pair_level,
        keep_candidates=keep_candidates,
        candidate_floor=candidate_floor,
        max_region_length=max_region_length,
        temperature_start=temperature_start,
        temperature_end=temperature_end,
        anneal_steps=anneal_steps,
        multi_label=multi_label,
        train_on_gold_entities=train_on_gold_entities,
        scorer=scorer,
    )


class RationaleMasker(CandidatePairPipe):
    """Classify candidate pairs from sparse, contiguous rationales and write them."""

    CFG_SCHEMA = {**CandidatePairPipe.CFG_SCHEMA, "pair_level": one_of(PAIR_LEVELS), "keep_candidates": BOOL,
                  "candidate_floor": NUMBER, "max_region_length": OPTIONAL_INT, "nI": OPTIONAL_INT,
                  "anneal_steps": OPTIONAL_INT, "multi_label": BOOL, "entity_types": STR_LIST}

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "rationale_masker",
        *,
        candidates: PairGenerator,
        spans_key: Optional[str] = None,
        threshold: float = 0.0,
        pair_level: str = "mention",
        keep_candidates: bool = False,
        candidate_floor: float = 0.0,
        max_region_length: Optional[int] = DEFAULT_MAX_REGION_LENGTH,
        temperature_start: float = 1.0,
        temperature_end: float = 0.1,
        anneal_steps: Optional[int] = None,
        multi_label: bool = False,
        train_on_gold_entities: bool = True,
        scorer: Optional[Callable] = None,
    ) -> None:
        """Initialize the component; see `make_rationale_masker` for the arguments."""
        if pair_level not in PAIR_LEVELS:
            raise ValueError(Errors.E501.format(options=PAIR_LEVELS, value=pair_level))
        if not 0.0 <= candidate_floor < 1.0:
            raise ValueError(Errors.E503.format(value=candidate_floor))
        if model.name == DOCUMENT_PAIR_MODEL and pair_level != "cluster":
            raise ValueError(Errors.E507.format(name=name, value=pair_level))
        if max_region_length is not None and max_region_length < 1:
            raise ValueError(Errors.E306.format(value=max_region_length))
        if min(temperature_start, temperature_end) <= 0 or (anneal_steps is not None and anneal_steps < 0):
            raise ValueError(Errors.E502.format(start=temperature_start, end=temperature_end, steps=anneal_steps))
        super().__init__(
            vocab,
            model,
            name,
            candidates=candidates,
            spans_key=spans_key,
            threshold=threshold,
            train_on_gold_entities=train_on_gold_entities,
            scorer=scorer,
            pair_level=pair_level,
            keep_candidates=keep_candidates,
            candidate_floor=candidate_floor,
            max_region_length=max_region_length,
            # null until `initialize` ties it to the training length; saved resolved, so a
            # resumed run continues the same schedule
            anneal_steps=anneal_steps,
            multi_label=multi_label,
            entity_types=[],
        )
        self.temperature_start = temperature_start
        self.temperature_end = temperature_end

    @property
    def n_classes(self) -> int:
        """RETURNS (int): The labels plus the negative class (class 0)."""
        return len(self.labels) + 1

    @property
    def anneal_steps(self) -> int:
        """RETURNS (int): Updates of the temperature annealing (resolved at `initialize`;
        DEFAULT_ANNEAL_STEPS for a component trained without it)."""
        steps = self.cfg.get("anneal_steps")
        return DEFAULT_ANNEAL_STEPS if steps is None else steps

    @property
    def temperature(self) -> float:
        """RETURNS (float): The relaxation temperature of the next update: geometric
        from `temperature_start` to `temperature_end` over `anneal_steps` updates."""
        if self.anneal_steps == 0:
            return self.temperature_end
        progress = min(self.n_updates, self.anneal_steps) / self.anneal_steps
        return self.temperature_start * (self.temperature_end / self.temperature_start) ** progress

    def initialize_model(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language]) -> None:
        """Size the output for the labels and the negative class, collect the entity
        types (typed roles), tie the annealing to the training length, then initialize."""
        self.model.set_dim("nO", self.n_classes)
        if self.model.attrs.get("roles") == "typed":
            types = {ent.label_ for eg in get_examples() for ent in get_entities(eg.reference, self.spans_key)}
            self.cfg["entity_types"] = sorted(types - {""})
        self.model.attrs["n_entity_types"] = len(self.cfg["entity_types"])
        if self.cfg["anneal_steps"] is None:
            self.cfg["anneal_steps"] = self._training_length(nlp)
        docs = [eg.predicted for _, eg in zip(range(10), get_examples())]
        self.model.initialize(X=(docs, PairRegions()))
        self.cfg["nI"] = self.model.get_dim("nI")

    def _training_length(self, nlp: Optional[Language]) -> int:
        """`[training] max_steps` of the pipeline's config, or DEFAULT_ANNEAL_STEPS
        with a warning (training by epochs, or no config)."""
        max_steps = nlp.config.get("training", {}).get("max_steps", 0) if nlp is not None else 0
        if isinstance(max_steps, int) and max_steps > 0:
            return max_steps
        warnings.warn(Warnings.W032.format(name=self.name, max_steps=max_steps, fallback=DEFAULT_ANNEAL_STEPS))
        return DEFAULT_ANNEAL_STEPS

    def cfg_dims(self) -> Dict[str, Tuple[int, str]]:
        """The model has one output per label and one for the negative class."""
        return {"nO": (self.n_classes, "one output per label in cfg['labels'], plus the negative class")}

    def restore_model_shape(self) -> None:
        """Build the PyTorch layer from `cfg` so saved weights can be loaded."""
        if self.cfg.get("nI") is None:
            return
        if not self.model.has_dim("nI"):
            self.model.set_dim("nI", self.cfg["nI"])
        if not self.model.has_dim("nO"):
            self.model.set_dim("nO", self.n_classes)
        self.model.attrs["n_entity_types"] = len(self.cfg.get("entity_types", []))
        if self.model.name == DOCUMENT_PAIR_MODEL:
            build_document_pair_classifier(self.model)
        else:
            build_masker(self.model)

    def make_pairs(self, docs: List[Doc]) -> Tuple[PairRegions, List[RegionPair]]:
        """The candidate pairs of the Docs with their mentions and maskable regions.

        RETURNS (Tuple[PairRegions, List[RegionPair]]): The model input besides the Docs, and
            the pairs (doc index, head, tail, region start) in the model's row order.
        """
        regions, pairs, clipped = [], [], []
        limit = self.cfg["max_region_length"]
        type_ids = {label: t + 1 for t, label in enumerate(self.cfg.get("entity_types", []))}
        for i, doc in enumerate(docs):
            starts = sentence_starts(doc)
            for heads, tails in self._argument_pairs(doc):
                region, head, tail = min(
                    ((_sentence_region(starts, len(doc), head, tail), head, tail) for head in heads for tail in tails),
                    key=lambda found: (found[0][1] - found[0][0], found[0][0]),
                )
                if limit is not None and region[1] - region[0] > limit:
                    focus = (min(head.start, tail.start), max(head.end, tail.end))
                    clipped.append((head, tail, region[1] - region[0]))
                    region = window_around(focus, limit, region)
                offsets = [[(m.start, m.end) for m in group] for group in (heads, tails)]
                regions.append(PairRegion(i, offsets[0], offsets[1], region, type_ids.get(head.label_, 0),
                                          type_ids.get(tail.label_, 0)))
                pairs.append((i, heads[0], tails[0], region[0]))
        if clipped:
            head, tail, length = clipped[0]
            warnings.warn(Warnings.W031.format(name=self.name, count=len(clipped), limit=limit, example=(head, tail),
                                               length=length))
        return PairRegions(regions, temperature=self.temperature), pairs

    def _argument_pairs(self, doc: Doc) -> List[Tuple[List[Span], List[Span]]]:
        """(head mentions, tail mentions) per candidate: one mention each, or every
        mention of the two clusters for `pair_level = "cluster"`."""
        mention_pairs = self.get_pairs(doc)
        if self.cfg["pair_level"] == "mention" or not mention_pairs:
            return [([head], [tail]) for head, tail in mention_pairs]
        clusters = get_entity_clusters(doc, self.spans_key)
        seen: Dict[Tuple[str, str], None] = {}
        for head, tail in mention_pairs:
            key = (cluster_id(head), cluster_id(tail))
            if key[0] != key[1]:
                seen.setdefault(key, None)
        return [(clusters[h], clusters[t]) for h, t in seen]

    def predict(self, docs: Iterable[Doc]) -> Tuple[List[RegionPair], Floats2d, Floats2d]:
        """Score every candidate pair with its MAP rationale (no noise).

        docs (Iterable[Doc]): The documents.
        RETURNS (Tuple[List[RegionPair], Floats2d, Floats2d]): The pairs, their logits and
            their rationale masks over their regions.
        """
        docs = list(docs)
        regions, pairs = self.make_pairs(docs)
        if not pairs:
            ops = self.model.ops
            return pairs, ops.alloc2f(0, self.n_classes), ops.alloc2f(0, 0)
        logits, masks = self.model.predict((docs, regions))
        return pairs, logits, masks

    def set_annotations(self, docs: Iterable[Doc], predictions: Tuple[List[RegionPair], Floats2d, Floats2d]) -> None:
        """Write the decided relations, each with its rationale segments as Spans."""
        docs = list(docs)
        pairs, logits, masks = predictions
        probs = self.probabilities(logits) if len(pairs) else logits
        masks = self.model.ops.to_numpy(masks)
        found: List[List[Relation]] = [[] for _ in docs]
        for p, (i, head, tail, start) in enumerate(pairs):
            if self.cfg["keep_candidates"]:
                floor = self.cfg.get("candidate_floor", 0.0)
                decided = [c for c in range(1, self.n_classes) if probs[p, c] >= floor]
            elif self.cfg["multi_label"]:
                # Above the pair's own threshold (probability > 0.5) and the set threshold.
                decided = [c for c in range(1, self.n_classes) if probs[p, c] > 0.5 and probs[p, c] >= self.threshold]
            else:
                best = int(probs[p].argmax())
                decided = [best] if best > 0 and probs[p, best] >= self.threshold else []
            if not decided:
                continue
            # Segments only for the pairs written: a pair's mask has up to half its
            # region's length in segments, and most pairs are decided negative.
            doc = docs[i]
            rationale = tuple(Span(doc, start + a, start + b) for a, b in mask_segments(masks[p].tolist()))
            for c in decided:
                found[i].append(
                    Relation(
                        head=head,
                        tail=tail,
                        label=self.labels[c - 1],
                        score=float(probs[p, c]),
                        source=self.name,
                        rationale=rationale,
                    )
                )
        self.write_relations(docs, found)

    def probabilities(self, logits: Floats2d) -> numpy.ndarray:
        """(P, C) label probabilities: a softmax over the labels and the negative class,
        or with `multi_label` each label against the pair's threshold (class 0):
        sigmoid(logit_c - logit_0), so a label is decided when it is above 0.5."""
        ops = self.model.ops
        if not self.cfg["multi_label"]:
            return ops.to_numpy(ops.softmax(logits))
        logits = ops.to_numpy(logits)
        return 1.0 / (1.0 + numpy.exp(-(logits - logits[:, :1])))

    def make_training_input(self, examples: List[Example]) -> Optional[Tuple[Tuple[List[Doc], PairRegions], Any]]:
        """The candidate pairs (on the gold mentions by default) and their gold classes:
        one class per pair (the first gold label), or with `multi_label` a (P, C) 0/1
        matrix of every gold label (column 0: the pair has none)."""
        docs = self.training_docs(examples)
        regions, pairs = self.make_pairs(docs)
        self.n_updates += 1
        if not pairs:
            return None
        # Arguments are keyed by offsets, or by the cluster of the training Doc's mention
        # at those offsets (aligned gold spans carry no cluster id of their own).
        keys = [self._argument_keys(doc) for doc in docs]
        gold: Dict[Tuple, List[int]] = {}
        for i, rels in enumerate(self.gold_relations(examples)):
            for rel in rels:
                if rel.label in self.labels:
                    key = (i, keys[i](rel.head), keys[i](rel.tail))
                    gold.setdefault(key, []).append(self.labels.index(rel.label) + 1)
        classes = [gold.get((i, keys[i](head), keys[i](tail)), []) for i, head, tail, _ in pairs]
        X = ([eg.predicted for eg in examples], regions)
        if not self.cfg["multi_label"]:
            return X, self.model.ops.asarray1i([found[0] if found else 0 for found in classes])
        targets = numpy.zeros((len(pairs), self.n_classes), dtype="float32")
        for p, found in enumerate(classes):
            targets[p, found or [0]] = 1.0
        return X, self.model.ops.asarray2f(targets)

    def _argument_keys(self, doc: Doc) -> Callable[[Span], Any]:
        """How a relation argument is identified for the pair level: by its offsets, or
        by the cluster of the Doc's mention at its offsets."""
        if self.cfg["pair_level"] == "mention":
            return lambda span: (span.start, span.end)
        clusters = {(m.start, m.end): cluster_id(m) for m in get_entities(doc, self.spans_key)}
        return lambda span: clusters.get((span.start, span.end), cluster_id(span))

    def get_loss(
        self, examples: Iterable[Example], scores: Tuple[Any, Tuple[Floats2d, Floats2d]]
    ) -> Tuple[float, Floats2d]:
        """Mean cross-entropy of the pairs' classes (the only loss: sparsity and
        continuity are structural).

        scores (Tuple[Ints1d, Tuple[Floats2d, Floats2d]]): Gold classes, and the logits
            and masks.
        RETURNS (Tuple[float, Floats2d]): The loss and its gradient for the logits.
        """
        truths, (logits, _) = scores
        if self.cfg["multi_label"]:
            return adaptive_threshold_loss(self.model.ops, logits, truths)
        return softmax_cross_entropy(self.model.ops, logits, truths)

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """The scorer's scores, plus `rationale_saturation`: the fraction of relaxed
        training marginals within 0.01 of 0 or 1 since the last evaluation. Near 1 the
        mask passes almost no gradient back to its scores: it has stopped learning."""
        scores = super().score(examples, **kwargs)
        if self.model.has_ref("masker"):
            saturation = self.model.get_ref("masker").shims[0]._model.take_saturation()
            if saturation is not None:
                scores[SATURATION_SCORE] = saturation
        return scores


def adaptive_threshold_loss(ops: Any, logits: Floats2d, targets: Floats2d) -> Tuple[float, Floats2d]:
    """The adaptive-threshold loss of ATLOP (Zhou et al. 2021): each gold label must
    score above the threshold class (column 0), and the threshold above every other
    label. Mean over pairs, and its gradient for the logits.

    targets (Floats2d): (P, C) 0/1, column 0 set for pairs without a gold label.
    """
    logits, targets = ops.to_numpy(logits).astype("float64"), ops.to_numpy(targets)
    gold = targets.copy()
    gold[:, 0] = 0.0
    threshold = numpy.zeros_like(gold)
    threshold[:, 0] = 1.0
    # Positives against the threshold: softmax over gold labels and class 0.
    positive = _masked_softmax(logits, gold + threshold)
    # The threshold against the negatives: softmax over non-gold labels and class 0.
    negative = _masked_softmax(logits, 1.0 - gold)
    n = len(logits)
    loss = -(gold * numpy.log(positive + 1e-30)).sum() - numpy.log(negative[:, 0] + 1e-30).sum()
    n_gold = gold.sum(1, keepdims=True)
    d_logits = n_gold * positive - gold + (negative - threshold)
    return float(loss / n), ops.asarray2f((d_logits / n).astype("float32"))


def _masked_softmax(logits: numpy.ndarray, keep: numpy.ndarray) -> numpy.ndarray:
    shifted = numpy.where(keep > 0, logits, -numpy.inf)
    shifted = shifted - shifted.max(1, keepdims=True)
    exp = numpy.exp(shifted)
    return exp / exp.sum(1, keepdims=True)


def _sentence_region(starts: List[int], length: int, head: Span, tail: Span) -> Tuple[int, int]:
    """Token offsets of the sentences from the first to the last one holding `head` or `tail`."""
    first = sentence_index(starts, min(head.start, tail.start))
    last = sentence_index(starts, max(head.end, tail.end) - 1)
    return starts[first], starts[last + 1] if last + 1 < len(starts) else length
