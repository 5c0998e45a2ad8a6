"""The pipe bases of the relation components, one layer per need:

- `RelationPipe`: what every relation-writing TrainablePipe shares: labels in
  `cfg["labels"]`, `initialize` from an argument or from gold relations, a `threshold`
  in `cfg`, the fixed `update` sequence over two declared hooks, writing
  `doc._.relations`, loading with coded errors, scoring through the registered scorer;
- `EntityRelationPipe`: components that read entity mentions (`doc.ents` or
  `doc.spans[spans_key]`) and, in training, the gold mentions;
- `CandidatePairPipe`: components that classify candidate mention pairs from a
  registered pair generator.
"""
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model, Ops, Optimizer, set_dropout_rate
from thinc.types import Floats2d, Ints1d

from .candidates import PairGenerator
from .entities import get_entities
from .errors import Errors, Warnings
from .readers import set_aligned_mentions
from .relations import Relation, align_relations, get_relations, install_extensions, set_relations

DEFAULT_SCORER = {"@scorers": "spacy-relext.relation_scorer.v1"}
# The small tok2vec every factory's default model owns, so `nlp.add_pipe(name)` works
# with no other component; the configs in configs/ use listeners instead.
DEFAULT_TOK2VEC_CONFIG = """
[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 2
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""
DEFAULT_CANDIDATES = {"@misc": "spacy-relext.entity_pairs.v1", "scope": "sentence"}


class RelationPipe(TrainablePipe):
    """Base class of the components that write `doc._.relations`.

    Subclasses implement `predict`, `set_annotations` (calling `write_relations`),
    `get_loss`, and the two hooks below, which `initialize` and `update` call.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        threshold: float,
        scorer: Optional[Callable] = None,
        **cfg: Any,
    ) -> None:
        """Initialize the component.

        vocab (Vocab): The shared vocabulary.
        model (Model): The Thinc model.
        name (str): The component name; also the `source` of the relations it writes.
        threshold (float): Relations scoring below it are not written.
        scorer (Optional[Callable]): The scoring method.
        **cfg: Further component settings, stored in `cfg`.
        """
        install_extensions()
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": [], "threshold": threshold, **cfg}

    def initialize_model(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language]) -> None:
        """Hook: size and initialize the model once the labels are known (called at the
        end of `initialize`)."""
        raise NotImplementedError

    def make_training_input(self, examples: List[Example]) -> Optional[Tuple[Any, Any]]:
        """Hook: the model input and the training targets of a batch, or None when it
        has nothing to learn from (`update` then skips it)."""
        raise NotImplementedError

    @property
    def labels(self) -> Tuple[str, ...]:
        """RETURNS (Tuple[str, ...]): The relation labels."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        """RETURNS (List[str]): The labels, for `spacy init labels`."""
        return list(self.labels)

    @property
    def threshold(self) -> float:
        return float(self.cfg["threshold"])

    @property
    def n_updates(self) -> int:
        """RETURNS (int): Training updates seen so far, for schedules (CLM warm-up,
        temperature annealing). Kept in `cfg` so that resuming from a saved
        pipeline continues the schedule instead of restarting it."""
        return int(self.cfg.get("n_updates", 0))

    @n_updates.setter
    def n_updates(self, value: int) -> None:
        self.cfg["n_updates"] = int(value)

    def add_label(self, label: str) -> int:
        """Add a relation label.

        label (str): The label.
        RETURNS (int): 0 if it was already present, else 1.
        """
        if not isinstance(label, str) or not label:
            raise ValueError(Errors.E006.format(label=label))
        if label in self.labels:
            return 0
        self._allow_extra_label()
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def _allow_extra_label(self) -> None:
        """Raise if the output layer is already sized for the current labels."""
        if self.model.has_dim("nO"):
            raise ValueError(Errors.E401.format(name=self.name))

    def _require_labels(self) -> None:
        if not self.labels:
            raise ValueError(Errors.E400.format(name=self.name))

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        """Take the labels from `labels` or from the gold relations, then build the model.

        get_examples (Callable[[], Iterable[Example]]): Training examples.
        nlp (Optional[Language]): The pipeline.
        labels (Optional[Sequence[str]]): The labels; read from the data when None.
        """
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        if labels is not None:
            for label in labels:
                self.add_label(label)
        else:
            for eg in get_examples():
                for rel in get_relations(eg.reference):
                    self.add_label(rel.label)
        self._require_labels()
        self._check_listeners(nlp)
        self.n_updates = 0  # a freshly initialized model starts its schedules again
        self.initialize_model(get_examples, nlp=nlp)

    def _check_listeners(self, nlp: Optional[Language]) -> None:
        """Raise E407 for a tok2vec/transformer listener whose upstream component is
        not in the pipeline: it would never receive input, and spaCy only notices
        deep inside the first update or prediction."""
        if nlp is None:
            return
        for node in self.model.walk():
            upstream = getattr(node, "upstream_name", None)
            if upstream is not None and upstream != "*" and upstream not in nlp.component_names:
                raise ValueError(
                    Errors.E407.format(name=self.name, kind=node.name, upstream=upstream, pipe_names=nlp.component_names)
                )

    def gold_relations(self, examples: Iterable[Example]) -> List[List[Relation]]:
        """Gold relations per example, on `eg.predicted` tokens, restricted to the
        component's labels; warns once about relations that do not align and about
        labels the component does not know (its output layer has no class for them).
        """
        gold, missed, unknown = [], [], []
        for eg in examples:
            aligned, lost = align_relations(eg)
            gold.append([rel for rel in aligned if rel.label in self.labels])
            unknown.extend(rel for rel in aligned if rel.label not in self.labels)
            missed.extend(lost)
        if missed:
            warnings.warn(Warnings.W002.format(count=len(missed), example=missed[0]))
        if unknown:
            labels = sorted({rel.label for rel in unknown})
            warnings.warn(Warnings.W003.format(count=len(unknown), name=self.name, labels=labels, known=list(self.labels)))
        return gold

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples; batches with no candidate pair are skipped.

        examples (Iterable[Example]): The batch.
        drop (float): The dropout rate.
        sgd (Optional[Optimizer]): The optimizer.
        losses (Optional[Dict[str, float]]): Running losses, updated in place.
        RETURNS (Dict[str, float]): The losses.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        set_dropout_rate(self.model, drop)
        inputs = self.make_training_input(examples)
        if inputs is None:
            return losses
        X, truths = inputs
        scores, backprop = self.model.begin_update(X)
        loss, d_scores = self.get_loss(examples, (truths, scores))
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def write_relations(self, docs: Iterable[Doc], relations: Iterable[List[Relation]]) -> None:
        """Replace this component's relations on each Doc, keeping other components'."""
        for doc, rels in zip(docs, relations):
            kept = [rel for rel in get_relations(doc) if rel.source != self.name]
            set_relations(doc, kept + list(rels))

    def restore_model_shape(self) -> None:
        """Rebuild the parts of the model that `initialize` sizes (from `cfg`), so the
        weights of a saved pipe can be loaded into a model rebuilt from config.
        """

    def _load_model(self, data: bytes) -> None:
        self.restore_model_shape()
        self.model.from_bytes(data)

    def _load_part(self, part: str, where: str, load: Callable[[], Any]) -> Any:
        """Run one step of loading; a missing, truncated or foreign file becomes E408
        naming the component and the path, instead of a msgpack or torch traceback."""
        try:
            return load()
        except Exception as e:
            raise ValueError(Errors.E408.format(part=part, name=self.name, where=where, error=e)) from e

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "RelationPipe":
        """Load the pipe from a bytestring (`cfg` first, then the model).

        DOCS: https://spacy.io/api/pipe#from_bytes
        """
        where = "bytes"
        deserialize = {
            "cfg": lambda b: self._load_part("cfg", where, lambda: self.cfg.update(srsly.json_loads(b))),
            "vocab": lambda b: self._load_part("vocab", where, lambda: self.vocab.from_bytes(b, exclude=exclude)),
            "model": lambda b: self._load_part("model", where, lambda: self._load_model(b)),
        }
        # spacy.util.from_bytes, with the container itself (truncated bytes) checked too
        msg = self._load_part("data", where, lambda: srsly.msgpack_loads(bytes_data))
        for key, setter in deserialize.items():
            if key not in exclude and key in msg:
                setter(msg[key])
        return self

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "RelationPipe":
        """Load the pipe from a directory (`cfg` first, then the model).

        DOCS: https://spacy.io/api/pipe#from_disk
        """
        deserialize = {
            "cfg": lambda p: self._load_part("cfg", str(p), lambda: self.cfg.update(srsly.read_json(p))),
            "vocab": lambda p: self._load_part("vocab", str(p), lambda: self.vocab.from_disk(p, exclude=exclude)),
            "model": lambda p: self._load_part("model", str(p), lambda: self._load_model(Path(p).read_bytes())),
        }
        util.from_disk(path, deserialize, exclude)
        return self


class EntityRelationPipe(RelationPipe):
    """A relation component that reads entity mentions: `doc.ents`, or the span group
    `spans_key`; in training, optionally the gold mentions instead of the predicted."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        spans_key: Optional[str],
        threshold: float,
        train_on_gold_entities: bool = True,
        scorer: Optional[Callable] = None,
        **cfg: Any,
    ) -> None:
        """Initialize the component.

        spans_key (Optional[str]): Read mentions from `doc.spans[spans_key]`
            instead of `doc.ents`.
        train_on_gold_entities (bool): In training, use the gold entity mentions
            (mapped onto the predicted tokens) instead of the predicted ones.
        Other arguments: as `RelationPipe`.
        """
        super().__init__(vocab, model, name, threshold=threshold, scorer=scorer, spans_key=spans_key,
                         train_on_gold_entities=train_on_gold_entities, **cfg)

    @property
    def spans_key(self) -> Optional[str]:
        return self.cfg["spans_key"]

    def has_mentions(self, doc: Doc) -> bool:
        """Whether a Doc carries the mentions this component reads. A Doc without the span
        group `spans_key` (raw text given to a pipeline trained on given entities) gets no
        relations and warning W040, instead of failing the whole batch; in training the
        reference Docs must have the group (E300)."""
        if len(doc) == 0:
            return False
        if self.spans_key is not None and self.spans_key not in doc.spans:
            warnings.warn(Warnings.W040.format(name=self.name, key=self.spans_key, text=doc.text[:40]))
            return False
        return True

    def training_docs(self, examples: Iterable[Example]) -> List[Doc]:
        """The Docs whose mentions are paired in training: `eg.predicted`, or a copy of
        it carrying the gold mentions when `train_on_gold_entities` is set. Token
        offsets are those of `eg.predicted` either way.
        """
        if not self.cfg["train_on_gold_entities"]:
            return [eg.predicted for eg in examples]
        docs = []
        for eg in examples:
            doc = eg.predicted.copy()
            set_aligned_mentions(eg, doc, self.spans_key, get_entities(eg.reference, self.spans_key))
            docs.append(doc)
        return docs


