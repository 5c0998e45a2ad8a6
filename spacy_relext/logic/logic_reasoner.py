"""`logic_reasoner`: document-level relation extraction with learned logic rules
(LogiRE, Ru et al., 2021, section 3), with another component of the same pipeline as its
frozen backbone.

It runs last, on whole documents. It reads the entity clusters and the relations a
frozen backbone component wrote (`doc._.relations` with `source == backbone`), turns
them into entity-pair logits `[N, N, R]` (max over mention pairs; pairs the backbone
never scored get `UNSEEN`, so only rules can add them), scores every type-valid
candidate with learned rules `r(e0, eL) <- r1(e0, e1) ^ ... ^ rL(eL-1, eL)` and writes
the refined relations, each with the rules and grounding paths that support it.

The rule model is `spacy-relext.LogicRules.v1` ([components.NAME.model], the sizes).
Training is LogiRE's EM, run by `initialize` on the training examples (its settings in
[initialize.components.NAME]); the pipeline up to the backbone runs there first, since
spaCy runs no earlier component in `initialize`. `update` fine-tunes the rule weights
on a batch with the current rule set, reading the backbone's relations that an
annotating backbone wrote. configs/logic_dwie.cfg trains it with `spacy train`.
"""
import math
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_get_examples
from spacy.util import load_config
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats1d, Floats2d, Ints1d

from ..entities import get_entity_clusters
from ..errors import Errors, Warnings
from ..pipeline_dir import check_pipeline_dir
from ..relation_pipe import INT, STR, STR_LIST, CfgCheck, EntityRelationPipe
from ..relations import Relation, get_relations, set_relations
from .architectures import SHAPE_DIMS, SIZES, check_sizes, logic_module
from .pytorch_logic_rules import UNSEEN, LogicRuleModule, best_path, transitions
from .rules_em import EMSettings, Instances, Progress, RuleDoc, instances, signature_table, train_rule_model

UNSEEN_ENTITY_TYPE = "<unknown>"  # type id 0: entities of a type never seen in training (no signature)
MIN_PROB = 1e-6
DEFAULT_DOC_SCORER = {"@scorers": "spacy-relext.doc_relation_scorer.v1"}
Entity = List[Span]  # the mentions of one entity
MentionPairs = Dict[Tuple[int, int, int], Tuple[Span, Span]]


@dataclass
class DocPrediction:
    """The reasoner's scores for one Doc (`predict` output).

    entities (List[List[Span]]): The entities (mention clusters).
    instances (Optional[Instances]): The type-valid candidates, None when there are none.
    probs (Optional[Tensor]): Probability per candidate.
    logits (Optional[Tensor]): The backbone logits `[N, N, R]`.
    mentions (Dict[Tuple[int, int, int], Tuple[Span, Span]]): The backbone's best
        mention pair per scored `(h, t, r)`.
    """

    entities: List[Entity]
    instances: Optional[Instances] = None
    probs: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    mentions: Optional[MentionPairs] = None


DEFAULT_LOGIC_MODEL_CONFIG = """
[model]
@architectures = "spacy-relext.LogicRules.v1"
n_rules = 50
rule_length = 3
generator_width = 256
generator_depth = 2
generator_heads = 4
generator_ffn_width = 2048
"""
DEFAULT_LOGIC_MODEL = Config().from_str(DEFAULT_LOGIC_MODEL_CONFIG)["model"]
# Flat factory keys of configs saved before the model block and the initialize settings
# existed: still accepted (W006) so those pipelines load and train as before.
DEPRECATED_SIZES = SIZES
DEPRECATED_SCHEDULE = ("em_iterations", "generator_pretrain_steps", "generator_em_steps", "generator_lr",
                       "extractor_epochs", "extractor_lr", "seed", "tune_threshold")
BACKBONE_BATCH_SIZE = 8
# cfg["signatures"]: [head type, relation, tail type] index triples (checked at load, E410)
SIGNATURES: CfgCheck = (
    "a list of [head type, relation, tail type] index triples",
    lambda v: isinstance(v, list) and all(
        isinstance(sig, list) and len(sig) == 3 and all(type(i) is int for i in sig) for sig in v),
)


