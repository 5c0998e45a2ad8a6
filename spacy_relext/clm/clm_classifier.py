"""`clm_classifier`: packed levitated-marker pair classifier with M-DOS and Candidate
Label Markers (SURE, Feng et al., 2025, section 3; on PL-Marker, Ye et al., 2022).

Every candidate ordered pair of mentions gets a directional class (label_scheme.py). Pairs are
packed one sequence per subject and group of at most `max_pair_length` objects. In
training, after `clm_warmup_steps` updates, a first pass without gradient ranks the
classes of each pair, and the top-n and bottom-m classes go into the second, trained
pass as candidate-label-marker rows. Inference is a single pass with no CLMs.
"""
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats2d

from ..candidates import PairGenerator
from ..errors import Errors, Warnings
from ..relation_pipe import (
    DEFAULT_CANDIDATES,
    DEFAULT_SCORER,
    DEFAULT_TOK2VEC_CONFIG,
    INT,
    OPTIONAL_INT,
    OPTIONAL_STR_LIST,
    CandidatePairPipe,
    one_of,
    softmax_cross_entropy,
)
from ..relations import Relation
from .label_scheme import DirectionalLabels, decode_pairs, learn_symmetric_labels
from .levitated_marker import PackedPairs, PairGroup, build_attention, stage_one_scores

CLM_TOKEN_SCHEMES = ("separate", "code")
CLM_ORDERS = ("score", "random")
PACKINGS = ("subject", "pair")
DocPair = Tuple[int, Span, Span]  # (doc index, head, tail)

DEFAULT_CLM_MODEL_CONFIG = """
[model]
@architectures = "spacy-relext.LevitatedMarkerClassifier.v1"
hidden_width = 96
depth = 1
n_heads = 4
dropout = 0.1
max_length = 128
mutual_object_attention = true
"""
DEFAULT_CLM_MODEL = Config().from_str(DEFAULT_CLM_MODEL_CONFIG + DEFAULT_TOK2VEC_CONFIG)["model"]


@Language.factory(
    "clm_classifier",
    assigns=["doc._.relations"],
    requires=["doc.ents"],
    default_config={
        "model": DEFAULT_CLM_MODEL,
        "candidates": DEFAULT_CANDIDATES,
        "spans_key": None,
        "threshold": 0.0,
        "packing": "subject",
        "max_pair_length": 16,
        "symmetric_labels": None,
        "use_clms": True,
        "clm_top_n": 2,
        "clm_bottom_m": 4,
        "clm_token_scheme": "separate",
        "clm_order": "score",
        "clm_warmup_steps": 0,
        "clm_stage1_dropout": True,
        "train_on_gold_entities": True,
        "scorer": DEFAULT_SCORER,
    },
    default_score_weights={"rel_f": 1.0, "rel_p": 0.0, "rel_r": 0.0, "rel_macro_f": None, "rel_per_type": None},
)
def make_clm_classifier(
    nlp: Language,
    name: str,
    model: Model,
    candidates: PairGenerator,
    spans_key: Optional[str],
    threshold: float,
    packing: str,
    max_pair_length: int,
    symmetric_labels: Optional[List[str]],
    use_clms: bool,
    clm_top_n: int,
    clm_bottom_m: int,
    clm_token_scheme: str,
    clm_order: str,
    clm_warmup_steps: int,
    clm_stage1_dropout: bool,
    train_on_gold_entities: bool,
    scorer: Optional[Callable],
) -> "ClmClassifier":
    """Create a `clm_classifier` component.

    model (Model): A `spacy-relext.LevitatedMarkerClassifier.v1` model.
    candidates (PairGenerator): Which ordered mention pairs to classify.
    spans_key (Optional[str]): Read mentions from `doc.spans[spans_key]` instead of `doc.ents`.
    threshold (float): Relations scoring below it are not written. The score of a
        decision is the geometric mean of the probabilities both directions give it.
    packing (str): "subject" (PL-Marker: one sequence per subject and group of
        levitated objects) or "pair" (PURE-style baseline: one sequence per ordered
        pair, both arguments marked solid).
    max_pair_length (int): Most objects packed with one subject.
    symmetric_labels (Optional[List[str]]): Labels with no direction; None learns them
        from the data (labels whose gold relations always also occur reversed).
    use_clms (bool): Train with candidate label markers.
    clm_top_n (int): Highest-ranked classes given as positive CLMs.
    clm_bottom_m (int): Lowest-ranked classes given as negative CLMs.
    clm_token_scheme (str): "separate" (own POS and NEG token per class) or "code"
        (the authors' scheme: NEG of a class is the POS token of its reverse class).
    clm_order (str): "score" (the paper: CLMs in descending stage-1 score order) or
        "random" (the paper's ablation: the same CLMs, shuffled per pair).
    clm_warmup_steps (int): Updates trained without CLMs before they are used.
    clm_stage1_dropout (bool): Rank the classes with dropout on, as the authors do.
    train_on_gold_entities (bool): Pair the gold mentions in training.
    scorer (Optional[Callable]): The scoring method.
    """
    return ClmClassifier(
        nlp.vocab,
        model,
        name,
        candidates=candidates,
        spans_key=spans_key,
        threshold=threshold,
        packing=packing,
        max_pair_length=max_pair_length,
        symmetric_labels=symmetric_labels,
        use_clms=use_clms,
        clm_top_n=clm_top_n,
        clm_bottom_m=clm_bottom_m,
        clm_token_scheme=clm_token_scheme,
        clm_order=clm_order,
        clm_warmup_steps=clm_warmup_steps,
        clm_stage1_dropout=clm_stage1_dropout,
        train_on_gold_entities=train_on_gold_entities,
        scorer=scorer,
    )


