"""`pretrain-cp`: entity-masked contrastive pre-training of an encoder (Peng et al. 2020).

Reads relation bags from `.spacy` corpora, trains NT-Xent on pairs of sentences that
share a relation plus MLM, checkpoints to `OUTPUT/checkpoint` and writes the final
Hugging Face directory to `OUTPUT/model` (usable as the `name` of a spacy-transformers
encoder or as the clm_classifier's encoder). Marker tokens come from `entity_markers`.
"""
import dataclasses
import json
import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from thinc.api import Config

from ..entity_markers import EncodedPair, MarkerIds, encode_pair, mark_pair, marker_ids
from ..errors import Errors
from ..safe_write import atomic_output, check_outputs
from .exclusion import ExclusionReport, exclude_overlap, read_label_names, read_reference
from .sampling import Bags, PairSample, build_bags, epoch_blanks, epoch_rng, sample_pairs
from .sentence_pairs import SentencePair, overlapping_sentences, read_pairs, sentence_keys

CONFIG_SECTION = "pretrain_cp"
CHECKPOINT_DIR = "checkpoint"
MODEL_DIR = "model"
STATE_FILE = "trainer_state.pt"
INFO_FILE = "relext_cp.json"


@dataclasses.dataclass
class CPSettings:
    """Settings of a pre-training run (the `[pretrain_cp]` section of a config).

    corpora (List[str]): `.spacy` files with gold relations (the pre-training data).
    dev (List[str]): `.spacy` evaluation files; a shared sentence aborts the run (E803).
    exclude (List[str]): `.spacy` fine-tuning and evaluation files: pre-training instances
        that share a sentence, an entity-name pair or (from a `human_labelled` corpus) a
        relation with them are dropped and reported (`exclusion.exclude_overlap`).
    human_labelled (List[str]): The `corpora` whose labels are human annotation.
    label_names (str): JSON file of label -> relation name, to compare relations across
        corpora (Wikidata ids against names); empty: labels compared as they are.
    shuffle_labels (bool): Permute the labels over the instances before the bags are built
        (the control: the same sentences and bag sizes, no relation signal).
    encoder (str): Local Hugging Face directory to start from.
    batch_pairs (int): Sentence pairs per step (2x sentences; in-batch negatives).
    epochs (int): Passes over the bags.
    max_steps (int): Stop after this many optimizer steps (0: no limit).
    learning_rate (float): AdamW learning rate.
    warmup_steps (int): Linear warm-up steps, then linear decay.
    weight_decay (float): AdamW weight decay.
    grad_clip (float): Gradient norm clip.
    temperature (float): NT-Xent temperature.
    p_blank (float): Probability of blanking each argument.
    static_blanking (bool): Draw the blanking once instead of every epoch.
    mlm_probability (float): Share of tokens predicted by MLM.
    mlm_weight (float): Weight of the MLM loss beside the contrastive loss.
    mlm_warmup_steps (int): Steps that train only the MLM head (encoder frozen, MLM loss
        only) before joint training, for an encoder shipped without a trained head.
    mlm_warmup_learning_rate (float): Learning rate of those steps (constant).
    max_length (int): Wordpieces per sentence.
    checkpoint_every (int): Steps between checkpoints (and at the end of each epoch).
    seed (int): Random seed.
    """

    corpora: List[str] = dataclasses.field(default_factory=list)
    dev: List[str] = dataclasses.field(default_factory=list)
    exclude: List[str] = dataclasses.field(default_factory=list)
    human_labelled: List[str] = dataclasses.field(default_factory=list)
    label_names: str = ""
    shuffle_labels: bool = False
    encoder: str = ""
    batch_pairs: int = 32
    epochs: int = 1
    max_steps: int = 0
    learning_rate: float = 3e-5
    warmup_steps: int = 500
    weight_decay: float = 1e-5
    grad_clip: float = 1.0
    temperature: float = 0.05
    p_blank: float = 0.7
    static_blanking: bool = False
    mlm_probability: float = 0.15
    mlm_weight: float = 1.0
    mlm_warmup_steps: int = 0
    mlm_warmup_learning_rate: float = 1e-4
    max_length: int = 64
    checkpoint_every: int = 200
    seed: int = 0

    def check(self) -> "CPSettings":
        """Raise E804 on an unusable setting."""
        problems = []
        if not self.corpora:
            problems.append("no pre-training corpora")
        if self.batch_pairs < 2:
            problems.append(f"batch_pairs={self.batch_pairs} < 2 leaves no in-batch negative")
        if not 0.0 <= self.p_blank <= 1.0 or not 0.0 <= self.mlm_probability < 1.0:
            problems.append(f"p_blank={self.p_blank} and mlm_probability={self.mlm_probability} must be in [0, 1)")
        if self.temperature <= 0 or self.epochs < 1 or self.max_length < 8:
            problems.append("temperature must be > 0, epochs >= 1 and max_length >= 8")
        if self.mlm_weight < 0 or self.mlm_warmup_steps < 0 or self.mlm_warmup_learning_rate <= 0:
            problems.append("mlm_weight and mlm_warmup_steps must be >= 0, mlm_warmup_learning_rate > 0")
        unknown = [p for p in self.human_labelled if p not in self.corpora]
        if unknown:
            problems.append(f"human_labelled {unknown} not among the corpora {self.corpora}")
        if problems:
            raise ValueError(Errors.E804.format(problem="; ".join(problems)))
        return self


