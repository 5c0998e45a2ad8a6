"""PyTorch side of the sentence-level pair classifier: CP's fine-tuning model.

A Hugging Face encoder reads one marked sentence per pair (`entity_markers`) and a
linear layer maps `[h(E1); h(E2)]` to relation logits (the authors' fine-tuning code,
thunlp/RE-Context-or-Names: finetune/supervisedRE/code/model.py).
"""
from typing import Any

import torch
from torch import nn

from ..encoders import check_encoder_dir
from .pytorch_cp import marker_states


class PairClassifierModule(nn.Module):
    """Encoder plus `Linear(2D -> n_labels)` over the start-marker states.

    encoder (nn.Module): A `transformers` encoder (`AutoModel`).
    n_labels (int): Number of relation labels.
    dropout (float): Dropout before the linear layer.
    """

    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * encoder.config.hidden_size, n_labels)

    def forward(self, input_ids: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_labels)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention).last_hidden_state
        return self.output(self.dropout(marker_states(hidden, positions)))


def load_encoder(path: str) -> Any:
    """Tokenizer and encoder of a local Hugging Face directory (a CP output or any BERT-like model)."""
    from transformers import AutoModel, AutoTokenizer

    check_encoder_dir(path)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=False)
    return tokenizer, encoder
