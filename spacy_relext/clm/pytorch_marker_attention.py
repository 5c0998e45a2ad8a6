"""PyTorch attention over packed text + marker rows (listener mode of `clm_classifier`).

The rows of one packed sequence are token vectors (text), marker vectors (a token
vector at an argument boundary) and candidate-label-marker rows (no token vector).
Learned row-type, position and CLM-token embeddings are added, then `depth` pre-norm
attention blocks run under a boolean mask (True = may attend), and a linear head scores
each pair on `[h_S; h_/S; h_O; h_/O]`. Every row operation other than attention is
row-wise, so a row's state depends only on the rows its mask lets it see.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .. import torch_threads  # noqa: F401 (fork safety for nlp.pipe(n_process=2))


# Row types: index into the type embedding.
PAD, TEXT, SUBJ_START, SUBJ_END, OBJ_START, OBJ_END, CLM = range(7)
N_ROW_TYPES = 7


class AttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention and feed-forward, both residual."""

    def __init__(self, width: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n_groups, n_rows, width = h.shape
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(n_groups, n_rows, self.n_heads, width // self.n_heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask[:, None])
        attended = attended.transpose(1, 2).reshape(n_groups, n_rows, width)
        h = h + self.dropout(self.out(attended))
        return h + self.dropout(self.ff(self.norm2(h)))


class MarkerAttention(nn.Module):
    """Attention layer and pair head of the listener-mode levitated-marker classifier.

    n_in (int): Width of the token vectors.
    width (int): Hidden width.
    n_classes (int): Size of the directional label space.
    depth (int): Number of attention blocks.
    n_heads (int): Attention heads; must divide `width`.
    n_positions (int): Size of the position table.
    n_clm_tokens (int): Number of candidate-label-marker tokens.
    dropout (float): Dropout on hidden states.
    """

    def __init__(
        self,
        n_in: int,
        width: int,
        n_classes: int,
        *,
        depth: int,
        n_heads: int,
        n_positions: int,
        n_clm_tokens: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.project = nn.Linear(n_in, width)
        self.row_types = nn.Embedding(N_ROW_TYPES, width)
        self.positions = nn.Embedding(n_positions, width)
        self.clm_tokens = nn.Embedding(n_clm_tokens + 1, width, padding_idx=0)
        self.blocks = nn.ModuleList([AttentionBlock(width, n_heads, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(4 * width, n_classes)

    def hidden(
        self,
        X: torch.Tensor,
        row_types: torch.Tensor,
        positions: torch.Tensor,
        clm_ids: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Hidden states of all rows.

        X (torch.Tensor): Token vectors per row, zeros for CLM and pad rows, (G, T, n_in).
        row_types (torch.Tensor): Row type ids, (G, T).
        positions (torch.Tensor): Position ids, (G, T).
        clm_ids (torch.Tensor): CLM token id + 1 per row, 0 elsewhere, (G, T).
        mask (torch.Tensor): Boolean attention mask, (G, T, T); row i may see column j.
        RETURNS (torch.Tensor): (G, T, width).
        """
        h = self.project(X) + self.row_types(row_types) + self.positions(positions) + self.clm_tokens(clm_ids)
        for block in self.blocks:
            h = block(h, mask)
        return self.norm(h)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Logits per pair.

        inputs (torch.Tensor): The arguments of `hidden`, then `pair_rows`, (P, 5): the
            group, then the rows of S, /S, O and /O of each pair.
        RETURNS (torch.Tensor): (P, n_classes).
        """
        *rows, pair_rows = inputs
        h = self.dropout(self.hidden(*rows))
        return self.output(pair_features(h, pair_rows))


def pair_features(h: torch.Tensor, pair_rows: torch.Tensor) -> torch.Tensor:
    """`[h_S; h_/S; h_O; h_/O]` per pair.

    h (torch.Tensor): Hidden states, (G, T, width).
    pair_rows (torch.Tensor): (P, 5): group, then the rows of S, /S, O and /O.
    RETURNS (torch.Tensor): (P, 4 * width).
    """
    group = pair_rows[:, 0]
    return torch.cat([h[group, pair_rows[:, i]] for i in range(1, 5)], dim=-1)