def load_settings(config_path: Optional[Union[str, Path]] = None, **overrides: Any) -> CPSettings:
    """Settings from the `[pretrain_cp]` section of a config file, then `overrides` (None skipped).

    config_path (Optional[Path]): A `.cfg` file, or None for the defaults.
    RETURNS (CPSettings): The checked settings.
    """
    values: Dict[str, Any] = {}
    if config_path is not None:
        values.update(Config().from_disk(config_path).get(CONFIG_SECTION, {}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    names = {f.name for f in dataclasses.fields(CPSettings)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(Errors.E804.format(problem=f"unknown setting(s) {unknown}; known: {sorted(names)}"))
    for key in ("corpora", "dev", "exclude", "human_labelled"):
        if isinstance(values.get(key), str):
            values[key] = [values[key]]
    return CPSettings(**values).check()


def load_bags(settings: CPSettings) -> Tuple[Bags, Optional[ExclusionReport]]:
    """The relation bags of the pre-training corpora: instances overlapping the `exclude`
    files dropped (with the report, None without `exclude`), labels permuted with
    `shuffle_labels`, then the evaluation-overlap check against `dev`.

    RETURNS (Tuple[Bags, Optional[ExclusionReport]]): The bags (E802 when none has 2
        sentences; E803 on a dev sentence) and the exclusion report.
    """
    report = None
    if settings.exclude:
        label_names = read_label_names(settings.label_names)
        reference = read_reference(settings.exclude, label_names)
        corpora = [(path, read_pairs([path])) for path in settings.corpora]
        pairs, report = exclude_overlap(corpora, reference, settings.human_labelled, label_names)
    else:
        pairs = read_pairs(settings.corpora)
    pairs = list(dict.fromkeys(pairs))  # an instance in two corpora counts once
    if settings.shuffle_labels:
        pairs = shuffled_labels(pairs, random.Random(settings.seed))
    if settings.dev:
        check_no_dev_sentence(pairs, sentence_keys(settings.dev), settings.dev)
    bags = build_bags(pairs)
    if not bags.bags:
        raise ValueError(Errors.E802.format(paths=settings.corpora))
    return bags, report


def shuffled_labels(pairs: Sequence[SentencePair], rng: random.Random) -> List[SentencePair]:
    """The instances with their labels permuted: every label keeps its count (so the bags
    keep their sizes), but a bag's sentences no longer share a relation."""
    labels = [pair.label for pair in pairs]
    rng.shuffle(labels)
    return [dataclasses.replace(pair, label=label) for pair, label in zip(pairs, labels)]


def check_no_dev_sentence(pairs: Sequence[SentencePair], dev: Set[str], dev_paths: Any) -> None:
    """Raise E803 when a pre-training sentence occurs in the evaluation data."""
    shared = overlapping_sentences(pairs, dev)
    if shared:
        raise ValueError(Errors.E803.format(count=len(shared), dev=dev_paths, example=shared[0]))


@dataclasses.dataclass
class CPResult:
    """What a run did: steps, pairs seen, seconds of training, the output directory, what
    the overlap check dropped, the MLM-head warm-up steps and the logged mean losses."""

    steps: int
    pairs: int
    seconds: float
    last_loss: float
    model_dir: str
    exclusion: Optional[ExclusionReport] = None
    mlm_warmup_steps: int = 0
    loss_log: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else 0.0


def pretrain_cp(
    settings: CPSettings,
    output: Union[str, Path],
    *,
    resume: bool = False,
    overwrite: bool = False,
    config_path: Optional[Union[str, Path]] = None,
    progress: Optional[Callable[[int, int, Dict[str, float]], None]] = None,
    on_exclusion: Optional[Callable[[ExclusionReport], None]] = None,
) -> CPResult:
    """Run contrastive pre-training and write `output/model`.

    Before training, the outputs are checked: `checkpoint/` and `model/` must not hold an
    input (E110); an earlier run's `checkpoint/` is continued with `resume` and replaced
    only with `overwrite` (E117), and so is its `model/` (E112). Checkpoints and the final
    model are written into a temporary directory and renamed into place, so a killed run
    leaves the previous checkpoint whole.

    settings (CPSettings): The run's settings.
    output (Path): Directory for `checkpoint/` and `model/`.
    resume (bool): Continue from `output/checkpoint` (E805 when absent).
    overwrite (bool): Start a new run over an earlier run's `checkpoint/` and `model/`.
    config_path (Optional[Path]): The settings file, if any (an input no output may replace).
    progress (Optional[Callable]): Called after each step with (step, total steps, losses).
    on_exclusion (Optional[Callable]): Called with the overlap check's report before training
        (only with `settings.exclude`).
    RETURNS (CPResult): Steps, pairs, training seconds and the model directory.
    """
    import torch

    from .pytorch_cp import ContrastiveModel, collate, load_mlm, mlm_mask, nt_xent

    output = Path(output)
    checkpoint = output / CHECKPOINT_DIR
    if resume and not (checkpoint / STATE_FILE).is_file():
        raise FileNotFoundError(Errors.E805.format(path=output))
    _check_outputs(settings, output, resume=resume, overwrite=overwrite, config_path=config_path)
    bags, exclusion = load_bags(settings)
    if exclusion is not None and on_exclusion is not None:
        on_exclusion(exclusion)
    torch.manual_seed(settings.seed)
    tokenizer, mlm = load_mlm(str(checkpoint if resume else settings.encoder))
    ids = marker_ids(tokenizer, mlm)
    model = ContrastiveModel(mlm)
    never_masked = set(ids) | set(tokenizer.all_special_ids)
    steps_per_epoch = math.ceil(len(sample_pairs(bags, epoch_rng(settings.seed, 0))) / settings.batch_pairs)
    total = steps_per_epoch * settings.epochs
    if settings.max_steps:
        total = min(total, settings.max_steps)
    optimizer, scheduler = _optimizer(model, settings, total)
    state = {"step": 0, "epoch": 0, "batch": 0, "pairs": 0, "seconds": 0.0, "mlm_warmup_steps": 0}
    generator = torch.Generator().manual_seed(settings.seed)
    if resume:
        saved = torch.load(checkpoint / STATE_FILE, weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        state = {"mlm_warmup_steps": 0, **saved["state"]}
    losses = LossLog.from_state(state)
    loss_value = float("nan")
    model.train()
    if state["mlm_warmup_steps"] < settings.mlm_warmup_steps:
        _warm_mlm_head(model, bags, tokenizer, ids, never_masked, settings, generator, state, losses, progress)
        _save(model, tokenizer, checkpoint, optimizer, scheduler, generator, state, settings, bags, exclusion)
    while state["epoch"] < settings.epochs and state["step"] < total:
        epoch = state["epoch"]
        samples = sample_pairs(bags, epoch_rng(settings.seed, epoch))
        blanks = epoch_blanks(len(bags.pairs), settings.p_blank, settings.seed, epoch, settings.static_blanking)
        batches = [samples[i : i + settings.batch_pairs] for i in range(0, len(samples), settings.batch_pairs)]
        for batch in batches[state["batch"] :]:
            started = time.perf_counter()
            encoded, labels = _encode_batch(batch, bags, blanks, tokenizer, ids, settings.max_length)
            input_ids, attention, positions, maskable = collate(encoded, tokenizer.pad_token_id, never_masked)
            corrupted, targets = mlm_mask(
                input_ids,
                maskable,
                mask_token_id=tokenizer.mask_token_id,
                vocab_size=len(tokenizer),
                probability=settings.mlm_probability,
                generator=generator,
            )
            reps, mlm_loss = model(corrupted, attention, positions, targets)
            cp_loss = nt_xent(reps, torch.tensor(labels), settings.temperature)
            loss = cp_loss + settings.mlm_weight * mlm_loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            scheduler.step()
            loss_value = float(loss.detach())
            state["step"] += 1
            state["batch"] += 1
            state["pairs"] += len(batch)
            state["seconds"] += time.perf_counter() - started
            step_losses = {"cp": float(cp_loss.detach()), "mlm": float(mlm_loss.detach())}
            losses.add("joint", state["step"], step_losses)
            if progress is not None:
                progress(state["step"], total, step_losses)
            if state["step"] >= total:
                break
            if state["step"] % settings.checkpoint_every == 0:
                _save(model, tokenizer, checkpoint, optimizer, scheduler, generator, state, settings, bags, exclusion)
        if state["batch"] >= len(batches):
            state["epoch"] += 1
            state["batch"] = 0
            _save(model, tokenizer, checkpoint, optimizer, scheduler, generator, state, settings, bags, exclusion)
    losses.flush("joint", state["step"])
    _save(model, tokenizer, checkpoint, optimizer, scheduler, generator, state, settings, bags, exclusion)
    model_dir = output / MODEL_DIR
    _save_model(model, tokenizer, model_dir, settings, bags, state, exclusion)
    return CPResult(state["step"], state["pairs"], state["seconds"], loss_value, str(model_dir), exclusion,
                    state["mlm_warmup_steps"], list(state.get("loss_log", [])))


# Steps per logged mean of the losses (`relext_cp.json`'s `loss_log`)
LOSS_LOG_EVERY = 25


class LossLog:
    """Mean losses per phase over windows of `LOSS_LOG_EVERY` steps, kept in the trainer
    state (so checkpoints and the saved model show the contrastive and MLM losses apart)."""

    def __init__(self, log: List[Dict[str, Any]]) -> None:
        self.log = log
        self.sums: Dict[str, float] = {}
        self.count = 0

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> "LossLog":
        return cls(state.setdefault("loss_log", []))

    def add(self, phase: str, step: int, losses: Dict[str, float]) -> None:
        for name, value in losses.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1
        if step % LOSS_LOG_EVERY == 0:
            self.flush(phase, step)

    def flush(self, phase: str, step: int) -> None:
        if self.count:
            means = {name: round(total / self.count, 4) for name, total in self.sums.items()}
            self.log.append({"phase": phase, "step": step, "steps": self.count, **means})
        self.sums, self.count = {}, 0


def _warm_mlm_head(model: Any, bags: Bags, tokenizer: Any, ids: MarkerIds, never_masked: Set[int],
                   settings: CPSettings, generator: Any, state: Dict[str, Any], losses: LossLog,
                   progress: Optional[Callable[[int, int, Dict[str, float]], None]]) -> None:
    """Train the MLM head alone (encoder frozen, MLM loss only) for `mlm_warmup_steps`.

    An encoder shipped without a masked-LM head (MiniLM) gets a random one; trained jointly
    from the start, its gradients reach the word embeddings it is tied to while its loss
    sits near ln|V|. The batches are the pre-training sentences, marked and blanked as in
    joint training.
    """
    import torch

    from .pytorch_cp import collate, mlm_head_parameters, mlm_mask

    head = mlm_head_parameters(model.mlm)
    if not head:
        raise ValueError(Errors.E804.format(problem="mlm_warmup_steps > 0, but the encoder's MLM head has no "
                                                    "parameters of its own to warm"))
    head_ids = {id(p) for p in head}
    trainable = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in trainable:
        p.requires_grad = id(p) in head_ids
    optimizer = torch.optim.AdamW(head, lr=settings.mlm_warmup_learning_rate, weight_decay=0.0)
    order = list(range(len(bags.pairs)))
    random.Random(settings.seed).shuffle(order)
    blanks = epoch_blanks(len(bags.pairs), settings.p_blank, settings.seed, -1, settings.static_blanking)
    size = 2 * settings.batch_pairs  # as many sentences as a joint step reads
    try:
        while state["mlm_warmup_steps"] < settings.mlm_warmup_steps:
            start = state["mlm_warmup_steps"] * size
            batch = [order[(start + k) % len(order)] for k in range(size)]
            encoded = []
            for index in batch:
                pair = bags.pairs[index]
                pieces = mark_pair(pair.words, pair.head, pair.tail, blank_head=blanks[index][0],
                                   blank_tail=blanks[index][1])
                encoded.append(encode_pair(tokenizer, ids, pieces, settings.max_length))
            input_ids, attention, positions, maskable = collate(encoded, tokenizer.pad_token_id, never_masked)
            corrupted, targets = mlm_mask(input_ids, maskable, mask_token_id=tokenizer.mask_token_id,
                                          vocab_size=len(tokenizer), probability=settings.mlm_probability,
                                          generator=generator)
            _, mlm_loss = model(corrupted, attention, positions, targets)
            optimizer.zero_grad()
            mlm_loss.backward()
            torch.nn.utils.clip_grad_norm_(head, settings.grad_clip)
            optimizer.step()
            state["mlm_warmup_steps"] += 1
            losses.add("mlm_warmup", state["mlm_warmup_steps"], {"mlm": float(mlm_loss.detach())})
            if progress is not None:
                progress(state["mlm_warmup_steps"], settings.mlm_warmup_steps, {"mlm_warmup": float(mlm_loss.detach())})
    finally:
        for p, requires_grad in trainable:
            p.requires_grad = requires_grad
    losses.flush("mlm_warmup", state["mlm_warmup_steps"])


def _check_outputs(
    settings: CPSettings, output: Path, *, resume: bool, overwrite: bool, config_path: Optional[Union[str, Path]]
) -> None:
    inputs = [Path(p) for p in [*settings.corpora, *settings.dev, *settings.exclude, settings.label_names,
                                config_path or "", settings.encoder] if p]
    inputs = [p for p in inputs if p.exists()]
    checkpoint = output / CHECKPOINT_DIR
    # A resumed run continues its own checkpoint and rewrites its own model; a new run
    # replaces an earlier run's checkpoint and model only with `overwrite`.
    check_outputs([checkpoint, output / MODEL_DIR], inputs, overwrite=True, is_dir=True)
    if not (resume or overwrite):
        if checkpoint.exists():
            raise FileExistsError(Errors.E117.format(path=checkpoint))
        check_outputs([output / MODEL_DIR], inputs, is_dir=True)


def _encode_batch(
    batch: Sequence[PairSample],
    bags: Bags,
    blanks: Sequence[Tuple[bool, bool]],
    tokenizer: Any,
    ids: MarkerIds,
    max_length: int,
) -> Tuple[List[EncodedPair], List[int]]:
    encoded: List[EncodedPair] = []
    labels: List[int] = []
    for sample in batch:
        for index in (sample.first, sample.second):
            pair = bags.pairs[index]
            blank_head, blank_tail = blanks[index]
            pieces = mark_pair(pair.words, pair.head, pair.tail, blank_head=blank_head, blank_tail=blank_tail)
            encoded.append(encode_pair(tokenizer, ids, pieces, max_length))
            labels.append(sample.label_id)
    return encoded, labels


def _optimizer(model: Any, settings: CPSettings, total: int) -> Tuple[Any, Any]:
    import torch

    decay = [p for n, p in model.named_parameters() if not any(k in n for k in ("bias", "LayerNorm"))]
    no_decay = [p for n, p in model.named_parameters() if any(k in n for k in ("bias", "LayerNorm"))]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.learning_rate,
    )
    warmup = max(1, min(settings.warmup_steps, total))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _save_model(model: Any, tokenizer: Any, path: Path, settings: CPSettings, bags: Bags, state: Dict,
                exclusion: Optional[ExclusionReport]) -> None:
    with atomic_output(path) as tmp:
        _write_model(model, tokenizer, tmp, settings, bags, state, exclusion)


def _write_model(model: Any, tokenizer: Any, path: Path, settings: CPSettings, bags: Bags, state: Dict,
                 exclusion: Optional[ExclusionReport]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    model.mlm.save_pretrained(path)
    tokenizer.save_pretrained(path)
    info = {
        "method": "CP (entity-masked contrastive pre-training)",
        "settings": dataclasses.asdict(settings),
        "relations": len(bags.bags),
        "sentences": len(bags.pairs),
        "steps": state["step"],
        "pairs": state["pairs"],
        "mlm_warmup_steps": state.get("mlm_warmup_steps", 0),
        "loss_log": state.get("loss_log", []),
        "exclusion": exclusion.to_dict() if exclusion is not None else None,
    }
    (path / INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf8")


def _save(model, tokenizer, path: Path, optimizer, scheduler, generator, state, settings, bags,  # type: ignore
          exclusion) -> None:
    import torch

    saved = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "state": dict(state),
    }
    with atomic_output(path) as tmp:  # weights and trainer state replace the old pair together
        _write_model(model, tokenizer, tmp, settings, bags, state, exclusion)
        torch.save(saved, tmp / STATE_FILE)
