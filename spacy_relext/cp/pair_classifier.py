"""A sentence-level pair classifier whose entity representation is switchable at inference.

This is CP's fine-tuning model (marked sentence -> `[h(E1); h(E2)]` -> linear), kept
apart from the spaCy components: it classifies one given (head, tail) pair per
instance, which is what the Wiki80 benchmark and `diagnose` need. It is saved as a
directory: `encoder/` (a Hugging Face model directory), `head.pt` and `pair_classifier.json`.
"""
import dataclasses
import json
import random
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from ..entity_markers import DEFAULT_REPRESENTATION, ENTITY_REPRESENTATIONS, check_representation, encode_pair
from ..entity_markers import mark_pair, marker_ids
from ..errors import Errors
from .sentence_pairs import SentencePair

ENCODER_DIR = "encoder"
HEAD_FILE = "head.pt"
META_FILE = "pair_classifier.json"
PathLike = Union[str, Path]


@dataclasses.dataclass
class PairTrainSettings:
    """Fine-tuning settings (CP's supervised recipe, smaller defaults for CPUs).

    representation (str): Entity representation used in training.
    epochs (int): Passes over the training pairs.
    batch_size (int): Pairs per step.
    learning_rate (float): AdamW learning rate.
    max_length (int): Wordpieces per pair.
    negative_label (Optional[str]): Label for relation-less two-entity Docs (SemEval "Other").
    seed (int): Random seed.
    """

    representation: str = DEFAULT_REPRESENTATION
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-5
    max_length: int = 100
    negative_label: Optional[str] = None
    seed: int = 0


