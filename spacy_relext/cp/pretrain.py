"""`pretrain-cp`: entity-masked contrastive pre-training of an encoder (Peng et al. 2020).

Reads relation bags from `.spacy` corpora, trains NT-Xent on pairs of sentences that
share a relation plus MLM, checkpoints to `OUTPUT/checkpoint` and writes the final
Hugging Face directory to `OUTPUT/model` (usable as the `name` of a spacy-transformers
encoder or as the clm_classifier's encoder). Marker tokens come from `entity_markers`.
"""
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from thinc.api import Config

from ..entity_markers import EncodedPair, MarkerIds, encode_pair, mark_pair, marker_ids
from ..errors import Errors
from ..safe_write import atomic_output, check_outputs
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
    max_length (int): Wordpieces per sentence.
    checkpoint_every (int): Steps between checkpoints (and at the end of each epoch).
    seed (int): Random seed.
    """

    corpora: List[str] = dataclasses.field(default_factory=list)
    dev: List[str] = dataclasses.field(default_factory=list)
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
    for key in ("corpora", "dev"):
        if isinstance(values.get(key), str):
            values[key] = [values[key]]
    return CPSettings(**values).check()


def load_bags(settings: CPSettings) -> Bags:
    """The relation bags of the pre-training corpora, after the evaluation-overlap check.

    RETURNS (Bags): The bags (E802 when none has 2 sentences; E803 on a dev sentence).
    """
    pairs = read_pairs(settings.corpora)
    if settings.dev:
        check_no_dev_sentence(pairs, sentence_keys(settings.dev), settings.dev)
    bags = build_bags(pairs)
    if not bags.bags:
        raise ValueError(Errors.E802.format(paths=settings.corpora))
    return bags


def check_no_dev_sentence(pairs: Sequence[SentencePair], dev: Set[str], dev_paths: Any) -> None:
    """Raise E803 when a pre-training sentence occurs in the evaluation data."""
    shared = overlapping_sentences(pairs, dev)
    if shared:
        raise ValueError(Errors.E803.format(count=len(shared), dev=dev_paths, example=shared[0]))


@dataclasses.dataclass
class CPResult:
    """What a run did: steps, pairs seen, seconds of training and the output directory."""

    steps: int
    pairs: int
    seconds: float
    last_loss: float
    model_dir: str

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
    RETURNS (CPResult): Steps, pairs, training seconds and the model directory.
    """
    import torch

    from .pytorch_cp import ContrastiveModel, collate, load_mlm, mlm_mask, nt_xent

    output = Path(output)
    checkpoint = output / CHECKPOINT_DIR
    if resume and not (checkpoint / STATE_FILE).is_file():
        raise FileNotFoundError(Errors.E805.format(path=output))
    _check_outputs(settings, output, resume=resume, overwrite=overwrite, config_path=config_path)
    bags = load_bags(settings)
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
    state = {"step": 0, "epoch": 0, "batch": 0, "pairs": 0, "seconds": 0.0}
    generator = torch.Generator().manual_seed(settings.seed)
    if resume:
        saved = torch.load(checkpoint / STATE_FILE, weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        state = saved["state"]
    loss_value = float("nan")
    model.train()
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
            loss = cp_loss + mlm_loss
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
            if progress is not None:
                progress(state["step"], total, {"cp": float(cp_loss.detach()), "mlm": float(mlm_loss.detach())})
            if state["step"] >= total:
                break
            if state["step"] % settings.checkpoint_every == 0:
                _save(model, tokenizer, checkpoint, optimizer, scheduler, generator, state, settings, bags)
        if state["batch"] >= len(batches):
            state["epoch"] += 1
            state["batch"] = 0
            _save(model, tokenizer, checkpoint, optimizer, scheduler, generator, state, settings, bags)
    _save(model, tokenizer, checkpoint, optimizer, scheduler, generator, state, settings, bags)
    model_dir = output / MODEL_DIR
    _save_model(model, tokenizer, model_dir, settings, bags, state)
    return CPResult(state["step"], state["pairs"], state["seconds"], loss_value, str(model_dir))


def _check_outputs(
    settings: CPSettings, output: Path, *, resume: bool, overwrite: bool, config_path: Optional[Union[str, Path]]
) -> None:
    inputs = [Path(p) for p in [*settings.corpora, *settings.dev, config_path or "", settings.encoder] if p]
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


def _save_model(model: Any, tokenizer: Any, path: Path, settings: CPSettings, bags: Bags, state: Dict) -> None:
    with atomic_output(path) as tmp:
        _write_model(model, tokenizer, tmp, settings, bags, state)


def _write_model(model: Any, tokenizer: Any, path: Path, settings: CPSettings, bags: Bags, state: Dict) -> None:
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
    }
    (path / INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf8")


def _save(model, tokenizer, path: Path, optimizer, scheduler, generator, state, settings, bags) -> None:  # type: ignore
    import torch

    saved = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "state": dict(state),
    }
    with atomic_output(path) as tmp:  # weights and trainer state replace the old pair together
        _write_model(model, tokenizer, tmp, settings, bags, state)
        torch.save(saved, tmp / STATE_FILE)