@Language.factory(
    "logic_reasoner",
    assigns=["doc._.relations"],
    requires=["doc._.relations"],
    default_config={
        "model": DEFAULT_LOGIC_MODEL,
        "backbone": "clm_classifier",
        "spans_key": None,
        "threshold": 0.5,
        "keep_backbone_relations": False,
        "max_explanations": 3,
        "max_elements": 4194304,
        "train_on_gold_entities": True,
        "scorer": DEFAULT_DOC_SCORER,
    },
    default_score_weights={"docre_f": 1.0, "docre_p": 0.0, "docre_r": 0.0, "docre_ign_f": 0.0},
)
def make_logic_reasoner(
    nlp: Language,
    name: str,
    model: Model[Tuple[Floats2d, Ints1d], Floats1d],
    backbone: str,
    spans_key: Optional[str],
    threshold: float,
    keep_backbone_relations: bool,
    max_explanations: int,
    max_elements: int,
    train_on_gold_entities: bool,
    scorer: Optional[Callable],
    tune_threshold: Optional[bool] = None,
    n_rules: Optional[int] = None,
    rule_length: Optional[int] = None,
    em_iterations: Optional[int] = None,
    generator_pretrain_steps: Optional[int] = None,
    generator_em_steps: Optional[int] = None,
    generator_lr: Optional[float] = None,
    generator_width: Optional[int] = None,
    generator_depth: Optional[int] = None,
    generator_heads: Optional[int] = None,
    generator_ffn_width: Optional[int] = None,
    extractor_epochs: Optional[int] = None,
    extractor_lr: Optional[float] = None,
    seed: Optional[int] = None,
) -> "LogicReasoner":
    """Create a `logic_reasoner` component. It is trained by its `initialize` (LogiRE's
    EM, settings in [initialize.components.NAME], see `LogicReasoner.initialize`).

    model (Model[Tuple[Floats2d, Ints1d], Floats1d]): The rule model
        (spacy-relext.LogicRules.v1: rule slots, rule length and generator sizes).
    backbone (str): Name of the earlier component whose scored relations are read. It
        should write low-scored candidates too (e.g. a threshold of 0), since the
        reasoner only sees what it writes.
    spans_key (Optional[str]): Read mentions from `doc.spans[spans_key]` instead of `doc.ents`.
    threshold (float): Relations whose probability is below it are not written
        (replaced at the end of `initialize` when it tunes the threshold).
    keep_backbone_relations (bool): Keep the backbone's relations on the Doc (default:
        replace them by the refined ones).
    max_explanations (int): Most rule explanations per relation.
    max_elements (int): Memory bound (elements) of one max-plus step of the rule
        scores, in training and prediction.
    train_on_gold_entities (bool): Use the gold mentions (aligned to the predicted
        tokens) as entities in training.
    scorer (Optional[Callable]): The scoring method.
    tune_threshold, n_rules, rule_length, em_iterations, generator_pretrain_steps,
        generator_em_steps, generator_lr, generator_width, generator_depth,
        generator_heads, generator_ffn_width, extractor_epochs, extractor_lr, seed:
        Deprecated (null): the flat settings of configs saved before the model block.
        When set, they are applied with warning W006: the sizes to the model, the rest
        as the defaults of `initialize`.
    """
    given = {key: value for key, value in locals().items()
             if key in DEPRECATED_SIZES + DEPRECATED_SCHEDULE and value is not None}
    if given:
        warnings.warn(Warnings.W006.format(name=name, keys=sorted(given), sizes=", ".join(DEPRECATED_SIZES),
                                           schedule=", ".join(DEPRECATED_SCHEDULE)))
    for key in DEPRECATED_SIZES:
        if key in given:
            model.attrs[key] = given[key]
    check_sizes(**{key: model.attrs[key] for key in SIZES})
    return LogicReasoner(
        nlp.vocab,
        model,
        name,
        nlp=nlp,
        backbone=backbone,
        spans_key=spans_key,
        threshold=threshold,
        keep_backbone_relations=keep_backbone_relations,
        max_explanations=max_explanations,
        max_elements=max_elements,
        initialize_defaults={key: given[key] for key in DEPRECATED_SCHEDULE if key in given},
        train_on_gold_entities=train_on_gold_entities,
        scorer=scorer,
    )


