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
from ..entities import get_entities
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
from ..relations import Relation, align_span, get_symmetric_labels, same_texts
from .label_scheme import NIL, DirectionalLabels, decode_pairs, learn_symmetric_labels
from .levitated_marker import PackedPairs, PairGroup, build_attention, stage_one_scores

CLM_TOKEN_SCHEMES = ("separate", "code")
CLM_ORDERS = ("score", "random")
PACKINGS = ("subject", "pair")
# The share of `[training] max_steps` trained without CLMs: the authors' warm-up ratio for
# ACE04/05 (Feng et al., 2025, Appendix A), the paper calling the warm-up crucial (section 3.3).
DEFAULT_WARMUP_FRACTION = 0.33
# The run length assumed when `[training] max_steps` does not give it (the configs' length).
FALLBACK_TRAINING_STEPS = 2000
DocPair = Tuple[int, Span, Span]  # (doc index, head, tail)
# Packed sequences per training pass of an encoder-owning model: an update of MiniLM with
# sequences of up to 100 wordpieces then peaks 2.5-3.1 GB above its resting size, however
# many pairs the batch holds (benchmarks/clm_pass_memory.py).
DEFAULT_MAX_SEQUENCES_PER_PASS = 64

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
        "clm_warmup_steps": None,
        "clm_warmup_fraction": DEFAULT_WARMUP_FRACTION,
        "clm_stage1_dropout": True,
        "ner_head": False,
        "ner_refine_types": False,
        "train_on_gold_entities": True,
        "max_sequences_per_pass": DEFAULT_MAX_SEQUENCES_PER_PASS,
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
    clm_warmup_steps: Optional[int],
    clm_warmup_fraction: float,
    clm_stage1_dropout: bool,
    ner_head: bool,
    ner_refine_types: bool,
    train_on_gold_entities: bool,
    max_sequences_per_pass: Optional[int],
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
    symmetric_labels (Optional[List[str]]): Labels with no direction; None takes those
        the training Docs declare (`set_symmetric_labels`; the SciERC converter declares
        CONJUNCTION and COMPARE) and those whose gold relations always also occur reversed.
    use_clms (bool): Train with candidate label markers.
    clm_top_n (int): Highest-ranked classes given as positive CLMs.
    clm_bottom_m (int): Lowest-ranked classes given as negative CLMs.
    clm_token_scheme (str): "separate" (own POS and NEG token per class) or "code"
        (the authors' scheme: NEG of a class is the POS token of its reverse class).
    clm_order (str): "score" (the paper: CLMs in descending stage-1 score order) or
        "random" (the paper's ablation: the same CLMs, shuffled per pair).
    clm_warmup_steps (Optional[int]): Updates trained without CLMs before they are
        used; null (the default): `clm_warmup_fraction` of `[training] max_steps`,
        fixed when the component is initialized.
    clm_warmup_fraction (float): The share of `[training] max_steps` trained without
        CLMs when `clm_warmup_steps` is null (0.33, the authors' setting for ACE).
    clm_stage1_dropout (bool): Rank the classes with dropout on, as the authors do.
    ner_head (bool): Also predict the entity type of each object from its two markers
        and train on L = L_re + L_ner (PL-Marker, Ye et al., 2022; SURE keeps it).
    ner_refine_types (bool): With the NER head, the relation arguments take the types
        it predicts (Rel+ is scored on them), and relations with an argument it calls
        no entity are dropped, as PL-Marker does when it uses its own NER predictions.
    train_on_gold_entities (bool): Pair the gold mentions in training.
    max_sequences_per_pass (Optional[int]): Training with a model that owns its encoder
        (the transformer configs): the most packed sequences one forward and backward pass
        holds. A batch with more is trained in several passes whose gradients add up to
        the batch's, so the memory of an update follows this number instead of the
        batch's candidate pairs (which grow with the square of its entities). null: one
        pass per batch. A listener model (tok2vec) always trains in one pass.
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
        clm_warmup_fraction=clm_warmup_fraction,
        clm_stage1_dropout=clm_stage1_dropout,
        ner_head=ner_head,
        ner_refine_types=ner_refine_types,
        train_on_gold_entities=train_on_gold_entities,
        max_sequences_per_pass=max_sequences_per_pass,
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
                  "symmetric_labels": OPTIONAL_STR_LIST, "nI": OPTIONAL_INT, "clm_warmup_steps": OPTIONAL_INT,
                  "entity_types": OPTIONAL_STR_LIST}

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
        clm_warmup_steps: Optional[int] = None,
        clm_warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
        clm_stage1_dropout: bool = True,
        ner_head: bool = False,
        ner_refine_types: bool = False,
        train_on_gold_entities: bool = True,
        max_sequences_per_pass: Optional[int] = DEFAULT_MAX_SEQUENCES_PER_PASS,
        scorer: Optional[Callable] = None,
    ) -> None:
        """Initialize the component; see `make_clm_classifier` for the arguments."""
        if clm_token_scheme not in CLM_TOKEN_SCHEMES:
            raise ValueError(Errors.E402.format(name="clm_token_scheme", options=CLM_TOKEN_SCHEMES, value=clm_token_scheme))
        if clm_order not in CLM_ORDERS:
            raise ValueError(Errors.E402.format(name="clm_order", options=CLM_ORDERS, value=clm_order))
        if packing not in PACKINGS:
            raise ValueError(Errors.E402.format(name="packing", options=PACKINGS, value=packing))
        if max_pair_length < 1 or min(clm_top_n, clm_bottom_m, clm_warmup_steps or 0) < 0:
            raise ValueError(
                Errors.E404.format(max_pair_length=max_pair_length, n=clm_top_n, m=clm_bottom_m, warmup=clm_warmup_steps)
            )
        if not 0.0 <= clm_warmup_fraction <= 1.0:
            raise ValueError(Errors.E226.format(value=clm_warmup_fraction))
        if ner_refine_types and not ner_head:
            raise ValueError(Errors.E227)
        if max_sequences_per_pass is not None and max_sequences_per_pass < 1:
            raise ValueError(Errors.E413.format(value=max_sequences_per_pass))
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
            clm_warmup_steps=clm_warmup_steps,
            entity_types=None,
        )
        self.use_clms = use_clms
        self.clm_top_n = clm_top_n
        self.clm_bottom_m = clm_bottom_m
        self.clm_token_scheme = clm_token_scheme
        self.clm_order = clm_order
        self.clm_warmup_fraction = clm_warmup_fraction
        self._configured_warmup_steps = clm_warmup_steps
        self.ner_head = ner_head
        self.ner_refine_types = ner_refine_types
        self.clm_stage1_dropout = clm_stage1_dropout
        self.max_sequences_per_pass = max_sequences_per_pass

    @property
    def clm_warmup_steps(self) -> int:
        """RETURNS (int): Updates trained without CLMs (resolved at `initialize`; before
        that, the fraction of FALLBACK_TRAINING_STEPS)."""
        steps = self.cfg.get("clm_warmup_steps")
        return round(self.clm_warmup_fraction * FALLBACK_TRAINING_STEPS) if steps is None else steps

    @clm_warmup_steps.setter
    def clm_warmup_steps(self, value: Optional[int]) -> None:
        self.cfg["clm_warmup_steps"] = value

    def _training_length(self, nlp: Optional[Language]) -> int:
        """`[training] max_steps` of the pipeline's config, or FALLBACK_TRAINING_STEPS
        with a warning (training by epochs, or no config)."""
        max_steps = nlp.config.get("training", {}).get("max_steps", 0) if nlp is not None else 0
        if isinstance(max_steps, int) and not isinstance(max_steps, bool) and max_steps > 0:
            return max_steps
        warnings.warn(Warnings.W061.format(name=self.name, max_steps=max_steps, fallback=FALLBACK_TRAINING_STEPS))
        return FALLBACK_TRAINING_STEPS

    @property
    def entity_types(self) -> Optional[Tuple[str, ...]]:
        """RETURNS (Optional[Tuple[str, ...]]): The object types of the NER head (its
        class c + 1; class 0 is NIL), or None without the head."""
        types = self.cfg.get("entity_types")  # absent from pipelines saved before the head
        return None if types is None else tuple(types)

    def _set_entity_classes(self) -> None:
        types = self.entity_types
        self.model.attrs["n_entity_classes"] = 0 if types is None else len(types) + 1

    @property
    def label_scheme(self) -> DirectionalLabels:
        """RETURNS (DirectionalLabels): The directional classes of the labels."""
        return DirectionalLabels(self.labels, self.cfg["symmetric_labels"] or ())

    def initialize_model(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language]) -> None:
        """Fix the symmetric labels and the CLM warm-up, size the output and initialize
        the model."""
        if self._configured_warmup_steps is None:
            # SURE trains stage 2 alone first (Feng et al., 2025, section 3.3), for a share
            # of the run's steps: 0.33 for ACE04/05 (their Appendix A).
            self.cfg["clm_warmup_steps"] = round(self.clm_warmup_fraction * self._training_length(nlp))
        if self.cfg["symmetric_labels"] is None:
            # Declared by the corpus (the SciERC converter does), else learned: labels
            # whose gold relations always also occur reversed.
            triples, declared = [], set()
            for i, eg in enumerate(get_examples()):
                triples.extend(((i, *rel.key[:2]), (i, *rel.key[2:4]), rel.label) for rel in eg.reference._.relations)
                declared.update(get_symmetric_labels(eg.reference))
            learned = learn_symmetric_labels(triples)
            self.cfg["symmetric_labels"] = sorted((declared & set(self.labels)) | set(learned))
        unknown = set(self.cfg["symmetric_labels"]) - set(self.labels)
        if unknown:
            raise ValueError(Errors.E405.format(unknown=sorted(unknown), labels=self.labels))
        if self.ner_head:
            types = {ent.label_ for eg in get_examples() for ent in get_entities(eg.reference, self.spans_key)}
            self.cfg["entity_types"] = sorted(types - {""})
        else:
            self.cfg["entity_types"] = None
        self._set_entity_classes()
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
        self._set_entity_classes()
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
            return pairs, self.model.ops.alloc2f(0, self.label_scheme.n_classes + self._n_entity_classes)
        return pairs, self.model.predict((docs, packed))

    @property
    def _n_entity_classes(self) -> int:
        return 0 if self.entity_types is None else len(self.entity_types) + 1

    def set_annotations(self, docs: Iterable[Doc], predictions: Tuple[List[DocPair], Floats2d]) -> None:
        """Decode both directions of each pair and write `doc._.relations`."""
        docs = list(docs)
        pairs, scores = predictions
        scores = self.model.ops.to_numpy(scores)
        n_classes = self.label_scheme.n_classes
        log_probs = _log_softmax(scores[:, :n_classes])
        types = self._refined_types(pairs, scores[:, n_classes:]) if self.ner_refine_types else None
        found: List[List[Relation]] = [[] for _ in docs]
        for i, head, tail, label, score in decode_pairs(pairs, log_probs, self.label_scheme):
            if score < self.threshold:
                continue
            if types is not None:
                head_type = types.get((i, head.start, head.end), head.label_)
                tail_type = types.get((i, tail.start, tail.end), tail.label_)
                if head_type is None or tail_type is None:
                    continue  # an argument the NER head calls no entity
                head = Span(head.doc, head.start, head.end, label=head_type, span_id=head.id_)
                tail = Span(tail.doc, tail.start, tail.end, label=tail_type, span_id=tail.id_)
            found[i].append(Relation(head=head, tail=tail, label=label, score=score, source=self.name))
        self.write_relations(docs, found)

    def _refined_types(self, pairs: List[DocPair], ner_scores: numpy.ndarray) -> Dict[Tuple[int, int, int], Optional[str]]:
        """The entity type of each mention scored as an object: the argmax of its NER
        log-probabilities averaged over the pairs it is the object of (None: NIL).

        pairs (List[DocPair]): (doc index, head, tail) per row.
        ner_scores (numpy.ndarray): (P, 1 + n_types) NER logits of each row's object.
        RETURNS (Dict[Tuple[int, int, int], Optional[str]]): (doc index, start, end) -> type.
        """
        log_probs = _log_softmax(ner_scores)
        sums: Dict[Tuple[int, int, int], numpy.ndarray] = {}
        for row, (i, _, tail) in enumerate(pairs):
            key = (i, tail.start, tail.end)
            sums[key] = sums[key] + log_probs[row] if key in sums else log_probs[row].copy()
        names = (None, *(self.entity_types or ()))
        return {key: names[int(numpy.argmax(total))] for key, total in sums.items()}

    def backprop_batch(self, examples: List[Example], X: Any, truths: Any) -> float:
        """Forward and backward over the batch, in passes of at most
        `max_sequences_per_pass` packed sequences when the model owns its encoder. Each
        pass is backpropagated before the next is run, its gradient weighted by its share
        of the batch's pairs, so the gradients add up to those of the batch's mean loss
        (the loss of a pair depends on its own scores only).

        RETURNS (float): The batch's loss.
        """
        limit = self.max_sequences_per_pass
        # A tok2vec listener hands out the batch's vectors for one backward call only.
        if limit is None or self.model.has_ref("tok2vec"):
            return super().backprop_batch(examples, X, truths)
        docs, packed = X
        n_pairs, first, total = packed.n_pairs, 0, 0.0
        for start in range(0, len(packed.groups), limit):
            part = packed.slice(start, start + limit)
            rows = slice(first, first + part.n_pairs)
            first = rows.stop
            scores, backprop = self.model.begin_update((docs, part))
            loss, d_scores = self.get_loss(examples, (truths[rows], scores))
            share = part.n_pairs / n_pairs
            backprop(d_scores * share)
            total += loss * share
        return total

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
        if self.entity_types is not None:
            types = self._gold_types(examples)
            truths = [(c, types[i].get((tail.start, tail.end), NIL)) for c, (i, _, tail) in zip(truths, pairs)]
        X = ([eg.predicted for eg in examples], packed)
        if self.use_clms and self.n_updates >= self.clm_warmup_steps:
            logits = stage_one_scores(self.model, X, dropout=self.clm_stage1_dropout)[:, : scheme.n_classes]
            clm_ids = candidate_label_markers(self.model.ops.to_numpy(logits), scheme, n=self.clm_top_n, m=self.clm_bottom_m, token_scheme=self.clm_token_scheme)
            if self.clm_order == "random":
                # Seeded by the update count, so that a seeded training run repeats.
                clm_ids = numpy.random.default_rng(self.n_updates).permuted(clm_ids, axis=1)
            packed.clm_ids = self.model.ops.asarray2i(clm_ids)
        self.n_updates += 1
        if self.entity_types is not None:
            return X, self.model.ops.asarray2i(truths)
        return X, self.model.ops.asarray1i(truths)

    def _gold_types(self, examples: List[Example]) -> List[Dict[Tuple[int, int], int]]:
        """The NER head's class of each gold mention, by (start, end) on `eg.predicted`,
        per example; a mention of a type unseen at initialization is NIL, and so is a
        predicted mention that is no gold one."""
        classes = {label: c + 1 for c, label in enumerate(self.entity_types or ())}
        found = []
        for eg in examples:
            same = same_texts(eg)
            types = {}
            for ent in get_entities(eg.reference, self.spans_key):
                span = align_span(eg, ent, same)
                if span is not None:
                    types[(span.start, span.end)] = classes.get(ent.label_, NIL)
            found.append(types)
        return found

    def get_loss(self, examples: Iterable[Example], scores: Tuple[Any, Floats2d]) -> Tuple[float, Floats2d]:
        """Mean cross-entropy over the directional classes of the pairs, plus, with the
        NER head, that over the entity types of their objects (L = L_re + L_ner,
        PL-Marker, Ye et al., 2022).

        scores (Tuple[Ints1d, Floats2d]): Gold classes (with the head: (P, 2), the
            class and the object's type) and logits.
        RETURNS (Tuple[float, Floats2d]): The loss and its gradient.
        """
        truths, logits = scores
        if truths.ndim == 1:
            return softmax_cross_entropy(self.model.ops, logits, truths)
        n_classes = self.label_scheme.n_classes
        loss_re, d_re = softmax_cross_entropy(self.model.ops, logits[:, :n_classes], truths[:, 0])
        loss_ner, d_ner = softmax_cross_entropy(self.model.ops, logits[:, n_classes:], truths[:, 1])
        return loss_re + loss_ner, self.model.ops.xp.concatenate([d_re, d_ner], axis=1)


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
