"""A frozen-encoder probe: how well an encoder's relation representation separates the
evaluation relations before any fine-tuning, read from outside the pre-training code.

Each instance is encoded once, unblanked and marked as in pre-training, into `[h(E1);
h(E2)]` (Peng et al., 2020, section 3.2); the encoder is never updated. Two readers of
those vectors, fitted on the training instances and scored on the dev instances:
- `knn1`: the label of the nearest training instance by cosine similarity;
- `linear`: multinomial logistic regression on the standardized vectors.
If contrastive pre-training moves same-relation instances together, both rise over the
plain encoder's; if its labels are shuffled, they should not.
"""
from typing import Any, Dict, List, Sequence

from .sentence_pairs import SentencePair

PROBE_BATCH = 64
LINEAR_STEPS = 300
LINEAR_LEARNING_RATE = 0.05
LINEAR_WEIGHT_DECAY = 1e-3


def relation_vectors(encoder_dir: str, pairs: Sequence[SentencePair], max_length: int = 64) -> Any:
    """`[h(E1); h(E2)]` of each instance, (N, 2D) float tensor, from the frozen encoder."""
    import torch

    from ..encoders import load_encoder
    from ..entity_markers import encode_pair, mark_pair, marker_ids
    from .pytorch_cp import collate, marker_states

    tokenizer, model = load_encoder(encoder_dir)
    ids = marker_ids(tokenizer, model)
    model.eval()
    out: List[Any] = []
    with torch.no_grad():
        for start in range(0, len(pairs), PROBE_BATCH):
            encoded = [encode_pair(tokenizer, ids, mark_pair(p.words, p.head, p.tail), max_length)
                       for p in pairs[start : start + PROBE_BATCH]]
            input_ids, attention, positions, _ = collate(encoded, tokenizer.pad_token_id, ())
            hidden = model(input_ids=input_ids, attention_mask=attention).last_hidden_state
            out.append(marker_states(hidden, positions))
    return torch.cat(out) if out else torch.zeros((0, 2 * model.config.hidden_size))


def probe_accuracy(train_x: Any, train_labels: Sequence[str], dev_x: Any, dev_labels: Sequence[str],
                   seed: int = 0) -> Dict[str, float]:
    """Dev accuracy of the 1-nearest-neighbour and linear readers fitted on the training vectors.

    RETURNS (Dict[str, float]): `knn1` and `linear` accuracy, and `dev` (instances scored).
    """
    import torch

    names = sorted(set(train_labels))
    index = {name: i for i, name in enumerate(names)}
    y_train = torch.tensor([index[label] for label in train_labels])
    y_dev = torch.tensor([index.get(label, -1) for label in dev_labels])  # unseen: always wrong
    unit = torch.nn.functional.normalize
    nearest = (unit(dev_x, dim=-1) @ unit(train_x, dim=-1).t()).argmax(dim=1)
    knn1 = (y_train[nearest] == y_dev).float().mean().item()
    mean, std = train_x.mean(dim=0), train_x.std(dim=0).clamp_min(1e-6)
    x_train, x_dev = (train_x - mean) / std, (dev_x - mean) / std
    generator = torch.Generator().manual_seed(seed)
    linear = torch.nn.Linear(x_train.shape[1], len(names))
    with torch.no_grad():
        linear.weight.normal_(0.0, 0.01, generator=generator)
        linear.bias.zero_()
    optimizer = torch.optim.Adam(linear.parameters(), lr=LINEAR_LEARNING_RATE, weight_decay=LINEAR_WEIGHT_DECAY)
    for _ in range(LINEAR_STEPS):  # full batch: a few thousand vectors at most
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(linear(x_train), y_train).backward()
        optimizer.step()
    with torch.no_grad():
        linear_acc = (linear(x_dev).argmax(dim=1) == y_dev).float().mean().item()
    return {"knn1": knn1, "linear": linear_acc, "dev": len(dev_labels)}


def probe_encoder(encoder_dir: str, train: Sequence[SentencePair], dev: Sequence[SentencePair],
                  max_length: int = 64, seed: int = 0) -> Dict[str, float]:
    """`probe_accuracy` of an encoder directory's frozen relation vectors."""
    return probe_accuracy(relation_vectors(encoder_dir, train, max_length), [p.label for p in train],
                          relation_vectors(encoder_dir, dev, max_length), [p.label for p in dev], seed)
