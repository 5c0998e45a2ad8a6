"""A small tok2vec + pair-MLP relation component: the peer floor of the speed benchmarks
(issue 24), timed next to the package's components.

Its design is that of spaCy's relation-extraction tutorial (explosion/projects,
tutorials/rel_component): the vectors of each candidate pair's head and tail are
mean-pooled from the shared tok2vec, concatenated and fed to an MLP with one sigmoid per
label. It is a yardstick, not a method of the package, so it lives here; the plumbing
(labels, candidates, update, relations on the Doc) is the package's `CandidatePairPipe`.
Importing this module registers the factory `pair_mlp_reference`.
"""
from typing import Any, Callable, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import registry
from thinc.api import Config, Model, Relu, Sigmoid, chain
from thinc.types import Floats2d, Ints2d

from spacy_relext import Relation
from spacy_relext.candidates import PairGenerator
from spacy_relext.relation_pipe import DEFAULT_CANDIDATES, DEFAULT_SCORER, DEFAULT_TOK2VEC_CONFIG, CandidatePairPipe

FACTORY = "pair_mlp_reference"
DocPair = Tuple[int, Span, Span]
InT = Tuple[List[Doc], Ints2d]  # (doc, head start, head end, tail start, tail end) per pair

DEFAULT_MODEL = Config().from_str("""
[model]
@architectures = "spacy-relext-bench.PairMLP.v1"
hidden_width = 64
""" + DEFAULT_TOK2VEC_CONFIG)["model"]


@registry.architectures("spacy-relext-bench.PairMLP.v1")
def build_pair_mlp(tok2vec: Model[List[Doc], List[Floats2d]], hidden_width: int = 64,
                   nO: Optional[int] = None) -> Model[InT, Floats2d]:
    """Mean-pooled head and tail vectors, concatenated, then Relu and one sigmoid per label."""
    pool: Model[InT, Floats2d] = Model("pair_pool", _pool_forward, layers=[tok2vec], refs={"tok2vec": tok2vec},
                                       init=_pool_init)
    output = Sigmoid(nO=nO)
    model = chain(pool, Relu(nO=hidden_width), output)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output", output)
    return model


def prior_logits(frequencies: numpy.ndarray, floor: float = 1e-4) -> numpy.ndarray:
    """The logits whose sigmoids are `frequencies`, kept inside [floor, 0.5]: a label never
    seen starts low but trainable, and no label starts above even odds."""
    p = numpy.clip(frequencies, floor, 0.5)
    return numpy.log(p / (1 - p))


def _pool_init(model: Model, X: Optional[InT] = None, Y: Any = None) -> None:
    model.get_ref("tok2vec").initialize(X=X[0] if X is not None else None)


