"""PyTorch side of contrastive pre-training: NT-Xent, MLM masking, the CP model.

The relation representation is `[h(E1); h(E2)]`, the last-layer states of the two
start markers (Peng et al., 2020, section 3.2, Eq. 1). One corrupted forward pass gives both
the MLM loss and the marker states for the contrastive loss (the authors' code,
thunlp/RE-Context-or-Names: pretrain/code/model.py, class `CP`).
"""
from typing import Any, Collection, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .. import torch_threads  # noqa: F401 (one torch thread in forked workers: nlp.pipe(n_process=2))

from ..encoders import load_encoder
from ..entity_markers import EncodedPair

IGNORE_INDEX = -100


def nt_xent(x: torch.Tensor, labels: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """NT-Xent with cosine similarity and in-batch negatives.

    Every ordered pair (a, p), a != p, with the same label is a positive and gets its own
    term `-log(e^{s_ap} / (e^{s_ap} + sum_n e^{s_an}))`, where `s = cos / temperature` and
    n runs over the samples with another label (the anchor's other positives are left out,
    as pytorch-metric-learning's `NTXentLoss` does). The loss is the mean over positives.

    x (torch.Tensor): Representations, (N, D).
    labels (torch.Tensor): Relation ids, (N,).
    temperature (float): Softmax temperature.
    RETURNS (torch.Tensor): The scalar loss (0 when the batch has no positive pair).
    """
    unit = nn.functional.normalize(x, dim=-1)
    sim = unit @ unit.t() / temperature
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=x.device)
    positive = same & ~eye
    if not positive.any():
        return sim.sum() * 0.0
    # log sum over negatives per anchor, -inf when the anchor has none
    neg_lse = torch.logsumexp(sim.masked_fill(same, float("-inf")), dim=1)
    anchor, other = positive.nonzero(as_tuple=True)
    s_pos = sim[anchor, other]
    return (torch.logaddexp(s_pos, neg_lse[anchor]) - s_pos).mean()


def mlm_mask(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    probability: float = 0.15,
    generator: Optional[torch.Generator] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: pick `probability` of the maskable positions; of those, 80% become
    [MASK], 10% a random token and 10% stay.

    input_ids (torch.Tensor): (B, T) ids.
    maskable (torch.Tensor): (B, T) bool, False at padding, special and marker tokens.
    mask_token_id (int): Id of [MASK].
    vocab_size (int): Random replacements are drawn from [0, vocab_size).
    probability (float): Share of maskable tokens to predict.
    generator (Optional[torch.Generator]): Random source.
    RETURNS (Tuple[torch.Tensor, torch.Tensor]): Corrupted ids, and MLM targets
        (`IGNORE_INDEX` where nothing is predicted).
    """

    def draw() -> torch.Tensor:
        return torch.rand(input_ids.shape, generator=generator)

    chosen = (draw() < probability) & maskable.cpu()
    targets = torch.where(chosen, input_ids.cpu(), torch.full_like(input_ids.cpu(), IGNORE_INDEX))
    coin = draw()
    corrupted = input_ids.clone().cpu()
    corrupted[chosen & (coin < 0.8)] = mask_token_id
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    swap = chosen & (coin >= 0.8) & (coin < 0.9)
    corrupted[swap] = random_ids[swap]
    return corrupted.to(input_ids.device), targets.to(input_ids.device)


def collate(
    encoded: Sequence[EncodedPair], pad_id: int, never_masked: Collection[int]
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad a batch of encoded pairs.

    RETURNS (Tuple): input ids (B, T), attention mask (B, T), marker positions (B, 2),
        and the maskable positions (B, T) for `mlm_mask` (not padding, not in `never_masked`).
    """
    width = max(len(e.input_ids) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    for row, e in enumerate(encoded):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for row, e in enumerate(encoded):
        attention[row, : len(e.input_ids)] = 1
    positions = torch.tensor([[e.head_position, e.tail_position] for e in encoded], dtype=torch.long)
    blocked = torch.tensor(sorted(set(never_masked)), dtype=torch.long)
    maskable = attention.bool() & ~torch.isin(ids, blocked)
    return ids, attention, positions, maskable


def marker_states(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """`[h(E1); h(E2)]` per row: (B, 2D) from (B, T, D) states and (B, 2) positions."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return torch.cat([hidden[rows, positions[:, 0]], hidden[rows, positions[:, 1]]], dim=-1)


class ContrastiveModel(nn.Module):
    """A masked-LM Hugging Face model whose forward gives relation representations and the MLM loss.

    mlm (nn.Module): A `transformers` `...ForMaskedLM` model.
    """

    def __init__(self, mlm: nn.Module) -> None:
        super().__init__()
        self.mlm = mlm

    def forward(
        self, input_ids: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor, targets: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Relation representations (B, 2D) and the MLM loss of one corrupted batch."""
        head = getattr(self.mlm, "cls", None)  # BERT-style: apply the MLM head to predicted positions only
        if head is None:
            out = self.mlm(input_ids=input_ids, attention_mask=attention, labels=targets, output_hidden_states=True)
            hidden, loss = out.hidden_states[-1], out.loss
        else:
            hidden = self.mlm.base_model(input_ids=input_ids, attention_mask=attention).last_hidden_state
            predicted = targets != IGNORE_INDEX
            loss = nn.functional.cross_entropy(head(hidden[predicted]), targets[predicted]) if predicted.any() else None
        if loss is None or not torch.isfinite(loss):
            loss = hidden.sum() * 0.0
        return marker_states(hidden, positions), loss


def mlm_head_parameters(mlm: nn.Module) -> List[nn.Parameter]:
    """The masked-LM model's parameters outside its encoder (`base_model`). An output
    projection tied to the word embeddings is the encoder's, so it is not among them."""
    encoder = {id(p) for p in mlm.base_model.parameters()}
    return [p for p in mlm.parameters() if id(p) not in encoder]


def load_mlm(path: str) -> Tuple[Any, nn.Module]:
    """Tokenizer and masked-LM model of a local Hugging Face directory (a missing MLM head
    is initialized, as `transformers` does for encoder-only checkpoints)."""
    return load_encoder(path, masked_lm=True)