class PipelineRef:
    """A weak reference to the pipeline (None when unset) that pickles as an unset one:
    nlp.pipe(n_process=2) under the spawn start method pickles each component, and in
    the worker the upstream components run before this one anyway."""

    def __init__(self, nlp: Optional[Language]) -> None:
        self._ref = weakref.ref(nlp) if nlp is not None else None

    def __call__(self) -> Optional[Language]:
        return self._ref() if self._ref is not None else None

    def __reduce__(self) -> Tuple[type, Tuple[None]]:
        return (PipelineRef, (None,))


class LogicReasoner(EntityRelationPipe):
    """Refine a backbone's document-level relations with learned logic rules."""

    CFG_SCHEMA = {**EntityRelationPipe.CFG_SCHEMA, "backbone": STR, "types": STR_LIST,
                  "signatures": SIGNATURES, **{size: INT for size in SIZES}}

    def __init__(
        self,
        vocab: Vocab,
        model: Model[Tuple[Floats2d, Ints1d], Floats1d],
        name: str = "logic_reasoner",
        *,
        nlp: Optional[Language] = None,
        backbone: str,
        spans_key: Optional[str] = None,
        threshold: float = 0.5,
        keep_backbone_relations: bool = False,
        max_explanations: int = 3,
        max_elements: int = 1 << 22,
        initialize_defaults: Optional[Dict[str, Any]] = None,
        train_on_gold_entities: bool = True,
        scorer: Optional[Callable] = None,
    ) -> None:
        """Initialize the component; see `make_logic_reasoner` for the arguments.

        initialize_defaults (Optional[Dict[str, Any]]): Defaults of `initialize`'s
            settings other than its own (the deprecated flat factory keys).
        """
        super().__init__(
            vocab,
            model,
            name,
            spans_key=spans_key,
            threshold=threshold,
            train_on_gold_entities=train_on_gold_entities,
            scorer=scorer,
            backbone=backbone,
            types=[],
            signatures=[],
            # the module sizes, kept with the weights' shape (restore_model_shape)
            **{size: model.attrs[size] for size in SIZES},
        )
        self.keep_backbone_relations = keep_backbone_relations
        self.max_explanations = max_explanations
        self.max_elements = max_elements
        self.initialize_defaults = dict(initialize_defaults or {})
        self.settings = self._em_settings({})
        self._nlp = PipelineRef(nlp)
        self._table: Optional[torch.Tensor] = None

    # -- model ---------------------------------------------------------------------

    @property
    def is_initialized(self) -> bool:
        return bool(self.cfg["signatures"])

    @property
    def module(self) -> LogicRuleModule:
        """RETURNS (LogicRuleModule): The torch generator and extractor."""
        return logic_module(self.model)

    @property
    def table(self) -> torch.Tensor:
        """RETURNS (Tensor): The signature table (type mask) `[types, R, types]`."""
        if self._table is None:
            self._table = signature_table(
                [tuple(sig) for sig in self.cfg["signatures"]], len(self.cfg["types"]), len(self.labels)
            )
        return self._table

    def _allow_extra_label(self) -> None:
        if self.is_initialized:
            raise ValueError(Errors.E401.format(name=self.name))

    def cfg_dims(self) -> Dict[str, Tuple[int, str]]:
        """The module's relation, type and signature dims come from `cfg`."""
        cfg = self.cfg
        return {"n_relations": (len(self.labels), "one relation channel per label in cfg['labels']"),
                "n_types": (len(cfg["types"]), "one per entity type in cfg['types']"),
                "n_signatures": (len(cfg["signatures"]), "one per type signature in cfg['signatures']")}

    def restore_model_shape(self) -> None:
        """Size the model from `cfg` (labels, types, signatures and the module sizes the
        weights were trained with) and build its torch module, so saved weights can be
        loaded into a pipe rebuilt from config."""
        cfg = self.cfg
        shape = {"n_types": len(cfg["types"]), "n_relations": len(self.labels), "n_signatures": len(cfg["signatures"])}
        for dim in SHAPE_DIMS:
            self.model.set_dim(dim, shape[dim], force=True)
        for size in SIZES:
            self.model.attrs[size] = cfg[size]
        self.model.initialize()
        self._table = None

    # -- documents -----------------------------------------------------------------

    def _upstream(self) -> List[Tuple[str, Callable[[Doc], Doc]]]:
        """The components before this one, in pipeline order (disabled ones included)."""
        nlp = self._nlp()
        if nlp is None or self.name not in nlp.component_names:
            return []
        names = nlp.component_names
        return [(name, nlp.get_pipe(name)) for name in names[: names.index(self.name)]]

    def _check_backbone(self) -> None:
        names = [name for name, _ in self._upstream()]
        if self._nlp() is not None and self.cfg["backbone"] not in names:
            raise ValueError(Errors.E700.format(name=self.name, backbone=self.cfg["backbone"], upstream=names))

    def _with_backbone_scores(self, docs: List[Doc], *, batch_size: int) -> List[Doc]:
        """Run the upstream components on copies of the Docs that carry none of the
        backbone's relations (a frozen backbone: no gradients, its own settings), in
        batches of `batch_size` as `nlp.pipe` would. Only `initialize` needs this: spaCy
        runs no earlier component on the examples it passes there."""
        backbone = self.cfg["backbone"]
        todo = [i for i, doc in enumerate(docs) if not any(r.source == backbone for r in get_relations(doc))]
        if not todo:
            return docs
        docs = list(docs)
        processed = [docs[i].copy() for i in todo]
        for _, proc in self._upstream():
            if hasattr(proc, "pipe"):
                processed = list(proc.pipe(processed, batch_size=batch_size))
            else:
                processed = [proc(doc) for doc in processed]
        for i, doc in zip(todo, processed):
            docs[i] = doc
        return docs

    def _entities(self, doc: Doc) -> List[Entity]:
        if not self.has_mentions(doc):
            return []
        return list(get_entity_clusters(doc, self.spans_key).values())

    def _rule_doc(
        self, doc: Doc, entities: List[Entity], gold: Optional[List[Relation]] = None
    ) -> Tuple[RuleDoc, MentionPairs]:
        """The backbone logits, entity types and (optionally) gold facts of a Doc, and
        the best-scored mention pair of each backbone-scored `(h, t, r)`."""
        labels = {label: i for i, label in enumerate(self.labels)}
        type_ids = {label: i for i, label in enumerate(self.cfg["types"])}
        entity_of = {(m.start, m.end): i for i, mentions in enumerate(entities) for m in mentions}
        n = len(entities)
        logits = torch.full((n, n, max(1, len(labels))), UNSEEN)
        mentions: MentionPairs = {}
        for rel in get_relations(doc):
            if rel.source != self.cfg["backbone"] or rel.label not in labels:
                continue
            h, t = entity_of.get((rel.head.start, rel.head.end)), entity_of.get((rel.tail.start, rel.tail.end))
            if h is None or t is None or h == t:
                continue
            p = min(max(rel.score, MIN_PROB), 1 - MIN_PROB)
            logit = float(torch.logit(torch.tensor(p, dtype=torch.float64)))
            r = labels[rel.label]
            if logit > logits[h, t, r]:
                logits[h, t, r] = logit
                mentions[(h, t, r)] = (rel.head, rel.tail)
        types = torch.tensor([type_ids.get(_entity_type(mentions_), 0) for mentions_ in entities], dtype=torch.long)
        facts = None
        if gold is not None:
            facts = torch.zeros((n, n, max(1, len(labels))), dtype=torch.bool)
            for rel in gold:
                h, t = entity_of.get((rel.head.start, rel.head.end)), entity_of.get((rel.tail.start, rel.tail.end))
                if h is not None and t is not None and h != t and rel.label in labels:
                    facts[h, t, labels[rel.label]] = True
        return RuleDoc(logits, types, facts), mentions

    def training_rule_docs(
        self, docs: List[Doc], gold: List[List[Relation]], *, batch_size: int = BACKBONE_BATCH_SIZE
    ) -> List[RuleDoc]:
        """The training Docs of `initialize` as `RuleDoc`s: their entities, the
        backbone's scores (the upstream components run where they are missing, see
        `initialize`) and the gold facts.

        docs (List[Doc]): The training Docs (see `training_docs`).
        gold (List[List[Relation]]): Their gold relations (see `gold_relations`).
        batch_size (int): Docs per batch of the upstream components.
        RETURNS (List[RuleDoc]): The documents.
        """
        docs = self._with_backbone_scores(docs, batch_size=batch_size)
        return [self._rule_doc(doc, self._entities(doc), rels)[0] for doc, rels in zip(docs, gold)]

    # -- training --------------------------------------------------------------------

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
        em_iterations: Optional[int] = None,
        generator_pretrain_steps: Optional[int] = None,
        generator_em_steps: Optional[int] = None,
        generator_lr: Optional[float] = None,
        extractor_epochs: Optional[int] = None,
        extractor_lr: Optional[float] = None,
        seed: Optional[int] = None,
        tune_threshold: Optional[bool] = None,
        signature_sampling: Optional[str] = None,
        rule_set: Optional[str] = None,
        backbone_batch_size: int = BACKBONE_BATCH_SIZE,
        progress: Progress = None,
    ) -> None:
        """Train the reasoner: learn the label set, entity types and signatures from the
        gold data, then rules and weights with LogiRE's EM on the backbone's scores of
        the training documents (Ru et al., 2021, section 3.3: the generator pre-trained on
        the gold paths, then E-steps over rule posteriors and M-steps that refit the
        generator and a fresh extractor), and, with `tune_threshold`, the threshold.

        spaCy does not run the earlier components on the examples of `initialize` (and
        `spacy train` initializes with its frozen components disabled), so the pipeline
        up to the backbone runs here, frozen, on copies of the training Docs that carry
        none of the backbone's relations. In `update` (and `spacy train`) the backbone
        must annotate the examples instead: list it in [training] annotating_components.

        The settings can be given in [initialize.components.NAME]; None takes the
        deprecated flat factory key if set, else the default in parentheses.

        get_examples (Callable[[], Iterable[Example]]): Training examples with gold
            relations and entity clusters.
        nlp (Optional[Language]): The pipeline (holds the backbone).
        labels (Optional[Sequence[str]]): The relation labels; read from the data when None.
        em_iterations (Optional[int]): EM iterations after the initial fit (2).
        generator_pretrain_steps (Optional[int]): Generator steps on the gold-path
            distribution (1000).
        generator_em_steps (Optional[int]): Generator steps per M-step (200).
        generator_lr (Optional[float]): Learning rate of the generator (Adam, 0.001).
        extractor_epochs (Optional[int]): Epochs of each (fresh) relation-extractor fit (50).
        extractor_lr (Optional[float]): Learning rate of the extractor (0.005).
        seed (Optional[int]): Random seed of the EM (0).
        tune_threshold (Optional[bool]): Replace `threshold` by the one with the best F1
            on the training documents' candidates (true). LogiRE scans the dev scores for
            its one threshold, and a probability fitted with BCE on a few positives among
            many candidates is F1-best far below 0.5; a pipe sees no dev set in
            `initialize`, so the training documents stand in (`spacy find-threshold`
            tunes it on dev afterwards).
        signature_sampling (Optional[str]): How the generator's training draws
            signatures: "uniform" (the authors' code; the default) or "count" (by their
            number of gold paths).
        rule_set (Optional[str]): "sampled" (the generator's rules plus the direct rule
            r <- r; the default), or the attribution controls "direct" (r <- r only) and
            "none" (the per-signature bias only).
        backbone_batch_size (int): Docs per batch when the backbone scores the training
            documents here.
        progress (Optional[Callable[[str], None]]): Receives a line per EM stage.
        """
        validate_get_examples(get_examples, "LogicReasoner.initialize")
        settings = {"em_iterations": em_iterations, "generator_pretrain_steps": generator_pretrain_steps,
                    "generator_em_steps": generator_em_steps, "generator_lr": generator_lr,
                    "extractor_epochs": extractor_epochs, "extractor_lr": extractor_lr, "seed": seed,
                    "signature_sampling": signature_sampling, "rule_set": rule_set}
        self.settings = self._em_settings({key: value for key, value in settings.items() if value is not None})
        if tune_threshold is None:
            tune_threshold = self.initialize_defaults.get("tune_threshold", True)
        if nlp is not None:
            self._nlp = PipelineRef(nlp)
        self._check_backbone()
        super().initialize(get_examples, nlp=nlp, labels=labels)
        examples = list(get_examples())
        docs, gold = self.training_docs(examples), self.gold_relations(examples)
        self._learn_signatures(docs, gold)
        self.restore_model_shape()
        module = self.module
        history = train_rule_model(
            module.generator,
            module.extractor,
            [tuple(sig) for sig in self.cfg["signatures"]],
            self.training_rule_docs(docs, gold, batch_size=backbone_batch_size),
            self.settings,
            progress=progress,
        )
        module.eval()
        if tune_threshold and history[-1]["threshold"] is not None:
            self.cfg["threshold"] = history[-1]["threshold"]

    def _em_settings(self, given: Dict[str, Any]) -> EMSettings:
        """The EM settings: `given`, else the deprecated flat factory keys, else the
        defaults; the rule slots and the memory bound come from the model and the factory."""
        schedule = {key: value for key, value in self.initialize_defaults.items() if key != "tune_threshold"}
        return EMSettings(**{**schedule, **given, "n_rules": self.model.attrs["n_rules"],
                             "max_elements": self.max_elements})

    def initialize_model(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language]) -> None:
        """Nothing to size before the signatures are known (see `initialize`)."""

    def _learn_signatures(self, docs: List[Doc], gold: List[List[Relation]]) -> None:
        """Entity types and the `(type_h, relation, type_t)` seen in the gold relations."""
        types, signatures = set(), set()
        for doc, rels in zip(docs, gold):
            entities = self._entities(doc)
            type_of = {(m.start, m.end): _entity_type(mentions) for mentions in entities for m in mentions}
            types.update(type_of.values())
            for rel in rels:
                key_h, key_t = (rel.head.start, rel.head.end), (rel.tail.start, rel.tail.end)
                if key_h in type_of and key_t in type_of:
                    signatures.add((type_of[key_h], rel.label, type_of[key_t]))
        if not signatures:
            raise ValueError(Errors.E702.format(name=self.name))
        self.cfg["types"] = [UNSEEN_ENTITY_TYPE] + sorted(types - {UNSEEN_ENTITY_TYPE})
        type_ids = {t: i for i, t in enumerate(self.cfg["types"])}
        label_ids = {label: i for i, label in enumerate(self.labels)}
        self.cfg["signatures"] = sorted([type_ids[th], label_ids[r], type_ids[tt]] for th, r, tt in signatures)

    def make_training_input(self, examples: List[Example]) -> Optional[Tuple[Tuple[Floats2d, Ints1d], Floats1d]]:
        """Rule features, signatures and gold labels of every type-valid candidate of
        the batch, with the current rules, from the backbone's relations on the
        examples' predicted Docs (the backbone annotates them: [training]
        annotating_components, or `nlp.update(..., annotates=[backbone])`; W007 when
        none carries any). `update` (RelationPipe's) fine-tunes the rule weights on them.
        """
        if not self.is_initialized:
            raise ValueError(Errors.E703.format(name=self.name))
        backbone = self.cfg["backbone"]
        if examples and not any(rel.source == backbone for eg in examples for rel in get_relations(eg.predicted)):
            warnings.warn(Warnings.W007.format(name=self.name, backbone=backbone))
        docs, gold = self.training_docs(examples), self.gold_relations(examples)
        rule_docs = [self._rule_doc(doc, self._entities(doc), rels)[0] for doc, rels in zip(docs, gold)]
        extractor = self.module.extractor
        data = [instances(doc, self.table, extractor, max_elements=self.max_elements) for doc in rule_docs]
        data = [inst for inst in data if inst.labels is not None and inst.labels.numel()]
        if not data:
            return None
        ops = self.model.ops
        feats = ops.asarray2f(torch.cat([inst.feats for inst in data]).numpy())
        signatures = ops.asarray1i(torch.cat([inst.signatures for inst in data]).numpy())
        return (feats, signatures), ops.asarray1f(torch.cat([inst.labels for inst in data]).numpy())

    def get_loss(self, examples: Iterable[Example], scores: Tuple[Floats1d, Floats1d]) -> Tuple[float, Floats1d]:
        """Mean BCE over the candidates of a batch.

        scores (Tuple[Floats1d, Floats1d]): Gold labels (0/1) and logits.
        RETURNS (Tuple[float, Floats1d]): The loss and its gradient.
        """
        truths, logits = scores
        xp = self.model.ops.xp
        probs = 1 / (1 + xp.exp(-logits))
        loss = -(truths * xp.log(probs + 1e-12) + (1 - truths) * xp.log(1 - probs + 1e-12)).mean()
        return float(loss), (probs - truths) / len(truths)

    # -- inference -------------------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> List[DocPrediction]:
        """Score every type-valid candidate of each Doc with the rules.

        docs (Iterable[Doc]): The documents (processed by the backbone).
        RETURNS (List[DocPrediction]): The scores per Doc.
        """
        out: List[DocPrediction] = []
        extractor = self.module.extractor  # computes the rule features (path scores)
        ops = self.model.ops
        for doc in docs:
            entities = self._entities(doc)
            if not self.is_initialized or len(entities) < 2:
                out.append(DocPrediction(entities))
                continue
            rule_doc, mentions = self._rule_doc(doc, entities)
            inst = instances(rule_doc, self.table, extractor, max_elements=self.max_elements)
            logits = self.model.predict((ops.asarray2f(inst.feats.numpy()), ops.asarray1i(inst.signatures.numpy())))
            probs = torch.sigmoid(torch.from_numpy(ops.to_numpy(logits)))
            out.append(DocPrediction(entities, inst, probs, rule_doc.logits, mentions))
        return out

    def set_annotations(self, docs: Iterable[Doc], predictions: List[DocPrediction]) -> None:
        """Write the relations above the threshold, each with its rule explanations;
        the backbone's relations are removed unless `keep_backbone_relations`."""
        docs = list(docs)
        found: List[List[Relation]] = []
        for pred in predictions:
            rels: List[Relation] = []
            if pred.instances is not None and pred.probs is not None and pred.logits is not None:
                inst, mentions = pred.instances, pred.mentions or {}
                trans = transitions(pred.logits)
                # once per document: naming every entity per explained relation cost 4x the backbone
                names = [_entity_name(entity_mentions) for entity_mentions in pred.entities]
                for i in (pred.probs >= self.threshold).nonzero()[:, 0].tolist():
                    h, t, r = int(inst.heads[i]), int(inst.tails[i]), int(inst.relations[i])
                    head, tail = mentions.get((h, t, r), (pred.entities[h][0], pred.entities[t][0]))
                    rels.append(
                        Relation(
                            head=head, tail=tail, label=self.labels[r], score=float(pred.probs[i]),
                            source=self.name, rules=self.explain(trans, names, inst, i),
                        )
                    )
            found.append(rels)
        if not self.keep_backbone_relations:
            for doc in docs:
                set_relations(doc, [rel for rel in get_relations(doc) if rel.source != self.cfg["backbone"]])
        self.write_relations(docs, found)

    def explain(self, trans: torch.Tensor, names: List[str], inst: Instances, i: int) -> Tuple[str, ...]:
        """The rules that contribute most to candidate `i`, each with its best grounding
        path and the path's score, e.g.
        `royalty_of(Kate, UK) <- spouse_of(Kate, William) ^ royalty_of(William, UK)  [0.83]`.
        `names` holds the display name of each entity of the document.
        """
        extractor = self.module.extractor
        q = int(inst.signatures[i])
        contributions = (extractor.weight[q] * inst.feats[i]).detach().masked_fill(~extractor.rule_mask[q], 0.0)
        order = torch.argsort(contributions, descending=True, stable=True).tolist()
        h, t, r = int(inst.heads[i]), int(inst.tails[i]), int(inst.relations[i])
        out = []
        for k in order[: self.max_explanations]:
            if contributions[k] <= 0:
                break
            body = extractor.bodies[q, k].tolist()
            log_score, path = best_path(trans, body, h, t)
            atoms = [self.atom(c, names[a], names[b]) for c, a, b in zip(body, path, path[1:])]
            head = f"{self.labels[r]}({names[h]}, {names[t]})"
            out.append(f"{head} <- {' ^ '.join(a for a in atoms if a)}  [{math.exp(log_score):.2f}]")
        return tuple(out)

    def atom(self, channel: int, a: str, b: str) -> str:
        """One body step as text: `r(a, b)`, an inverse step as `r(b, a)`, and "" for
        the identity."""
        n = len(self.labels)
        if channel < n:
            return f"{self.labels[channel]}({a}, {b})"
        if channel < 2 * n:
            return f"{self.labels[channel - n]}({b}, {a})"
        return ""

    def body_text(self, body: Sequence[int]) -> str:
        """A rule body with variables, e.g. `parent_of(x, z1) ^ parent_of(z1, y)`."""
        steps = [c for c in body if c != 2 * len(self.labels)]
        names = ["x"] + [f"z{k}" for k in range(1, len(steps))] + ["y"]
        return " ^ ".join(self.atom(c, a, b) for c, a, b in zip(steps, names, names[1:]))

    def learned_rules(self) -> List[Tuple[str, str, str, float, List[Tuple[str, float]]]]:
        """The learned rules per signature, strongest first.

        RETURNS (List[Tuple[str, str, str, float, List[Tuple[str, float]]]]): Per
            signature: relation, head type, tail type, bias and `(body, weight)` pairs.
        """
        if not self.is_initialized:
            return []
        extractor = self.module.extractor
        weight, bias = extractor.weight.detach(), extractor.bias.detach()
        out = []
        for q, (th, r, tt) in enumerate(self.cfg["signatures"]):
            rules = [
                (self.body_text(extractor.bodies[q, k].tolist()), float(weight[q, k]))
                for k in extractor.rule_mask[q].nonzero()[:, 0].tolist()
            ]
            rules.sort(key=lambda rule: -rule[1])
            out.append((self.labels[r], self.cfg["types"][th], self.cfg["types"][tt], float(bias[q]), rules))
        return out


def load_reasoners(path: Union[str, Path]) -> List[Tuple[str, "LogicReasoner"]]:
    """Load only the `logic_reasoner` components of a saved pipeline (the others,
    e.g. a backbone whose code is not importable here, are excluded).

    path (Union[str, Path]): The pipeline directory.
    RETURNS (List[Tuple[str, LogicReasoner]]): (name, component) pairs.
    """
    path = Path(path)
    check_pipeline_dir(path)
    config = load_config(path / "config.cfg")
    names = [name for name, cfg in config["components"].items() if cfg.get("factory") == "logic_reasoner"]
    others = [name for name in config["nlp"]["pipeline"] if name not in names]
    nlp = spacy.load(path, exclude=others)
    return [(name, nlp.get_pipe(name)) for name in names]


def _entity_type(mentions: Entity) -> str:
    return next((m.label_ for m in mentions if m.label_), UNSEEN_ENTITY_TYPE)


def _entity_name(mentions: Entity) -> str:
    return max(mentions, key=lambda m: (len(m.text), -m.start)).text