def chunk_objects(subject: Tuple[int, int], tails: List[Span], size: int, limit: Optional[int]) -> List[List[Span]]:
    """Consecutive runs of at most `size` objects that fit, with the subject, in one
    context window of `limit` tokens (None: no limit); an object farther from the
    subject than that gets a run of its own."""
    chunks: List[List[Span]] = []
    for tail in tails:
        if chunks and len(chunks[-1]) < size and (limit is None or _extent(subject, chunks[-1] + [tail]) <= limit):
            chunks[-1].append(tail)
        else:
            chunks.append([tail])
    return chunks


def _extent(subject: Tuple[int, int], tails: List[Span]) -> int:
    """Tokens from the first to the last argument of a group."""
    return max([subject[1]] + [t.end for t in tails]) - min([subject[0]] + [t.start for t in tails])


class ClmClassifier(CandidatePairPipe):
    """Classify candidate mention pairs with levitated markers, M-DOS and CLMs."""

    CFG_SCHEMA = {**CandidatePairPipe.CFG_SCHEMA, "packing": one_of(PACKINGS), "max_pair_length": INT,
                  "symmetric_labels": OPTIONAL_STR_LIST, "nI": OPTIONAL_INT}

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "clm_classifier",
        *,
        candidates: PairGenerator,
        spans_key: Optional[str] = None,
        threshold: float = 0.0,
        packing: str = "subject",
        max_pair_length: int = 16,
        symmetric_labels: Optional[Sequence[str]] = None,
        use_clms: bool = True,
        clm_top_n: int = 2,
        clm_bottom_m: int = 4,
        clm_token_scheme: str = "separate",
        clm_order: str = "score",
        clm_warmup_steps: int = 0,
        clm_stage1_dropout: bool = True,
        train_on_gold_entities: bool = True,
        scorer: Optional[Callable] = None,
    ) -> None:
        """Initialize the component; see `make_clm_classifier` for the arguments."""
        if clm_token_scheme not in CLM_TOKEN_SCHEMES:
            raise ValueError(Errors.E402.format(name="clm_token_scheme", options=CLM_TOKEN_SCHEMES, value=clm_token_scheme))
        if clm_order not in CLM_ORDERS:
            raise ValueError(Errors.E402.format(name="clm_order", options=CLM_ORDERS, value=clm_order))
        if packing not in PACKINGS:
            raise ValueError(Errors.E402.format(name="packing", options=PACKINGS, value=packing))
        if max_pair_length < 1 or min(clm_top_n, clm_bottom_m, clm_warmup_steps) < 0:
            raise ValueError(
                Errors.E404.format(max_pair_length=max_pair_length, n=clm_top_n, m=clm_bottom_m, warmup=clm_warmup_steps)
            )
        super().__init__(
            vocab,
            model,
            name,
            candidates=candidates,
            spans_key=spans_key,
            threshold=threshold,
            train_on_gold_entities=train_on_gold_entities,
            scorer=scorer,
            packing=packing,
            max_pair_length=max_pair_length,
            symmetric_labels=None if symmetric_labels is None else list(symmetric_labels),
        )
        self.use_clms = use_clms
        self.clm_top_n = clm_top_n
        self.clm_bottom_m = clm_bottom_m
        self.clm_token_scheme = clm_token_scheme
        self.clm_order = clm_order
        self.clm_warmup_steps = clm_warmup_steps
        self.clm_stage1_dropout = clm_stage1_dropout

    @property
    def label_scheme(self) -> DirectionalLabels:
        """RETURNS (DirectionalLabels): The directional classes of the labels."""
        return DirectionalLabels(self.labels, self.cfg["symmetric_labels"] or ())

    def initialize_model(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language]) -> None:
        """Fix the symmetric labels, size the output and initialize the model."""
        if self.cfg["symmetric_labels"] is None:
            triples = []
            for i, eg in enumerate(get_examples()):
                triples.extend(((i, *rel.key[:2]), (i, *rel.key[2:4]), rel.label) for rel in eg.reference._.relations)
            self.cfg["symmetric_labels"] = learn_symmetric_labels(triples)
        unknown = set(self.cfg["symmetric_labels"]) - set(self.labels)
        if unknown:
            raise ValueError(Errors.E405.format(unknown=sorted(unknown), labels=self.labels))
        self.model.set_dim("nO", self.label_scheme.n_classes)
        docs = [eg.predicted for _, eg in zip(range(10), get_examples())]
        self.model.initialize(X=(docs, PackedPairs([])) if docs else None)
        if self.model.has_dim("nI"):
            self.cfg["nI"] = self.model.get_dim("nI")

    def cfg_dims(self) -> Dict[str, Tuple[int, str]]:
        """The model has one output per directional class of the labels."""
        why = "the directional classes of cfg['labels'] and cfg['symmetric_labels']"
        return {"nO": (self.label_scheme.n_classes, why)}

    def restore_model_shape(self) -> None:
        """Build the attention layer from `cfg` so saved weights can be loaded."""
        if self.cfg.get("nI") is None:
            return
        if not self.model.has_dim("nI"):
            self.model.set_dim("nI", self.cfg["nI"])
        if not self.model.has_dim("nO"):
            self.model.set_dim("nO", self.label_scheme.n_classes)
        build_attention(self.model)

    def pack(self, docs: Sequence[Doc]) -> Tuple[PackedPairs, List[DocPair]]:
        """Group the candidate pairs of each Doc by subject, `max_pair_length` objects
        per group (one with packing "pair").

        RETURNS (Tuple[PackedPairs, List[DocPair]]): The model input besides the Docs,
            and the pairs in the order of the model's output rows.
        """
        groups, pairs, far = [], [], []
        solid_objects = self.cfg["packing"] == "pair"
        size = 1 if solid_objects else self.cfg["max_pair_length"]
        limit = self.model.attrs.get("max_length")
        for i, doc in enumerate(docs):
            by_subject: Dict[Tuple[int, int], List[Span]] = {}
            heads: Dict[Tuple[int, int], Span] = {}
            for head, tail in self.get_pairs(doc):
                heads.setdefault((head.start, head.end), head)
                by_subject.setdefault((head.start, head.end), []).append(tail)
            for subject, tails in by_subject.items():
                for chunk in chunk_objects(subject, tails, size, limit):
                    groups.append(PairGroup(i, subject, [(t.start, t.end) for t in chunk]))
                    pairs.extend((i, heads[subject], tail) for tail in chunk)
                    if limit is not None and _extent(subject, chunk) > limit:
                        far.append((heads[subject], chunk[0]))
        if far:
            warnings.warn(Warnings.W004.format(name=self.name, count=len(far), limit=limit, example=far[0]))
        return PackedPairs(groups, solid_objects=solid_objects), pairs

    def predict(self, docs: Iterable[Doc]) -> Tuple[List[DocPair], Floats2d]:
        """Score every candidate pair (one pass, no CLMs).

        docs (Iterable[Doc]): The documents.
        RETURNS (Tuple[List[DocPair], Floats2d]): The pairs and their logits.
        """
        docs = list(docs)
        packed, pairs = self.pack(docs)
        if not pairs:
            return pairs, self.model.ops.alloc2f(0, self.label_scheme.n_classes)
        return pairs, self.model.predict((docs, packed))

    def set_annotations(self, docs: Iterable[Doc], predictions: Tuple[List[DocPair], Floats2d]) -> None:
        """Decode both directions of each pair and write `doc._.relations`."""
        docs = list(docs)
        pairs, scores = predictions
        log_probs = _log_softmax(self.model.ops.to_numpy(scores))
        found: List[List[Relation]] = [[] for _ in docs]
        for i, head, tail, label, score in decode_pairs(pairs, log_probs, self.label_scheme):
            if score >= self.threshold:
                found[i].append(Relation(head=head, tail=tail, label=label, score=score, source=self.name))
        self.write_relations(docs, found)

    def make_training_input(self, examples: List[Example]) -> Optional[Tuple[Tuple[List[Doc], PackedPairs], Any]]:
        """Pack the pairs, their gold classes and, after the warm-up, their CLMs."""
        packed, pairs = self.pack(self.training_docs(examples))
        if not pairs:
            return None
        scheme = self.label_scheme
        gold = {}
        for i, rels in enumerate(self.gold_relations(examples)):
            for rel in rels:
                gold.setdefault((i, *rel.key[:4]), rel.label)
        truths = []
        for i, head, tail in pairs:
            label = gold.get((i, head.start, head.end, tail.start, tail.end))
            if label is not None:
                truths.append(scheme.encode(label))
            else:
                label = gold.get((i, tail.start, tail.end, head.start, head.end))
                truths.append(scheme.encode(label, reverse=True))
        X = ([eg.predicted for eg in examples], packed)
        if self.use_clms and self.n_updates >= self.clm_warmup_steps:
            logits = stage_one_scores(self.model, X, dropout=self.clm_stage1_dropout)
            clm_ids = candidate_label_markers(self.model.ops.to_numpy(logits), scheme, n=self.clm_top_n, m=self.clm_bottom_m, token_scheme=self.clm_token_scheme)
            if self.clm_order == "random":
                # Seeded by the update count, so that a seeded training run repeats.
                clm_ids = numpy.random.default_rng(self.n_updates).permuted(clm_ids, axis=1)
            packed.clm_ids = self.model.ops.asarray2i(clm_ids)
        self.n_updates += 1
        return X, self.model.ops.asarray1i(truths)

    def get_loss(self, examples: Iterable[Example], scores: Tuple[Any, Floats2d]) -> Tuple[float, Floats2d]:
        """Mean cross-entropy over the directional classes of the pairs.

        scores (Tuple[Ints1d, Floats2d]): Gold classes and logits.
        RETURNS (Tuple[float, Floats2d]): The loss and its gradient.
        """
        truths, logits = scores
        return softmax_cross_entropy(self.model.ops, logits, truths)


def candidate_label_markers(logits: numpy.ndarray, scheme: DirectionalLabels, *, n: int, m: int, token_scheme: str) -> numpy.ndarray:
    """CLM token ids per pair: the top-`n` then bottom-`m` classes, in descending score
    order (Feng et al., 2025, section 3.2).

    logits (numpy.ndarray): (P, C) stage-1 scores.
    scheme (DirectionalLabels): The label space.
    n (int): Positive CLMs.
    m (int): Negative CLMs.
    token_scheme (str): "separate": POS(c) = c, NEG(c) = C + c. "code": POS(c) = c,
        NEG(c) = POS(reverse(c)).
    RETURNS (numpy.ndarray): (P, n' + m') ids, n' = min(n, C), m' = min(m, C - n').
    """
    n_classes = scheme.n_classes
    n = min(n, n_classes)
    m = min(m, n_classes - n)
    order = numpy.argsort(-logits, axis=1, kind="stable")
    positive = order[:, :n]
    negative = order[:, n_classes - m :]
    negative = n_classes + negative if token_scheme == "separate" else scheme.reverse[negative]
    return numpy.concatenate([positive, negative], axis=1)


def _log_softmax(logits: numpy.ndarray) -> numpy.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))
