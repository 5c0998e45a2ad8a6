"""`relation_detector`: RERE's first stage, sentence-level multi-label relation
detection (Xie et al., 2021, sections 4.1 and 4.3), trained with the collective PU loss or
plain BCE.

Each sentence (`entities.sentence_spans`: `doc.sents`, or the whole Doc when it has no
sentence boundaries) gets `span._.relation_scores`: `{label: score}` for the labels
scoring at or above `threshold` (`{}` when none does). The value is plain data that spaCy
keeps in `doc.user_data` under the sentence's character offsets, so it survives
`DocBin(store_user_data=True)`, pickle, `nlp.pipe(n_process=2)` and `Doc.from_docs`
(see `relations.install_sentence_extension`). `span_extractor` reads it at inference.
"""

from typing import Callable, Iterable, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats2d

from ..entities import sentence_spans
from .pu_loss import estimate_prior
from ..relations import SENT_EXT_ATTR, install_sentence_extension, relations_by_sentence
from ..relation_pipe import DEFAULT_TOK2VEC_CONFIG
from .pu_pipe import PULossPipe

DEFAULT_DETECTOR_MODEL_CONFIG = """
[model]
@architectures = "spacy-relext.RelationDetector.v1"
hidden_width = 64
dropout = 0.1
""" + DEFAULT_TOK2VEC_CONFIG
DEFAULT_DETECTOR_MODEL = Config().from_str(DEFAULT_DETECTOR_MODEL_CONFIG)["model"]
DEFAULT_DETECTION_SCORER = {"@scorers": "spacy-relext.relation_detection_scorer.v1"}


@Language.factory(
    "relation_detector",
    assigns=[f"span._.{SENT_EXT_ATTR}"],
    default_config={
        "model": DEFAULT_DETECTOR_MODEL,
        "threshold": 0.5,
        "loss": "cpu",
        "gamma": 0.04,
        "tau": 0.05,
        "scorer": DEFAULT_DETECTION_SCORER,
    },
    default_score_weights={
        "rel_detect_f": 1.0,
        "rel_detect_p": 0.0,
        "rel_detect_r": 0.0,
        "rel_detect_per_type": None,
    },
)
def make_relation_detector(
    nlp: Language,
    name: str,
    model: Model[List[Doc], Floats2d],
    threshold: float,
    loss: str,
    gamma: float,
    tau: float,
    scorer: Optional[Callable],
) -> "RelationDetector":
    """Create a `relation_detector` component.

    model (Model[List[Doc], Floats2d]): One row of label logits per sentence.
    threshold (float): A sentence's relations are the labels scoring at or above it.
    loss (str): "cpu" (collective PU loss, the paper's choice) or "bce".
    gamma (float): cPU weight of the positive term (0.04 in the released code).
    tau (float): cPU assumed false-negative ratio; `mu = pi * (tau + 1)` with `pi` the
        fraction of positive labels in the training data.
    scorer (Optional[Callable]): The scoring method.
    """
    return RelationDetector(nlp.vocab, model, name, threshold=threshold, loss=loss, gamma=gamma, tau=tau, scorer=scorer)


class RelationDetector(PULossPipe):
    """Detect which relations a sentence expresses (no entities needed).

    DOCS: README.md, "relation_detector"
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], Floats2d],
        name: str = "relation_detector",
        *,
        threshold: float = 0.5,
        loss: str = "cpu",
        gamma: float = 0.04,
        tau: float = 0.05,
        scorer: Optional[Callable] = None,
    ) -> None:
        """Initialize the component; see `make_relation_detector` for the settings."""
        install_sentence_extension()
        super().__init__(vocab, model, name, threshold=threshold, loss=loss, gamma=gamma, tau=tau, scorer=scorer)

    def initialize_model(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language]) -> None:
        """Size the output layer, estimate the label prior `pi` from all training
        examples (stored in `cfg["prior"]`) and initialize the model."""
        examples = list(get_examples())
        targets = self.sentence_targets(examples)
        self.cfg["prior"] = estimate_prior(targets)
        self.model.set_dim("nO", len(self.labels))
        self.model.initialize(X=[eg.predicted for eg in examples[:10]])

    def sentence_targets(self, examples: List[Example]) -> numpy.ndarray:
        """0/1 label matrix, one row per sentence of the `eg.predicted` Docs.

        examples (List[Example]): Examples with gold relations.
        RETURNS (numpy.ndarray): (n_sentences, n_labels) float32.
        """
        index = {label: i for i, label in enumerate(self.labels)}
        rows = []
        for eg, gold in zip(examples, self.gold_relations(examples)):
            for rels in relations_by_sentence(sentence_spans(eg.predicted), gold):
                row = numpy.zeros((len(index),), dtype="float32")
                row[[index[rel.label] for rel in rels if rel.label in index]] = 1.0
                rows.append(row)
        return numpy.asarray(rows, dtype="float32").reshape((len(rows), len(index)))

    def make_training_input(self, examples: List[Example]) -> Optional[Tuple[List[Doc], Floats2d]]:
        """The docs and the sentence label matrix; None when the batch has no sentence."""
        targets = self.sentence_targets(examples)
        if not len(targets):
            return None
        return [eg.predicted for eg in examples], self.model.ops.asarray2f(targets)

    def get_loss(self, examples: Iterable[Example], truths_scores: Tuple[Floats2d, Floats2d]) -> Tuple[float, Floats2d]:
        """The cPU or BCE loss of the sentence logits and its gradient.

        examples (Iterable[Example]): The batch.
        truths_scores (Tuple[Floats2d, Floats2d]): Targets and logits.
        RETURNS (Tuple[float, Floats2d]): The loss and d_logits.
        """
        truths, scores = truths_scores
        return self.pu_loss(scores, truths)

    def predict(self, docs: Iterable[Doc]) -> Floats2d:
        """Label probabilities, one row per sentence; docs are not changed.

        docs (Iterable[Doc]): The documents.
        RETURNS (Floats2d): (n_sentences, n_labels) probabilities.
        """
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return self.model.ops.alloc2f(0, len(self.labels))
        return self.model.ops.sigmoid(self.model.predict(docs))

    def set_annotations(self, docs: Iterable[Doc], probs: Floats2d) -> None:
        """Write `span._.relation_scores` on every sentence.

        docs (Iterable[Doc]): The documents.
        probs (Floats2d): The output of `predict`.
        """
        probs = self.model.ops.to_numpy(probs)
        row = 0
        for doc in docs:
            for sent in sentence_spans(doc):
                scores = {label: float(p) for label, p in zip(self.labels, probs[row]) if p >= self.threshold}
                setattr(sent._, SENT_EXT_ATTR, scores)
                row += 1
