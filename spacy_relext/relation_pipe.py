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
import hashlib
import json
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
from .errors import Errors, UnsafeWeightsError, Warnings
from .pipeline_dir import check_pipeline_dir
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
DEFAULT_CANDIDATES = {"@misc": "spacy-relext.entity_pairs.v2", "scope": "sentence"}
# The part of a saved component (a file, or a key of its bytes) holding the sha256 of the
# others as they were written.
CHECKSUMS = "checksums"

# How `cfg` settings are checked at load (E410): (what the value must be, the check).
CfgCheck = Tuple[str, Callable[[Any], bool]]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


NUMBER: CfgCheck = ("a number", lambda v: _is_int(v) or isinstance(v, float))
INT: CfgCheck = ("an integer", _is_int)
OPTIONAL_INT: CfgCheck = ("an integer or null", lambda v: v is None or _is_int(v))
BOOL: CfgCheck = ("true or false", lambda v: isinstance(v, bool))
STR: CfgCheck = ("a string", lambda v: isinstance(v, str))
OPTIONAL_STR: CfgCheck = ("a string or null", lambda v: v is None or isinstance(v, str))
STR_LIST: CfgCheck = ("a list of strings", _is_str_list)
OPTIONAL_STR_LIST: CfgCheck = ("a list of strings or null", lambda v: v is None or _is_str_list(v))


def one_of(options: Sequence[str]) -> CfgCheck:
    """A `cfg` setting that takes one of `options`."""
    return (f"one of {list(options)}", lambda v: isinstance(v, str) and v in options)


def checksums(parts: Dict[str, bytes]) -> Dict[str, Dict[str, str]]:
    """The `checksums` part: the sha256 of each saved part's bytes."""
    return {"sha256": {key: hashlib.sha256(data).hexdigest() for key, data in parts.items()}}


def read_checksums(data: bytes) -> Dict[str, str]:
    """The sha256 per part from the bytes of a `checksums` part (ValueError if malformed)."""
    sums = srsly.json_loads(data).get("sha256")
    if not isinstance(sums, dict) or not all(isinstance(v, str) for v in sums.values()):
        raise ValueError("expected {\"sha256\": {part: hex digest}}")
    return sums


