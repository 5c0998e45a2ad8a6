"""`span_extractor`: RERE's second stage (Xie et al., 2021, section 4.2), relation-specific
subject and object extraction with four pointer channels, listener mode.

At inference every sentence is queried with the relations that `relation_detector`
wrote on it (`span._.relation_scores`), or with every label when `query_all_labels` is
set (the "query every relation type" baseline; also lets the component run alone). In
training the queries are the gold relations of each sentence, plus up to
`negative_queries` (default 1) absent labels sampled anew at every update, whose targets
are empty: the extractor learns to return nothing for a relation the sentence does not
express, so the detector's false positives do not become triples. The pointer
probabilities are decoded with the paper's nearest-span pairing or the released code's
Cartesian pairing (`pointer_decoding.py`). The component creates the argument spans
itself: it needs no entity recognizer.
"""

import random
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats2d, Ints2d

from ..entities import sentence_spans
from ..errors import Errors
from .pu_loss import estimate_prior
from .architectures import N_POINTERS, QueryT
from ..relations import SENT_EXT_ATTR, Relation, get_sentence_scores, relations_by_sentence
from .pointer_decoding import PAIRINGS, decode_pointers
from ..relation_pipe import BOOL, DEFAULT_TOK2VEC_CONFIG, INT, OPTIONAL_STR, one_of
from .pu_pipe import PULossPipe

DEFAULT_EXTRACTOR_MODEL_CONFIG = """
[model]
@architectures = "spacy-relext.SpanExtractor.v2"
hidden_width = 128
depth = 1
dropout = 0.1
""" + DEFAULT_TOK2VEC_CONFIG
DEFAULT_EXTRACTOR_MODEL = Config().from_str(DEFAULT_EXTRACTOR_MODEL_CONFIG)["model"]
DEFAULT_TRIPLE_SCORER = {"@scorers": "spacy-relext.triple_scorer.v2"}
Batch = Tuple[Ints2d, Floats2d]  # query rows and their per-token pointer values
# Query tokens per forward pass at inference. Every query holds its own copy of its
# sentence's states, so one pass over a whole batch grows with sentences x detected
# relations: on WebNLG's dev set (500 sentences, 171 labels) the untrained cPU detector's
# step-0 evaluation queried nearly every label and the pass was killed at 14.6 GB.
MAX_QUERY_TOKENS = 16384


@Language.factory(
    "span_extractor",
    assigns=["doc._.relations"],
    requires=[f"span._.{SENT_EXT_ATTR}"],
    default_config={
        "model": DEFAULT_EXTRACTOR_MODEL,
        "threshold": 0.5,
        "pairing": "nearest",
        "max_span_length": 40,
        "loss": "bce",
        "gamma": 1.0,
        "tau": 0.05,
        "negative_queries": 1,
        "query_all_labels": False,
        "span_group": None,
        "scorer": DEFAULT_TRIPLE_SCORER,
    },
    default_score_weights={
        "triple_exact_f": 1.0,
        "triple_exact_p": 0.0,
        "triple_exact_r": 0.0,
        "triple_partial_f": None,
        "triple_partial_p": None,
        "triple_partial_r": None,
    },
)
def make_span_extractor(
    nlp: Language,
    name: str,
    model: Model[QueryT, Floats2d],
    threshold: float,
    pairing: str,
    max_span_length: int,
    loss: str,
    gamma: float,
    tau: float,
    negative_queries: int,
    query_all_labels: bool,
    span_group: Optional[str],
    scorer: Optional[Callable],
) -> "SpanExtractor":
    """Create a `span_extractor` component.

    model (Model[Tuple[List[Doc], Ints2d], Floats2d]): Four pointer logits per query token.
    threshold (float): Pointer threshold ("nearest") or span-score threshold ("cartesian").
    pairing (str): "nearest" (the paper's rule) or "cartesian" (the released code's).
    max_span_length (int): Longest argument span, in tokens.
    loss (str): "bce" (the released code's) or "cpu", per pointer channel over the tokens.
    gamma (float): cPU weight of the positive term.
    tau (float): cPU assumed false-negative ratio.
    negative_queries (int): Absent labels sampled per sentence and update in training, with
        empty targets, so the extractor learns to point nowhere for a relation the sentence
        does not express and a false detection does not become a false triple (0: gold
        relations only, as the released code of Xie et al., 2021 trains it).
    query_all_labels (bool): Query every label instead of the detected relations.
    span_group (Optional[str]): Also write the argument spans to `doc.spans[span_group]`,
        labelled "subject" or "object".
    scorer (Optional[Callable]): The scoring method.
    """
    return SpanExtractor(
        nlp.vocab,
        model,
        name,
        threshold=threshold,
        pairing=pairing,
        max_span_length=max_span_length,
        loss=loss,
        gamma=gamma,
        tau=tau,
        negative_queries=negative_queries,
        query_all_labels=query_all_labels,
        span_group=span_group,
        scorer=scorer,
    )