class CandidatePairPipe(EntityRelationPipe):
    """A relation component that classifies candidate (head, tail) mention pairs from a
    registered pair generator (`spacy-relext.entity_pairs.v1`)."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        candidates: PairGenerator,
        spans_key: Optional[str],
        threshold: float,
        train_on_gold_entities: bool = True,
        scorer: Optional[Callable] = None,
        **cfg: Any,
    ) -> None:
        """Initialize the component.

        candidates (PairGenerator): Ordered mention pairs to score.
        Other arguments: as `EntityRelationPipe`.
        """
        super().__init__(vocab, model, name, spans_key=spans_key, threshold=threshold,
                         train_on_gold_entities=train_on_gold_entities, scorer=scorer, **cfg)
        self.candidates = candidates

    def get_pairs(self, doc: Doc) -> List[Tuple[Span, Span]]:
        """The candidate (head, tail) mention pairs of a Doc."""
        if not self.has_mentions(doc):
            return []
        return self.candidates(doc, self.spans_key)


def softmax_cross_entropy(ops: Ops, logits: Floats2d, truths: Ints1d) -> Tuple[float, Floats2d]:
    """Mean cross-entropy of softmax(logits) against gold class indices, and its
    gradient with respect to the logits (softmax minus one-hot, over the batch).

    ops (Ops): The model's ops (numpy or cupy).
    logits (Floats2d): (N, C) scores.
    truths (Ints1d): (N,) gold classes.
    RETURNS (Tuple[float, Floats2d]): The loss and d_logits.
    """
    probs = ops.softmax(logits)
    rows = ops.xp.arange(len(truths))
    loss = -ops.xp.log(probs[rows, truths] + 1e-12).mean()
    d_logits = probs.copy()
    d_logits[rows, truths] -= 1
    return float(loss), d_logits / len(truths)
