"""The torch module of `spacy-relext.SpanExtractor.v2`: relation-conditioned token
features, a BiLSTM over each (sentence, relation) query, a relation-queried attention
summary and four pointer logits.
Wrapped by `spacy_relext.rere.architectures` with thinc's PyTorchWrapper."""
from typing import Dict

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import torch_threads  # noqa: F401 (fork safety for nlp.pipe(n_process=2))

N_POINTERS = 4


class SentencePointerModule(nn.Module):
    """Pointers that read the whole sentence, conditioned on the queried relation.

    Each token of a query gets `[x_t; e_r; x_t * e_r]` (its projected vector, the
    relation embedding and their product), as the query-prefixed encoder of Xie et al.
    (2021, section 4.2) lets every context token attend to the relation text; a BiLSTM
    over the query's tokens then carries relation-specific evidence from anywhere in the
    sentence to every token; the relation embedding then attends over the BiLSTM states
    for a summary of the sentence, and a small feed-forward head on each token's state,
    the summary and their product gives the four pointer logits (subject start, subject
    end, object start, object end).

    nI (int): Width of the token vectors.
    nL (int): Number of relation labels (one embedding each).
    hidden_width (int): Width of the conditioned features and of the BiLSTM output
        (half per direction; even).
    depth (int): BiLSTM layers.
    dropout (float): Dropout of the features, between BiLSTM layers and before the head.
    """

    def __init__(self, nI: int, nL: int, hidden_width: int, depth: int, dropout: float) -> None:
        super().__init__()
        self.dims = {"nI": nI, "nL": nL, "hidden_width": hidden_width, "depth": depth}
        self.project = nn.Linear(nI, hidden_width)
        self.relations = nn.Embedding(nL, hidden_width)
        self.condition = nn.Linear(3 * hidden_width, hidden_width)
        self.lstm = nn.LSTM(
            hidden_width,
            hidden_width // 2,
            num_layers=depth,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if depth > 1 else 0.0,
        )
        # Forget-gate bias 1 (Jozefowicz et al., 2015): with torch's 0 the state halves at
        # each step and a cue a dozen tokens away barely reaches the pointer.
        for name, param in self.lstm.named_parameters():
            if name.startswith("bias_ih"):
                param.data[hidden_width // 2 : hidden_width].fill_(1.0)
        self.norm = nn.LayerNorm(hidden_width)
        self.query = nn.Linear(hidden_width, hidden_width)
        self.key = nn.Linear(hidden_width, hidden_width)
        self.value = nn.Linear(hidden_width, hidden_width)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(
            nn.Linear(3 * hidden_width, hidden_width), nn.ReLU(), nn.Linear(hidden_width, N_POINTERS)
        )

    def forward(
        self, tokvecs: torch.Tensor, rows: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Pointer logits of every token of every query, query after query.

        tokvecs (torch.Tensor): (n_doc_tokens, nI) token vectors of the batch's Docs.
        rows (torch.Tensor): (n_queries, max_length) row of each query token in
            `tokvecs`, padded with 0.
        lengths (torch.Tensor): (n_queries,) tokens per query, on the CPU, each >= 1.
        labels (torch.Tensor): (n_queries,) relation label of each query.
        RETURNS (torch.Tensor): (sum(lengths), 4) logits.
        """
        x = self.dropout(self.project(tokvecs))[rows]
        e = self.relations(labels)[:, None, :].expand_as(x)
        z = torch.relu(self.condition(torch.cat([x, e, x * e], dim=-1)))
        # Packed, so the backward direction starts at each query's last token and the
        # logits do not depend on the other queries of the batch (their padding).
        packed = pack_padded_sequence(self.dropout(z), lengths, batch_first=True, enforce_sorted=False)
        context, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=rows.shape[1])
        h = self.norm(z + context)  # residual: the BiLSTM adds sentence context to each token
        valid = torch.arange(rows.shape[1], device=rows.device)[None, :] < lengths.to(rows.device)[:, None]
        # The relation queries the sentence: one summary per query, read by every pointer
        # in one hop however far the evidence is (the BiLSTM's path fades with distance).
        scores = torch.einsum("qlh,qh->ql", self.key(h), self.query(self.relations(labels))) / h.shape[-1] ** 0.5
        weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
        summary = torch.einsum("ql,qlh->qh", weights, self.value(h))[:, None, :].expand_as(h)
        logits = self.head(self.dropout(torch.cat([h, summary, h * summary], dim=-1)))
        return logits[valid]

    def set_dropout(self, rate: float) -> None:
        """Set the dropout rate of every dropout of the module (spaCy's training
        `dropout`, as it sets the rate of thinc's dropout layers)."""
        self.dropout.p = rate
        if self.lstm.num_layers > 1:
            self.lstm.dropout = rate

    def settings(self) -> Dict[str, int]:
        """The dims the module is rebuilt with before its weights are loaded."""
        return dict(self.dims)