class SpanExtractor(PULossPipe):
    """Extract the subject and object spans of each relation detected in a sentence.

    DOCS: README.md, "span_extractor"
    """

    CFG_SCHEMA = {**PULossPipe.CFG_SCHEMA, "pairing": one_of(PAIRINGS), "max_span_length": INT,
                  "negative_queries": INT, "query_all_labels": BOOL, "span_group": OPTIONAL_STR}

    def __init__(
        self,
        vocab: Vocab,
        model: Model[QueryT, Floats2d],
        name: str = "span_extractor",
        *,
        threshold: float = 0.5,
        pairing: str = "nearest",
        max_span_length: int = 40,
        loss: str = "bce",
        gamma: float = 1.0,
        tau: float = 0.05,
        negative_queries: int = 1,
        query_all_labels: bool = False,
        span_group: Optional[str] = None,
        scorer: Optional[Callable] = None,
    ) -> None:
        """Initialize the component; see `make_span_extractor` for the settings."""
        if pairing not in PAIRINGS:
            raise ValueError(Errors.E601.format(options=PAIRINGS, value=pairing))
        if negative_queries < 0:
            raise ValueError(Errors.E603.format(value=negative_queries))
        super().__init__(
            vocab,
            model,
            name,
            threshold=threshold,
            loss=loss,
            gamma=gamma,
            tau=tau,
            scorer=scorer,
            pairing=pairing,
            max_span_length=max_span_length,
            negative_queries=negative_queries,
            query_all_labels=query_all_labels,
            span_group=span_group,
        )

    def cfg_dims(self) -> Dict[str, Tuple[int, str]]:
        """The model has one relation embedding (query) per label."""
        return {"nL": (len(self.labels), "one relation query per label in cfg['labels']")}

    def _allow_extra_label(self) -> None:
        if self.model.has_dim("nL"):
            raise ValueError(Errors.E401.format(name=self.name))

    def initialize_model(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language]) -> None:
        """Size the relation embeddings, estimate the pointer prior `pi` (fraction of
        positive pointer targets over the gold queries' tokens, in `cfg["prior"]`) and
        initialize the model."""
        examples = list(get_examples())
        _, targets = self.training_queries(examples, negatives=0)
        self.cfg["prior"] = estimate_prior(targets)
        self.model.set_dim("nL", len(self.labels))
        if "labels" in self.model.attrs:  # query mode: the labels are the query texts
            self.model.attrs["labels"] = list(self.labels)
        self.model.initialize(X=([eg.predicted for eg in examples[:10]], numpy.zeros((0, 4), dtype="int32")))

    def training_queries(self, examples: List[Example], *, negatives: int) -> Batch:
        """Queries from the gold relations of each sentence, with pointer targets.

        examples (List[Example]): Examples with gold relations.
        negatives (int): Absent labels sampled per sentence, with empty targets.
        RETURNS (Tuple[Ints2d, Floats2d]): Query rows (doc index, start, end, label index)
            and targets, one row of 4 pointer values per query token.
        """
        index = {label: i for i, label in enumerate(self.labels)}
        queries, targets = [], []
        for d, (eg, gold) in enumerate(zip(examples, self.gold_relations(examples))):
            sents = sentence_spans(eg.predicted)
            for sent, rels in zip(sents, relations_by_sentence(sents, gold)):
                present = sorted({rel.label for rel in rels if rel.label in index})
                absent = [label for label in self.labels if label not in present]
                for label in present + random.sample(absent, min(negatives, len(absent))):
                    queries.append((d, sent.start, sent.end, index[label]))
                    target = numpy.zeros((len(sent), N_POINTERS), dtype="float32")
                    for rel in rels:
                        if rel.label == label:
                            for channel, token in enumerate(
                                (rel.head.start, rel.head.end - 1, rel.tail.start, rel.tail.end - 1)
                            ):
                                target[token - sent.start, channel] = 1.0
                    targets.append(target)
        rows = numpy.asarray(queries, dtype="int32").reshape((len(queries), 4))
        flat = numpy.concatenate(targets) if targets else numpy.zeros((0, N_POINTERS), dtype="float32")
        return rows, flat

    def make_training_input(self, examples: List[Example]) -> Optional[Tuple[QueryT, Tuple[Floats2d, List[int]]]]:
        """The model input, and the pointer targets with each query's length; None when
        no sentence has a query."""
        queries, targets = self.training_queries(examples, negatives=self.cfg["negative_queries"])
        if not len(queries):
            return None
        ops = self.model.ops
        lengths = (queries[:, 2] - queries[:, 1]).tolist()
        return ([eg.predicted for eg in examples], ops.asarray2i(queries)), (ops.asarray2f(targets), lengths)

    def get_loss(
        self, examples: Iterable[Example], truths_scores: Tuple[Tuple[Floats2d, List[int]], Floats2d]
    ) -> Tuple[float, Floats2d]:
        """Pointer loss: each (query, channel) is one sample over the query's tokens.

        examples (Iterable[Example]): The batch.
        truths_scores (Tuple[Tuple[Floats2d, List[int]], Floats2d]): Targets (one row per
            query token) with the query lengths, and the logits.
        RETURNS (Tuple[float, Floats2d]): The loss and d_logits.
        """
        (truths, lengths), scores = truths_scores
        xp = self.model.ops.xp
        q_index = xp.asarray(numpy.repeat(numpy.arange(len(lengths)), lengths))
        position = xp.asarray(numpy.concatenate([numpy.arange(n) for n in lengths]))
        shape = (len(lengths), int(max(lengths)), N_POINTERS)

        def to_channels(flat: Floats2d) -> Floats2d:
            padded = xp.zeros(shape, dtype="float32")
            padded[q_index, position] = flat
            return padded.transpose((0, 2, 1)).reshape((-1, shape[1]))

        mask = xp.zeros(shape[:2], dtype="float32")
        mask[q_index, position] = 1.0
        mask = xp.repeat(mask, N_POINTERS, axis=0)
        loss, d_channels = self.pu_loss(to_channels(scores), to_channels(truths), mask)
        d_scores = d_channels.reshape((shape[0], N_POINTERS, shape[1])).transpose((0, 2, 1))[q_index, position]
        return loss, self.model.ops.asarray2f(d_scores)

    def inference_queries(self, docs: List[Doc]) -> Ints2d:
        """Query rows for the detected relations of each sentence (or every label).

        docs (List[Doc]): The documents.
        RETURNS (Ints2d): Rows (doc index, start, end, label index).
        """
        index = {label: i for i, label in enumerate(self.labels)}
        queries = []
        for d, doc in enumerate(docs):
            for sent in sentence_spans(doc):
                labels = self.labels if self.cfg["query_all_labels"] else (get_sentence_scores(sent) or {})
                queries.extend((d, sent.start, sent.end, index[label]) for label in labels if label in index)
        return numpy.asarray(queries, dtype="int32").reshape((len(queries), 4))

    def predict(self, docs: Iterable[Doc]) -> Batch:
        """Pointer probabilities for every query; docs are not changed.

        docs (Iterable[Doc]): The documents.
        RETURNS (Tuple[Ints2d, Floats2d]): Query rows and (n_query_tokens, 4) probabilities.
        """
        docs = list(docs)
        queries = self.inference_queries(docs)
        if not len(queries):
            return queries, self.model.ops.alloc2f(0, N_POINTERS)
        probs = []
        for first, last, rows in query_chunks(queries, MAX_QUERY_TOKENS):
            local = rows.copy()
            local[:, 0] -= first
            logits = self.model.predict((docs[first : last + 1], self.model.ops.asarray2i(local)))
            probs.append(self.model.ops.sigmoid(logits))
        return queries, self.model.ops.xp.concatenate(probs)

    def set_annotations(self, docs: Iterable[Doc], batch: Batch) -> None:
        """Decode the pointers and write this component's `doc._.relations` (and the
        argument spans to `doc.spans[span_group]` when set).

        docs (Iterable[Doc]): The documents.
        batch (Tuple[Ints2d, Floats2d]): The output of `predict`.
        """
        docs = list(docs)
        relations = self.decode(docs, batch, self.threshold)
        self.write_relations(docs, relations)
        if self.cfg["span_group"] is not None:
            for doc, rels in zip(docs, relations):
                spans = {(r.head.start, r.head.end, "subject") for r in rels}
                spans |= {(r.tail.start, r.tail.end, "object") for r in rels}
                doc.spans[self.cfg["span_group"]] = [Span(doc, s, e, label=lab) for s, e, lab in sorted(spans)]

    def decode(self, docs: List[Doc], batch: Batch, threshold: float) -> List[List[Relation]]:
        """The relations of each Doc that the pointers of `predict` give at a threshold
        (`tune_thresholds` decodes one prediction at many).

        docs (List[Doc]): The documents `predict` ran on.
        batch (Tuple[Ints2d, Floats2d]): The output of `predict`.
        threshold (float): The pointer (or span-score) threshold.
        RETURNS (List[List[Relation]]): The relations of each Doc, query after query.
        """
        queries, probs = batch
        probs = self.model.ops.to_numpy(probs)
        relations: List[List[Relation]] = [[] for _ in docs]
        # Token texts only for the cartesian rule (it merges spans with equal strings; the
        # nearest rule reads none), once per sentence however many relations query it
        # (issue 24 item 3: a Token object per token and query showed as 6% of a cProfile
        # of inference with every label queried).
        cartesian = self.cfg["pairing"] == "cartesian"
        texts: Dict[Tuple[int, int, int], List[str]] = {}
        offset = 0
        for d, start, end, label in self.model.ops.to_numpy(queries).tolist():
            doc, query_probs = docs[d], probs[offset : offset + end - start]
            offset += end - start
            if cartesian and (d, start, end) not in texts:
                texts[d, start, end] = [token.text for token in doc[start:end]]
            pairs = decode_pointers(
                query_probs,
                threshold,
                pairing=self.cfg["pairing"],
                texts=texts.get((d, start, end)),
                max_length=self.cfg["max_span_length"],
            )
            for subj, obj, score in pairs:
                relations[d].append(
                    Relation(
                        head=doc[start + subj[0] : start + subj[1]],
                        tail=doc[start + obj[0] : start + obj[1]],
                        label=self.labels[label],
                        score=score,
                        source=self.name,
                    )
                )
        return relations


def query_chunks(queries: numpy.ndarray, budget: int) -> Iterable[Tuple[int, int, numpy.ndarray]]:
    """Consecutive runs of query rows of at most `budget` tokens (a longer query runs
    alone), each with the first and last doc index it refers to; `queries` are in doc
    order, as `inference_queries` writes them.

    queries (numpy.ndarray): (doc index, start, end, label index) per query.
    budget (int): The most query tokens in one run.
    YIELDS (Tuple[int, int, numpy.ndarray]): First doc, last doc, the run's rows.
    """
    lengths = queries[:, 2] - queries[:, 1]
    begin, total = 0, 0
    for i, length in enumerate(lengths.tolist()):
        if total and total + length > budget:
            yield int(queries[begin, 0]), int(queries[i - 1, 0]), queries[begin:i]
            begin, total = i, 0
        total += length
    yield int(queries[begin, 0]), int(queries[-1, 0]), queries[begin:]