def _token_rows(offsets: numpy.ndarray, pairs: numpy.ndarray, start: int) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Flat token rows of the spans `pairs[:, start:start + 2]`, and their lengths."""
    begins = offsets[pairs[:, 0]] + pairs[:, start]
    lengths = pairs[:, start + 1] - pairs[:, start]
    rows = numpy.repeat(begins - numpy.cumsum(lengths) + lengths, lengths) + numpy.arange(lengths.sum())
    return rows, lengths


def _pool_forward(model: Model, inputs: InT, is_train: bool) -> Tuple[Floats2d, Callable]:
    docs, pairs = inputs
    ops = model.ops
    tokvecs, backprop_tok2vec = model.get_ref("tok2vec")(docs, is_train)
    lengths = [len(doc) for doc in docs]
    flat = ops.flatten(tokvecs)
    offsets = numpy.cumsum([0] + lengths)
    pairs = numpy.asarray(pairs)
    spans = [_token_rows(offsets, pairs, 1), _token_rows(offsets, pairs, 3)]
    spans = [(ops.asarray1i(rows), ops.asarray1i(n)) for rows, n in spans]
    pooled = ops.xp.hstack([ops.reduce_mean(flat[rows], n) for rows, n in spans])

    def backprop(d_pooled: Floats2d) -> List[Floats2d]:
        d_flat = ops.alloc2f(*flat.shape)
        width = flat.shape[1]
        for k, (rows, n) in enumerate(spans):
            part = ops.as_contig(d_pooled[:, k * width : (k + 1) * width])
            ops.scatter_add(d_flat, rows, ops.backprop_reduce_mean(part, n))
        return backprop_tok2vec(ops.unflatten(d_flat, ops.asarray1i(lengths)))

    return pooled, backprop


@Language.factory(
    FACTORY,
    assigns=["doc._.relations"],
    requires=["doc.ents"],
    default_config={"model": DEFAULT_MODEL, "candidates": DEFAULT_CANDIDATES, "spans_key": None, "threshold": 0.5,
                    "scorer": DEFAULT_SCORER},
    default_score_weights={"rel_f": 1.0, "rel_p": 0.0, "rel_r": 0.0},
)
def make_pair_mlp_reference(nlp: Language, name: str, model: Model, candidates: PairGenerator,
                            spans_key: Optional[str], threshold: float,
                            scorer: Optional[Callable]) -> "PairMLPReference":
    return PairMLPReference(nlp.vocab, model, name, candidates=candidates, spans_key=spans_key, threshold=threshold,
                            scorer=scorer)


class PairMLPReference(CandidatePairPipe):
    """One sigmoid per label for every candidate (head, tail) pair."""

    def pairs(self, docs: List[Doc]) -> Tuple[List[DocPair], Ints2d]:
        pairs = [(i, head, tail) for i, doc in enumerate(docs) for head, tail in self.get_pairs(doc)]
        rows = numpy.asarray([(i, h.start, h.end, t.start, t.end) for i, h, t in pairs], dtype="int64").reshape(-1, 5)
        return pairs, rows

    def initialize_model(self, get_examples: Callable, *, nlp: Optional[Language]) -> None:
        output = self.model.get_ref("output")
        output.set_dim("nO", len(self.labels))
        # The reference Docs hold the gold entities, so they give pairs even when the
        # predicted Docs have no entities yet (an `ner` before this pipe).
        examples = list(get_examples())
        docs = [eg.reference for eg in examples[:10]]
        _, rows = self.pairs(docs)
        self.model.initialize(X=(docs, rows) if len(rows) else None)
        # Each sigmoid starts at its label's frequency among the training pairs (Lin et al.,
        # 2017, "Focal loss for dense object detection", section 3.3). Started at 0.5 with a
        # few % positives, the first updates push every pair's logits down together, and a
        # fine-tuned encoder does that fastest by making all pairs alike: on CoNLL04 with
        # MiniLM the features' spread across pairs fell to a quarter and dev Rel F stayed 0
        # over 375 to 1,020 updates at each learning rate tried (benchmarks/notes/clm_vs_pair.md).
        output.set_param("b", self.model.ops.asarray1f(prior_logits(self.label_frequencies(examples))))

    def label_frequencies(self, examples: List[Example]) -> numpy.ndarray:
        """Per label, the share of the training pairs of `examples` that hold it: the mean of
        the targets the updates will read."""
        training = self.make_training_input(examples)
        return numpy.zeros(len(self.labels)) if training is None else self.model.ops.to_numpy(training[1]).mean(axis=0)

    def predict(self, docs) -> Tuple[List[DocPair], Floats2d]:
        docs = list(docs)
        pairs, rows = self.pairs(docs)
        if not pairs:
            return pairs, self.model.ops.alloc2f(0, len(self.labels))
        return pairs, self.model.predict((docs, rows))

    def set_annotations(self, docs, predictions: Tuple[List[DocPair], Floats2d]) -> None:
        docs = list(docs)
        pairs, scores = predictions
        scores = self.model.ops.to_numpy(scores)
        found: List[List[Relation]] = [[] for _ in docs]
        for (i, head, tail), row in zip(pairs, scores):
            for label, score in zip(self.labels, row):
                if score >= self.threshold:
                    found[i].append(Relation(head=head, tail=tail, label=label, score=float(score), source=self.name))
        self.write_relations(docs, found)

    def make_training_input(self, examples: List[Example]) -> Optional[Tuple[InT, Floats2d]]:
        pairs, rows = self.pairs(self.training_docs(examples))
        if not pairs:
            return None
        gold = {(i, *rel.key) for i, rels in enumerate(self.gold_relations(examples)) for rel in rels}
        truths = numpy.asarray([[(i, h.start, h.end, t.start, t.end, label) in gold for label in self.labels]
                                for i, h, t in pairs], dtype="float32")
        return ([eg.predicted for eg in examples], rows), self.model.ops.asarray2f(truths)

    def get_loss(self, examples, scores: Tuple[Floats2d, Floats2d]) -> Tuple[float, Floats2d]:
        """Mean binary cross-entropy, one sigmoid per label."""
        truths, probs = scores
        xp, eps = self.model.ops.xp, 1e-7
        loss = -(truths * xp.log(probs + eps) + (1 - truths) * xp.log(1 - probs + eps))
        # d loss / d probs: the Sigmoid layer's backprop multiplies by probs * (1 - probs)
        return float(loss.mean()), (probs - truths) / (probs * (1 - probs) + eps) / probs.size