class PairClassifier:
    """A trained pair classifier: module, tokenizer, labels and its settings."""

    def __init__(self, module: Any, tokenizer: Any, labels: Sequence[str], settings: PairTrainSettings) -> None:
        self.module = module
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.settings = settings
        self.ids = marker_ids(tokenizer, module.encoder)

    def batch(self, pairs: Sequence[SentencePair], representation: str) -> Any:
        """Padded tensors (ids, attention, marker positions) of `pairs` under `representation`."""
        from .pytorch_cp import collate

        encoded = [
            encode_pair(
                self.tokenizer,
                self.ids,
                mark_pair(
                    p.words,
                    p.head,
                    p.tail,
                    representation=representation,
                    head_type=p.head_type,
                    tail_type=p.tail_type,
                ),
                self.settings.max_length,
            )
            for p in pairs
        ]
        ids, attention, positions, _ = collate(encoded, self.tokenizer.pad_token_id, ())
        return ids, attention, positions

    def predict(
        self, pairs: Sequence[SentencePair], representation: Optional[str] = None, batch_size: int = 64
    ) -> List[str]:
        """Predicted labels of `pairs`, read under `representation` (default: the training one)."""
        import torch

        representation = check_representation(representation or self.settings.representation)
        self.module.eval()
        out: List[str] = []
        with torch.no_grad():
            for i in range(0, len(pairs), batch_size):
                logits = self.module(*self.batch(pairs[i : i + batch_size], representation))
                out.extend(self.labels[j] for j in logits.argmax(-1).tolist())
        return out

    def to_disk(self, path: PathLike) -> None:
        """Write `encoder/`, `head.pt` and `pair_classifier.json` under `path`."""
        import torch

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.module.encoder.save_pretrained(path / ENCODER_DIR)
        self.tokenizer.save_pretrained(path / ENCODER_DIR)
        torch.save(self.module.output.state_dict(), path / HEAD_FILE)
        meta = {"labels": self.labels, "settings": dataclasses.asdict(self.settings)}
        (path / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf8")

    @classmethod
    def from_disk(cls, path: PathLike) -> "PairClassifier":
        """Load a classifier written by `to_disk` (E806 when files are missing)."""
        from .pytorch_pair_classifier import PairClassifierModule, load_encoder
        from ..torch_io import load_state

        path = Path(path)
        missing = [name for name in (ENCODER_DIR, HEAD_FILE, META_FILE) if not (path / name).exists()]
        if missing:
            raise FileNotFoundError(Errors.E806.format(path=path, missing=", ".join(missing)))
        meta = json.loads((path / META_FILE).read_text(encoding="utf8"))
        tokenizer, encoder = load_encoder(str(path / ENCODER_DIR))
        module = PairClassifierModule(encoder, len(meta["labels"]))
        module.output.load_state_dict(load_state((path / HEAD_FILE).read_bytes()))
        return cls(module, tokenizer, meta["labels"], PairTrainSettings(**meta["settings"]))


def train_pair_classifier(
    train: Sequence[SentencePair],
    encoder_path: PathLike,
    settings: PairTrainSettings,
    *,
    progress: Optional[Callable[[int, int, float], None]] = None,
) -> PairClassifier:
    """Fine-tune an encoder (MiniLM, a CP output, ...) with cross-entropy on labelled pairs.

    train (Sequence[SentencePair]): Training instances.
    encoder_path (Path): Local Hugging Face directory.
    settings (PairTrainSettings): Fine-tuning settings.
    progress (Optional[Callable]): Called after each step with (step, total, loss).
    RETURNS (PairClassifier): The trained classifier.
    """
    import torch

    from .pytorch_pair_classifier import PairClassifierModule, load_encoder

    check_representation(settings.representation)
    if not train:
        raise ValueError(Errors.E807.format(path="the training data"))
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    labels = sorted({p.label for p in train})
    tokenizer, encoder = load_encoder(str(encoder_path))
    classifier = PairClassifier(PairClassifierModule(encoder, len(labels)), tokenizer, labels, settings)
    optimizer = torch.optim.AdamW(classifier.module.parameters(), lr=settings.learning_rate)
    index = {label: i for i, label in enumerate(labels)}
    order = list(train)
    total = settings.epochs * ((len(order) + settings.batch_size - 1) // settings.batch_size)
    step = 0
    classifier.module.train()
    for _ in range(settings.epochs):
        rng.shuffle(order)
        for i in range(0, len(order), settings.batch_size):
            batch = order[i : i + settings.batch_size]
            logits = classifier.module(*classifier.batch(batch, settings.representation))
            target = torch.tensor([index[p.label] for p in batch])
            loss = torch.nn.functional.cross_entropy(logits, target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(classifier.module.parameters(), 1.0)
            optimizer.step()
            step += 1
            if progress is not None:
                progress(step, total, float(loss.detach()))
    return classifier


def score_labels(
    gold: Sequence[str], predicted: Sequence[str], negative_label: Optional[str] = None
) -> Dict[str, float]:
    """Accuracy, and micro P/R/F over the labels other than `negative_label`.

    RETURNS (Dict[str, float]): `acc`, `p`, `r`, `f` (F equals accuracy without a negative label).
    """
    correct = sum(g == p for g, p in zip(gold, predicted))
    hits = sum(g == p and g != negative_label for g, p in zip(gold, predicted))
    n_pred = sum(p != negative_label for p in predicted)
    n_gold = sum(g != negative_label for g in gold)
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_gold if n_gold else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"acc": correct / len(gold) if gold else 0.0, "p": precision, "r": recall, "f": f}


def diagnose(
    classifier: PairClassifier,
    pairs: Sequence[SentencePair],
    representations: Iterable[str] = ENTITY_REPRESENTATIONS,
) -> Dict[str, Dict[str, float]]:
    """Scores of a trained classifier on `pairs` under each entity representation
    (the paper's Table 1: how much the model relies on context vs names).

    RETURNS (Dict[str, Dict[str, float]]): representation -> `score_labels` output.
    """
    gold = [p.label for p in pairs]
    negative = classifier.settings.negative_label
    return {rep: score_labels(gold, classifier.predict(pairs, rep), negative) for rep in representations}
