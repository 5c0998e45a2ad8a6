"""The PyTorch part of the document-level pair classifier: entity vectors pooled over
their mentions, context pooled for each pair over the whole document, a grouped
bilinear classifier (ATLOP: Zhou et al. 2021, "Document-Level Relation Extraction with
Adaptive Thresholding and Localized Context Pooling", sections 2.1-2.3).
Wrapped by `spacy_relext.rationale.document_pairs` with thinc's PyTorchWrapper.
"""
import math
from typing import List

import torch
from torch import Tensor, nn

from .. import torch_threads  # noqa: F401 (fork safety for nlp.pipe(n_process=2))

# Pairs whose context is pooled in one product: (pairs x document tokens x heads) floats
# per step stays near this bound (DWIE has up to 7,656 entity pairs and 1,769 tokens in
# a document).
MAX_CONTEXT_ELEMENTS = 1 << 23
# The BiLSTM reads documents in windows of this many tokens: on CPU an LSTM runs one
# step per position, so a whole 1,769-token document would be 1,769 sequential steps
# (about two thirds of a training step's time); 128 keeps a sentence or more of context
# around each token, and the whole document reaches each pair through the context pooling.
LSTM_WINDOW = 128


class DocumentPairModule(nn.Module):
    """Score every (head entity, tail entity) pair of a batch of documents.

    width (int): Token vector width D.
    n_classes (int): Output classes, the threshold class (column 0) included.
    hidden_width (int): Width of the head and tail representations before the bilinear.
    block_size (int): Block size of the grouped bilinear (divides `hidden_width`).
    document_lstm (bool): Contextualise the token vectors with a residual BiLSTM over
        windows of LSTM_WINDOW tokens first (a local encoder such as a CNN tok2vec sees
        only a few tokens; a transformer already reads its window).
    context_heads (int): Heads of the localized context pooling; 0 turns it off.
    dropout (float): Dropout on the pair representations.
    """

    def __init__(
        self,
        width: int,
        n_classes: int,
        *,
        hidden_width: int = 256,
        block_size: int = 32,
        document_lstm: bool = True,
        context_heads: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.width = width
        self.block_size = block_size
        self.context_heads = context_heads
        # Normalised first: the vectors of a tok2vec trained from scratch grow freely.
        self.norm = nn.LayerNorm(width)
        self.lstm = nn.LSTM(width, width // 2, batch_first=True, bidirectional=True) if document_lstm else None
        self.lstm_projection = nn.Linear(2 * (width // 2), width) if document_lstm else None
        if context_heads:
            # A CPU tok2vec has no attention of its own to reuse (ATLOP reads the
            # transformer's), so the entity-to-token attention is learned here.
            self.query = nn.Linear(width, width)
            self.key = nn.Linear(width, width)
        n_features = 2 * width if context_heads else width
        self.head_projection = nn.Linear(n_features, hidden_width)
        self.tail_projection = nn.Linear(n_features, hidden_width)
        self.dropout = nn.Dropout(dropout)
        self.bilinear = nn.Linear(hidden_width * block_size, n_classes)

    def forward(
        self,
        vectors: Tensor,
        doc_offsets: Tensor,
        mention_rows: Tensor,
        mention_weights: Tensor,
        mention_offsets: Tensor,
        entity_mentions: Tensor,
        entity_valid: Tensor,
        entity_offsets: Tensor,
        pair_heads: Tensor,
        pair_tails: Tensor,
        pair_offsets: Tensor,
    ) -> Tensor:
        """Logits of the P pairs of a batch of documents.

        vectors (Tensor): (N, D) token vectors of the documents, flattened.
        doc_offsets (Tensor): (B + 1,) first token row of each document, then N.
        mention_rows, mention_weights (Tensor): (M, W) token rows of each mention and
            their pooling weights (a mean; 0 on padding). Mentions are in document order.
        mention_offsets (Tensor): (B + 1,) first mention of each document, then M.
        entity_mentions, entity_valid (Tensor): (E, K) the mentions of each entity, and
            1 where a slot holds one. Entities are in document order.
        entity_offsets (Tensor): (B + 1,) first entity of each document, then E.
        pair_heads, pair_tails (Tensor): (P,) the entities of each pair, in document order.
        pair_offsets (Tensor): (B + 1,) first pair of each document, then P.
        RETURNS (Tensor): (P, C) logits; class 0 is the pair's threshold.
        """
        tokens = self.contextualise(self.norm(vectors), doc_offsets)
        mentions = (tokens[mention_rows] * mention_weights[..., None]).sum(1)
        # Entity vector: log-sum-exp over its mentions, a smooth max (ATLOP, eq. 2).
        gathered = mentions[entity_mentions].masked_fill(~entity_valid.bool()[..., None], float("-inf"))
        entities = torch.logsumexp(gathered, dim=1)
        heads, tails = entities[pair_heads], entities[pair_tails]
        if self.context_heads:
            context = self.pair_context(tokens, mentions, doc_offsets, mention_offsets, entity_mentions,
                                        entity_valid, entity_offsets, pair_heads, pair_tails, pair_offsets)
            heads, tails = torch.cat([heads, context], -1), torch.cat([tails, context], -1)
        z_head = torch.tanh(self.head_projection(self.dropout(heads)))
        z_tail = torch.tanh(self.tail_projection(self.dropout(tails)))
        # Grouped bilinear (ATLOP, eq. 5): outer products within blocks of the hidden width.
        n, k = z_head.shape[0], z_head.shape[1] // self.block_size
        blocks = z_head.view(n, k, self.block_size, 1) * z_tail.view(n, k, 1, self.block_size)
        return self.bilinear(blocks.reshape(n, -1))

    def contextualise(self, tokens: Tensor, doc_offsets: Tensor) -> Tensor:
        """Tokens plus a projection of a BiLSTM (residual) over consecutive windows of at
        most LSTM_WINDOW tokens of each document, all windows of the batch at once."""
        if self.lstm is None or tokens.shape[0] == 0:
            return tokens
        bounds = doc_offsets.tolist()
        windows = [tokens[start: min(start + LSTM_WINDOW, end)]
                   for doc_start, end in zip(bounds[:-1], bounds[1:])
                   for start in range(doc_start, end, LSTM_WINDOW)]
        padded = nn.utils.rnn.pad_sequence(windows, batch_first=True)
        lengths = torch.tensor([len(window) for window in windows])
        packed = nn.utils.rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=padded.shape[1])
        context = self.lstm_projection(output)
        return tokens + torch.cat([context[w, : len(window)] for w, window in enumerate(windows)])

    def pair_context(self, tokens: Tensor, mentions: Tensor, doc_offsets: Tensor, mention_offsets: Tensor,
                     entity_mentions: Tensor, entity_valid: Tensor, entity_offsets: Tensor, pair_heads: Tensor,
                     pair_tails: Tensor, pair_offsets: Tensor) -> Tensor:
        """Localized context pooling (ATLOP, section 2.3): each entity attends over its
        document's tokens (the mean of its mentions' attention); a pair pools the tokens
        that both of its entities attend to (the product, summed over heads, normalised)."""
        n_heads = self.context_heads
        head_width = self.width // n_heads
        queries = self.query(mentions).view(-1, n_heads, head_width)
        keys = self.key(tokens).view(-1, n_heads, head_width)
        valid = entity_valid.to(tokens.dtype)
        out: List[Tensor] = []
        docs, ments = doc_offsets.tolist(), mention_offsets.tolist()
        ents, pairs = entity_offsets.tolist(), pair_offsets.tolist()
        for d in range(len(docs) - 1):
            if pairs[d + 1] == pairs[d]:
                continue
            doc_tokens = tokens[docs[d]: docs[d + 1]]
            scores = torch.einsum("mhd,thd->mht", queries[ments[d]: ments[d + 1]], keys[docs[d]: docs[d + 1]])
            attention = torch.softmax(scores / math.sqrt(head_width), dim=-1)  # (Md, H, T)
            # Entity attention: the mean over its mentions, with mention ids local to the document.
            members = (entity_mentions[ents[d]: ents[d + 1]] - ments[d]).clamp(min=0)
            weights = valid[ents[d]: ents[d + 1]]
            entity_attention = (attention[members] * weights[..., None, None]).sum(1)
            entity_attention = entity_attention / weights.sum(1).clamp(min=1)[:, None, None]  # (Ed, H, T)
            heads = pair_heads[pairs[d]: pairs[d + 1]] - ents[d]
            tails = pair_tails[pairs[d]: pairs[d + 1]] - ents[d]
            step = max(1, MAX_CONTEXT_ELEMENTS // max(1, n_heads * doc_tokens.shape[0]))
            for start in range(0, len(heads), step):
                h, t = heads[start: start + step], tails[start: start + step]
                pooling = (entity_attention[h] * entity_attention[t]).sum(1)
                pooling = pooling / (pooling.sum(-1, keepdim=True) + 1e-10)
                out.append(pooling @ doc_tokens)
        return torch.cat(out) if out else tokens.new_zeros((0, tokens.shape[1]))