class RelationPipe(TrainablePipe):
    """Base class of the components that write `doc._.relations`.

    Subclasses implement `predict`, `set_annotations` (calling `write_relations`),
    `get_loss`, and the two hooks below, which `initialize` and `update` call.
    """

    # The `cfg` settings the pipe relies on, checked when a saved pipe is loaded (E410);
    # subclasses extend it with theirs. `labels` is checked apart.
    CFG_SCHEMA: Dict[str, CfgCheck] = {"threshold": NUMBER, "n_updates": INT}

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
        loss = self.backprop_batch(examples, X, truths)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def backprop_batch(self, examples: List[Example], X: Any, truths: Any) -> float:
        """Forward and backward over a batch's training input, the gradients left on the
        model for the optimizer.

        RETURNS (float): The batch's loss.
        """
        scores, backprop = self.model.begin_update(X)
        loss, d_scores = self.get_loss(examples, (truths, scores))
        backprop(d_scores)
        return loss

    def write_relations(self, docs: Iterable[Doc], relations: Iterable[List[Relation]]) -> None:
        """Replace this component's relations on each Doc, keeping other components'."""
        for doc, rels in zip(docs, relations):
            kept = [rel for rel in get_relations(doc) if rel.source != self.name]
            set_relations(doc, kept + list(rels))

    def restore_model_shape(self) -> None:
        """Rebuild the parts of the model that `initialize` sizes (from `cfg`), so the
        weights of a saved pipe can be loaded into a model rebuilt from config.
        """

    # -- saving and loading ------------------------------------------------------------
    #
    # A saved component is its `cfg` (JSON) and its `model` (thinc msgpack), as spaCy's
    # TrainablePipe saves them, plus `checksums`: the sha256 of those two as written. A
    # load checks, in order: the checksums (E409; W020 when there are none), that `cfg`
    # is well formed (E410), that `cfg` fits the saved model's shape (E411), and reads
    # torch weights as plain tensors only (E412). Any other failure is E408.

    def cfg_dims(self) -> Dict[str, Tuple[int, str]]:
        """The model dims that `cfg` fixes, with the reason, checked against the dims a
        saved model holds before its weights are loaded (E411). Components whose output
        is not one row per label override it.

        RETURNS (Dict[str, Tuple[int, str]]): Dim name -> (value, why).
        """
        return {"nO": (len(self.labels), "one output per label in cfg['labels']")}

    def _saved_parts(self, exclude: Iterable[str]) -> Dict[str, bytes]:
        """`cfg` and `model` as written, the bytes their checksums are taken of."""
        parts = {}
        if "cfg" not in exclude:
            parts["cfg"] = srsly.json_dumps(self.cfg, indent=2).encode("utf8")
        if "model" not in exclude:
            parts["model"] = self.model.to_bytes()
        return parts

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """Serialize the pipe (`cfg`, `model`, their checksums and `vocab`) to a bytestring.

        DOCS: https://spacy.io/api/pipe#to_bytes
        """
        self._validate_serialization_attrs()
        parts = self._saved_parts(exclude)
        msg: Dict[str, Any] = {key: data.decode("utf8") if key == "cfg" else data for key, data in parts.items()}
        msg[CHECKSUMS] = srsly.json_dumps(checksums(parts))  # JSON, as the file on disk
        if "vocab" not in exclude:
            msg["vocab"] = self.vocab.to_bytes(exclude=exclude)
        return srsly.msgpack_dumps(msg)

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """Save the pipe to a directory: the files `cfg`, `model`, `checksums` (and `vocab`).

        DOCS: https://spacy.io/api/pipe#to_disk
        """
        self._validate_serialization_attrs()
        parts = self._saved_parts(exclude)
        serialize: Dict[str, Callable[[Path], Any]] = {
            key: (lambda p, data=data: p.write_bytes(data)) for key, data in parts.items()
        }
        serialize[CHECKSUMS] = lambda p: srsly.write_json(p, checksums(parts))
        serialize["vocab"] = lambda p: self.vocab.to_disk(p, exclude=exclude)
        util.to_disk(path, serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "RelationPipe":
        """Load the pipe from a bytestring: checksums (E409, W020), cfg (E410, E411), weights (E412).

        DOCS: https://spacy.io/api/pipe#from_bytes
        """
        msg = self._load_part("data", "bytes", lambda: dict(srsly.msgpack_loads(bytes_data)))

        def read(part: str) -> Optional[bytes]:  # a part left out when saving is skipped
            data = msg.get(part)
            if data is not None and not isinstance(data, (str, bytes)):
                raise ValueError(f"expected the saved bytes of '{part}', got {type(data).__name__}")
            return data.encode("utf8") if isinstance(data, str) else data

        def load_vocab() -> None:
            if "vocab" in msg:
                self.vocab.from_bytes(msg["vocab"], exclude=exclude)

        self._load_checked(read, load_vocab, None, exclude)
        return self

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "RelationPipe":
        """Load the pipe from a directory: checksums (E409, W020), cfg (E410, E411), weights (E412).

        DOCS: https://spacy.io/api/pipe#from_disk
        """
        path = util.ensure_path(path)
        check_pipeline_dir(path.parent)  # E114: a model-best that a killed spacy train left half-copied

        def read(part: str) -> Optional[bytes]:  # a missing cfg or model is E408
            if part == CHECKSUMS and not (path / part).exists():
                return None
            return (path / part).read_bytes()

        self._load_checked(read, lambda: self.vocab.from_disk(path / "vocab", exclude=exclude), path, exclude)
        return self

    def _load_checked(self, read: Callable[[str], Optional[bytes]], load_vocab: Callable[[], None],
                      path: Optional[Path], exclude: Iterable[str]) -> None:
        """Load `cfg`, `vocab` and `model`, in that order, from the component's directory
        `path` or (None) from bytes. `read` gives a part's bytes, or None when it was not
        saved."""

        location = "bytes" if path is None else str(path)

        def where(part: str) -> str:
            return "bytes" if path is None else str(path / part)

        expected = None
        if CHECKSUMS not in exclude:
            data = self._load_part(CHECKSUMS, where(CHECKSUMS), lambda: read(CHECKSUMS))
            if data is None:
                warnings.warn(Warnings.W020.format(name=self.name, where=location))
            else:
                expected = self._load_part(CHECKSUMS, where(CHECKSUMS), lambda: read_checksums(data))
        if "cfg" not in exclude:
            data = self._load_part("cfg", where("cfg"), lambda: read("cfg"))
            if data is not None:
                self._verify_checksum("cfg", data, expected, where("cfg"))
                # The standard library's parser: srsly's ujson reads 0.7 as 0.7000000000000001,
                # so a tuned threshold would not load as it was saved.
                cfg = self._load_part("cfg", where("cfg"), lambda: json.loads(data))
                self._check_cfg(cfg, where("cfg"))
                self.cfg.update(cfg)
        if "vocab" not in exclude:
            self._load_part("vocab", where("vocab"), load_vocab)
        if "model" not in exclude:
            data = self._load_part("model", where("model"), lambda: read("model"))
            if data is not None:
                self._verify_checksum("model", data, expected, where("model"))
                self._load_model(data, where("model"), location)

    def _verify_checksum(self, part: str, data: bytes, expected: Optional[Dict[str, str]], where: str) -> None:
        if expected is not None and part in expected:
            found = hashlib.sha256(data).hexdigest()
            if found != expected[part]:
                raise ValueError(Errors.E409.format(part=part, name=self.name, where=where,
                                                    expected=expected[part], found=found))

    def _check_cfg(self, cfg: Any, where: str) -> None:
        """Raise E410 unless the loaded `cfg` is an object whose labels are distinct
        non-empty strings and whose other settings have the types in `CFG_SCHEMA`."""
        if not isinstance(cfg, dict):
            raise ValueError(Errors.E410.format(name=self.name, where=where,
                                                problem=f"expected an object of settings, got {cfg!r}"))
        merged = {**self.cfg, **cfg}
        labels = merged.get("labels")
        if not (isinstance(labels, list) and all(isinstance(label, str) and label for label in labels)):
            problem = f"'labels' must be a list of non-empty strings, got {labels!r}"
            raise ValueError(Errors.E410.format(name=self.name, where=where, problem=problem))
        if len(set(labels)) != len(labels):
            twice = sorted({label for label in labels if labels.count(label) > 1})
            problem = f"'labels' lists {twice} more than once"
            raise ValueError(Errors.E410.format(name=self.name, where=where, problem=problem))
        for key, (kind, valid) in self.CFG_SCHEMA.items():
            if key in merged and not valid(merged[key]):
                problem = f"'{key}' must be {kind}, got {merged[key]!r}"
                raise ValueError(Errors.E410.format(name=self.name, where=where, problem=problem))

    def _load_model(self, data: bytes, where: str, location: str) -> None:
        """Check the saved model's dims against `cfg` (E411, naming the component's
        directory: cfg or model may be the wrong one), then rebuild the model's shape from
        `cfg` and load the weights (torch weights as plain tensors only, E412)."""
        msg = self._load_part("model", where, lambda: srsly.msgpack_loads(data))
        try:
            top = msg["nodes"][0]
            saved_name, saved_dims = top["name"], dict(top["dims"])
        except (KeyError, IndexError, TypeError):
            saved_name, saved_dims = None, {}  # not a thinc model: from_bytes says so (E408)
        if saved_name == self.model.name:  # another architecture's model is E408 below
            for dim, (value, why) in self.cfg_dims().items():
                found = saved_dims.get(dim)
                if found is not None and found != value:
                    raise ValueError(Errors.E411.format(name=self.name, where=location, dim=dim, expected=value,
                                                        why=why, found=found))

        def load() -> None:
            self.restore_model_shape()
            self.model.from_bytes(data)

        self._load_part("model", where, load)

    def _load_part(self, part: str, where: str, load: Callable[[], Any]) -> Any:
        """Run one step of loading; a missing, truncated or foreign file becomes E408
        naming the component and the path, instead of a msgpack or torch traceback, and
        torch weights that are not plain tensors become E412."""
        try:
            return load()
        except UnsafeWeightsError as e:
            raise ValueError(Errors.E412.format(name=self.name, where=where, reason=e)) from None
        except Exception as e:
            raise ValueError(Errors.E408.format(part=part, name=self.name, where=where, error=e)) from e


class EntityRelationPipe(RelationPipe):
    """A relation component that reads entity mentions: `doc.ents`, or the span group
    `spans_key`; in training, optionally the gold mentions instead of the predicted."""

    CFG_SCHEMA = {**RelationPipe.CFG_SCHEMA, "spans_key": OPTIONAL_STR, "train_on_gold_entities": BOOL}

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
    registered pair generator (`spacy-relext.entity_pairs.v2`)."""

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
