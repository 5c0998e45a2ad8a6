"""PyTorch side of the faithful (own Hugging Face encoder) levitated-marker classifier.

The encoder reads one packed sequence per row group with custom position ids and a
3-D attention mask (eager attention, so the mask is applied exactly as given). Weights,
encoder config and tokenizer are serialized together, so a saved pipeline loads without
the encoder's source directory.
"""
from typing import Any

import torch
from torch import nn

from ..encoders import encoder_bytes, encoder_from_bytes, load_encoder
from ..entity_markers import FALLBACK_TOKENS, SPECIAL_TOKENS
from ..torch_io import load_state
from .pytorch_marker_attention import pair_features


class LevitatedMarkerEncoder(nn.Module):
    """A Hugging Face encoder with marker / CLM token ids and a pair head.

    encoder (nn.Module): A BERT-like `transformers` model (eager attention).
    tokenizer (Any): Its fast tokenizer (not a submodule; serialized separately).
    n_classes (int): Size of the directional label space.
    dropout (float): Dropout on the hidden states before the head.
    """

    def __init__(self, encoder: nn.Module, tokenizer: Any, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.n_classes = n_classes
        self.dropout_rate = dropout
        self.marker_ids, self.clm_token_ids = marker_token_ids(encoder, tokenizer, 2 * n_classes)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(4 * encoder.config.hidden_size, n_classes)

    def hidden(self, input_ids: torch.Tensor, position_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states, (G, T, hidden); `mask` is (G, T, T), 1 = may attend."""
        return self.encoder(input_ids=input_ids, attention_mask=mask, position_ids=position_ids).last_hidden_state

    def forward(
        self, input_ids: torch.Tensor, position_ids: torch.Tensor, mask: torch.Tensor, pair_rows: torch.Tensor
    ) -> torch.Tensor:
        """Logits (P, n_classes) of the pairs in `pair_rows` (group, S, /S, O, /O rows)."""
        h = self.dropout(self.hidden(input_ids, position_ids, mask))
        return self.output(pair_features(h, pair_rows))


def marker_token_ids(encoder: nn.Module, tokenizer: Any, n_clm_tokens: int) -> Any:
    """Ids of the four marker tokens (E1, /E1, E2, /E2 of the shared registry in
    `entity_markers`) and of `n_clm_tokens` CLM tokens: BERT's `[unused0..3]` and
    `[unused5..]` when the vocabulary has them (as the SURE code does), otherwise new
    special tokens (and resized embeddings).
    """
    names = SPECIAL_TOKENS.names()[:4] + [f"[unused{5 + i}]" for i in range(n_clm_tokens)]
    vocab = tokenizer.get_vocab()
    if not all(name in vocab for name in names):
        names = FALLBACK_TOKENS.names()[:4] + [f"[relext_clm_{i}]" for i in range(n_clm_tokens)]
        missing = [name for name in names if name not in vocab]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
            encoder.resize_token_embeddings(len(tokenizer))
    ids = tokenizer.convert_tokens_to_ids(names)
    return ids[:4], ids[4:]


def load_marker_encoder(path: str, n_classes: int, dropout: float) -> LevitatedMarkerEncoder:
    """Build the module from a local Hugging Face model directory (eager attention, for
    the 3-D mask)."""
    tokenizer, encoder = load_encoder(path, eager_attention=True)
    return LevitatedMarkerEncoder(encoder, tokenizer, n_classes, dropout)


def serialize_encoder(module: LevitatedMarkerEncoder) -> bytes:
    """Weights, encoder config and tokenizer files of the module, as bytes."""
    return encoder_bytes(module, module.encoder, module.tokenizer, n_classes=module.n_classes,
                         dropout=module.dropout_rate)


def deserialize_encoder(_: Any, data: bytes, device: torch.device) -> LevitatedMarkerEncoder:
    """Rebuild the module saved by `serialize_encoder` (no source directory needed)."""
    tokenizer, encoder, msg = encoder_from_bytes(data, eager_attention=True)
    module = LevitatedMarkerEncoder(encoder, tokenizer, msg["n_classes"], msg["dropout"])
    module.load_state_dict(load_state(msg["state"], device))
    return module.to(device)
