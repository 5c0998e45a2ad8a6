"""PyTorch attention over packed text + marker rows (listener mode of `clm_classifier`).

The rows of one packed sequence are token vectors (text), marker vectors (a token
vector at an argument boundary) and candidate-label-marker rows (no token vector).
Learned row-type, position and CLM-token embeddings are added, then `depth` pre-norm
attention blocks run under a boolean mask (True = may attend), and a linear head scores
each pair on `[h_S; h_/S; h_O; h_/O]`. Every row operation other than attention is
row-wise, so a row's state depends only on the rows its mask lets it see: text rows see
only text, so they are computed once per context window rather than once per group, and
the last block updates only the marker rows the head reads.
"""
from typing import Tuple

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

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """(N, R, width) -> (N, heads, R, width / heads)."""
        n, rows, width = x.shape
        return x.view(n, rows, self.n_heads, width // self.n_heads).transpose(1, 2)

    def queries_keys_values(self, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of rows (N, R, width), each (N, heads, R, width / heads)."""
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)
        return self.heads(q), self.heads(k), self.heads(v)

    def keys_values(self, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of rows whose own states are not needed any more: the query
        third of `qkv` is skipped."""
        width = h.shape[-1]
        keys, values = F.linear(self.norm1(h), self.qkv.weight[width:], self.qkv.bias[width:]).chunk(2, dim=-1)
        return self.heads(keys), self.heads(values)

    def forward(
        self, h: torch.Tensor, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """New states of rows h (N, Q, width) from their queries and the keys and values
        (N, heads, C, width / heads) of the C rows they may see under `mask` (N, Q, C),
        True = may attend.
        """
        attended = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask[:, None])
        h = h + self.dropout(self.out(attended.transpose(1, 2).reshape(h.shape)))
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
    n_entity_classes (int): Entity types plus NIL for the NER head on the object
        markers (PL-Marker, Ye et al., 2022), 0 for no head.
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
        n_entity_classes: int = 0,
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
        self.ner_output = nn.Linear(2 * width, n_entity_classes) if n_entity_classes else None

    def embed(
        self, X: torch.Tensor, row_types: torch.Tensor, positions: torch.Tensor, clm_ids: torch.Tensor
    ) -> torch.Tensor:
        """Input states of rows: projected token vectors plus row-type, position and
        CLM-token embeddings, (N, R, width) from X (N, R, n_in) and ids (N, R)."""
        return self.project(X) + self.row_types(row_types) + self.positions(positions) + self.clm_tokens(clm_ids)

    def hidden(
        self,
        text_X: torch.Tensor,
        X: torch.Tensor,
        text_lengths: torch.Tensor,
        windows: torch.Tensor,
        row_types: torch.Tensor,
        positions: torch.Tensor,
        clm_ids: torch.Tensor,
        mask: torch.Tensor,
        n_read: int,
    ) -> torch.Tensor:
        """Hidden states of the first `n_read` marker rows of each group.

        Text rows see only the text of their window, so their states are computed once
        per window (W of them) and serve as extra keys and values for the marker rows of
        every group reading that window. The last block runs its queries, output and
        feed-forward only for the marker rows read; the text rows only give it keys and
        values.

        text_X (torch.Tensor): Token vectors of each window, zeros for padding, (W, L, n_in).
        X (torch.Tensor): Token vectors per marker row, zeros for CLM and pad rows, (G, M, n_in).
        text_lengths (torch.Tensor): Real rows of each window, (W,).
        windows (torch.Tensor): Window of each group, (G,).
        row_types (torch.Tensor): Row type ids of the marker rows, PAD for padding, (G, M).
        positions (torch.Tensor): Position ids of the marker rows, (G, M).
        clm_ids (torch.Tensor): CLM token id + 1 per marker row, 0 elsewhere, (G, M).
        mask (torch.Tensor): Boolean mask among the marker rows, (G, M, M); row i may see column j.
        n_read (int): Leading marker rows whose states are returned.
        RETURNS (torch.Tensor): (G, n_read, width).
        """
        n_windows, length, _ = text_X.shape
        columns = torch.arange(length, device=text_X.device)
        text_ids = torch.zeros((n_windows, length), dtype=torch.long, device=text_X.device)
        text_h = self.embed(text_X, text_ids + TEXT, columns.expand(n_windows, length), text_ids)
        real_text = columns < text_lengths[:, None]
        # Padding text rows see real text too, so that no row of a softmax is empty;
        # no other row sees them.
        text_mask = real_text[:, None, :] | torch.eye(length, dtype=torch.bool, device=text_X.device)
        marker_mask = torch.cat([real_text[windows][:, None, :] & (row_types != PAD)[:, :, None], mask], dim=2)
        h = self.embed(X, row_types, positions, clm_ids)
        for i, block in enumerate(self.blocks):
            queries, keys, values = block.queries_keys_values(h)
            if i + 1 < len(self.blocks):
                text_queries, text_keys, text_values = block.queries_keys_values(text_h)
                text_h = block(text_h, text_queries, text_keys, text_values, text_mask)
            else:
                # the last block: text rows give keys and values only, and only the
                # marker rows read get queries, output and feed-forward
                text_keys, text_values = block.keys_values(text_h)
                h, queries, marker_mask = h[:, :n_read], queries[:, :, :n_read], marker_mask[:, :n_read]
            keys = torch.cat([text_keys[windows], keys], dim=2)
            values = torch.cat([text_values[windows], values], dim=2)
            h = block(h, queries, keys, values, marker_mask)
        return self.norm(h)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Logits per pair.

        inputs (torch.Tensor): The arguments of `hidden` but `n_read`, then `pair_rows`,
            (P, 5): the group, then the marker rows of S, /S, O and /O of each pair.
        RETURNS (torch.Tensor): (P, n_classes), followed by the object's entity-type
            logits (P, n_entity_classes) with the NER head.
        """
        *rows, pair_rows = inputs
        n_read = int(pair_rows[:, 1:].max()) + 1
        h = self.dropout(self.hidden(*rows, n_read))
        scores = self.output(pair_features(h, pair_rows))
        if self.ner_output is None:
            return scores
        return torch.cat([scores, self.ner_output(entity_features(h, pair_rows))], dim=-1)


def entity_features(h: torch.Tensor, pair_rows: torch.Tensor) -> torch.Tensor:
    """`[h_O; h_/O]` per pair: what PL-Marker's NER head reads (Ye et al., 2022, section 3.3).

    h (torch.Tensor): Hidden states, (G, T, width).
    pair_rows (torch.Tensor): (P, 5): group, then the rows of S, /S, O and /O.
    RETURNS (torch.Tensor): (P, 2 * width).
    """
    group = pair_rows[:, 0]
    return torch.cat([h[group, pair_rows[:, i]] for i in (3, 4)], dim=-1)


def pair_features(h: torch.Tensor, pair_rows: torch.Tensor) -> torch.Tensor:
    """`[h_S; h_/S; h_O; h_/O]` per pair.

    h (torch.Tensor): Hidden states, (G, T, width).
    pair_rows (torch.Tensor): (P, 5): group, then the rows of S, /S, O and /O.
    RETURNS (torch.Tensor): (P, 4 * width).
    """
    group = pair_rows[:, 0]
    return torch.cat([h[group, pair_rows[:, i]] for i in range(1, 5)], dim=-1)
