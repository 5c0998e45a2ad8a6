"""The torch module of RERE's query mode: a Hugging Face encoder over
`[CLS] relation [SEP] sentence [SEP]` and a linear layer to four pointer logits."""
from typing import Any

import torch
from torch import nn

from .. import torch_threads  # noqa: F401 (one torch thread in forked workers: nlp.pipe(n_process=2))

# Logit given to sentence tokens that have no wordpiece in the encoder input (truncated,
# or whitespace tokens): a sigmoid of about 2e-9, so they never become a pointer.
ABSENT_LOGIT = -20.0


class QueryPointerModule(nn.Module):
    """Encoder + pointer layer; reads the first wordpiece of each sentence token.

    encoder (nn.Module): A BERT-like `transformers` encoder.
    tokenizer (Any): Its fast tokenizer (not a submodule; saved with the weights).
    frozen_layers (int): The embeddings and the first `frozen_layers` transformer layers
        get no updates (the released code freezes 3 for the extractor).
    dropout (float): Dropout before the pointer layer.
    """

    def __init__(self, encoder: nn.Module, tokenizer: Any, frozen_layers: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        frozen = [self.encoder.embeddings] + list(self.encoder.encoder.layer[:frozen_layers])
        for part in frozen:
            for param in part.parameters():
                param.requires_grad = False
        self.dropout = nn.Dropout(dropout)
        self.pointers = nn.Linear(self.encoder.config.hidden_size, 4)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        gather: torch.Tensor,
    ) -> torch.Tensor:
        """Pointer logits of the sentence tokens of every query.

        input_ids, attention_mask, token_type_ids (torch.Tensor): (n_queries, seq_len).
        gather (torch.Tensor): For each sentence token of each query, its first
            wordpiece's position in the flattened (n_queries * seq_len) batch, or -1.
        RETURNS (torch.Tensor): (n_tokens, 4) logits.
        """
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        logits = self.pointers(self.dropout(hidden)).reshape(-1, 4)
        rows = logits[gather.clamp(min=0)]
        return torch.where((gather >= 0)[:, None], rows, torch.full_like(rows, ABSENT_LOGIT))
