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
from .pytorch_marker_attention import entity_features, pair_features

# The first `[unusedN]` CLM token. CP's entity markers and blanks take `[unused0..5]`
# (`entity_markers.SPECIAL_TOKENS`; Peng et al., 2020), so CLMs start after them: from
# `[unused5]`, as the SURE code does, the first CLM was CP's blank tail, which a
# CP-pre-trained encoder reads as a blanked entity (issue 20).
CLM_FIRST_UNUSED = len(SPECIAL_TOKENS.names())
# What modules saved before that read, so that they rebuild with the same ids.
CLM_FIRST_UNUSED_BEFORE = 5


class LevitatedMarkerEncoder(nn.Module):
    """A Hugging Face encoder with marker / CLM token ids and a pair head.

    encoder (nn.Module): A BERT-like `transformers` model (eager attention).
    tokenizer (Any): Its fast tokenizer (not a submodule; serialized separately).
    n_classes (int): Size of the directional label space.
    dropout (float): Dropout on the hidden states before the head.
    n_entity_classes (int): Entity types plus NIL for the NER head on the object
        markers (PL-Marker, Ye et al., 2022), 0 for no head.
    clm_first_unused (int): N of the first `[unusedN]` CLM token (CLM_FIRST_UNUSED;
        CLM_FIRST_UNUSED_BEFORE for modules saved before it).
    """

    def __init__(self, encoder: nn.Module, tokenizer: Any, n_classes: int, dropout: float, *,
                 n_entity_classes: int = 0, clm_first_unused: int = CLM_FIRST_UNUSED) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.n_classes = n_classes
        self.n_entity_classes = n_entity_classes
        self.dropout_rate = dropout
        self.clm_first_unused = clm_first_unused
        self.marker_ids, self.clm_token_ids = marker_token_ids(encoder, tokenizer, 2 * n_classes, clm_first_unused)
        self.dropout = nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        self.output = nn.Linear(4 * hidden, n_classes)
        self.ner_output = nn.Linear(2 * hidden, n_entity_classes) if n_entity_classes else None

    def hidden(self, input_ids: torch.Tensor, position_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states, (G, T, hidden); `mask` is (G, T, T), 1 = may attend."""
        return self.encoder(input_ids=input_ids, attention_mask=mask, position_ids=position_ids).last_hidden_state

    def forward(
        self, input_ids: torch.Tensor, position_ids: torch.Tensor, mask: torch.Tensor, pair_rows: torch.Tensor
    ) -> torch.Tensor:
        """Logits (P, n_classes) of the pairs in `pair_rows` (group, S, /S, O, /O rows),
        followed by the object's entity-type logits (P, n_entity_classes) with the NER head."""
        h = self.dropout(self.hidden(input_ids, position_ids, mask))
        scores = self.output(pair_features(h, pair_rows))
        if self.ner_output is None:
            return scores
        return torch.cat([scores, self.ner_output(entity_features(h, pair_rows))], dim=-1)


def marker_token_ids(encoder: nn.Module, tokenizer: Any, n_clm_tokens: int,
                     first_unused: int = CLM_FIRST_UNUSED) -> Any:
    """Ids of the four marker tokens (E1, /E1, E2, /E2 of the shared registry in
    `entity_markers`) and of `n_clm_tokens` CLM tokens: BERT's `[unused0..3]` and
    `[unused{first_unused}..]` when the vocabulary has them, otherwise new special tokens
    (and resized embeddings).
    """
    names = SPECIAL_TOKENS.names()[:4] + [f"[unused{first_unused + i}]" for i in range(n_clm_tokens)]
    vocab = tokenizer.get_vocab()
    if not all(name in vocab for name in names):
        names = FALLBACK_TOKENS.names()[:4] + [f"[relext_clm_{i}]" for i in range(n_clm_tokens)]
        missing = [name for name in names if name not in vocab]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
            encoder.resize_token_embeddings(len(tokenizer))
    ids = tokenizer.convert_tokens_to_ids(names)
    return ids[:4], ids[4:]


def load_marker_encoder(path: str, n_classes: int, dropout: float, n_entity_classes: int = 0) -> LevitatedMarkerEncoder:
    """Build the module from a local Hugging Face model directory (eager attention, for
    the 3-D mask)."""
    tokenizer, encoder = load_encoder(path, eager_attention=True)
    return LevitatedMarkerEncoder(encoder, tokenizer, n_classes, dropout, n_entity_classes=n_entity_classes)


def serialize_encoder(module: LevitatedMarkerEncoder) -> bytes:
    """Weights, encoder config and tokenizer files of the module, as bytes."""
    return encoder_bytes(module, module.encoder, module.tokenizer, n_classes=module.n_classes,
                         dropout=module.dropout_rate, n_entity_classes=module.n_entity_classes,
                         clm_first_unused=module.clm_first_unused)


def deserialize_encoder(_: Any, data: bytes, device: torch.device) -> LevitatedMarkerEncoder:
    """Rebuild the module saved by `serialize_encoder` (no source directory needed)."""
    tokenizer, encoder, msg = encoder_from_bytes(data, eager_attention=True)
    # Modules saved before the NER head and the moved CLM ids lack those settings.
    module = LevitatedMarkerEncoder(encoder, tokenizer, msg["n_classes"], msg["dropout"],
                                    n_entity_classes=msg.get("n_entity_classes", 0),
                                    clm_first_unused=msg.get("clm_first_unused", CLM_FIRST_UNUSED_BEFORE))
    module.load_state_dict(load_state(msg["state"], device))
    return module.to(device)
