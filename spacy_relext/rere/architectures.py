"""Thinc architectures of RERE's two components (Xie et al., 2021, sections 4.1-4.2, Figure 2).

- `spacy-relext.RelationDetector.v1`: token vectors -> mean and max pooled per sentence
  -> Maxout -> one logit per relation label. Output row i is the i-th sentence of the
  batch (sentences from `entities.sentence_spans`, doc after doc).
- `spacy-relext.SpanExtractor.v1`: for each query (doc, sentence, relation), every
  sentence token gets the features `[h_t; e_r; h_t * e_r]` (token vector, learned
  relation embedding, their product) -> Maxout -> `depth` residual window layers over
  the query's tokens (relation-specific context: a token sees the conditioned features
  of its neighbours, as a query-prefixed encoder would) -> four pointer logits (subject
  start, subject end, object start, object end). All queries of a batch run in one pass
  over the shared token vectors. A pointer sees about +-6 tokens (tok2vec's window
  layers and these), so it cannot use a cue farther away.
- `spacy-relext.SpanExtractor.v2`: the same conditioned features, then a BiLSTM over
  each query's whole sentence and an attention summary queried by the relation (torch
  module in `pytorch_sentence_pointer.py`): every pointer reads relation-specific
  evidence from anywhere in the sentence.

- `spacy-relext.QuerySpanExtractor.v1`: query mode, the paper's extractor: its own
  Hugging Face encoder pass per query over `[CLS] relation [SEP] sentence [SEP]`
  (torch module in `pytorch_query_pointer.py`); same input and output.

The listener-mode architectures take `tok2vec` as a top-level argument (listeners,
`replace_listeners`). All output logits; the pipes apply the sigmoid and the loss.
"""

import functools
import io
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy
import srsly
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (
    ArgsKwargs,
    Linear,
    Maxout,
    Model,
    PyTorchWrapper_v3,
    chain,
    clone,
    expand_window,
    torch2xp,
    residual,
    with_array,
    xp2torch,
)
from thinc.types import Floats2d, Ints1d, Ints2d, Ragged

from ..encoders import encoder_bytes, encoder_from_bytes, load_encoder
from ..errors import Errors
from ..entities import sentence_spans
from ..torch_io import load_state

N_POINTERS = 4
QueryT = Tuple[List[Doc], Ints2d]  # query rows: (doc index, start token, end token, label index)


@registry.architectures("spacy-relext.RelationDetector.v1")
def build_relation_detector(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 64,
    dropout: float = 0.1,
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """Sentence-level multi-label relation detector.

    tok2vec (Model[List[Doc], List[Floats2d]]): Token vectors (usually a listener).
    hidden_width (int): Width of the Maxout layer over the pooled sentence vector.
    dropout (float): Dropout of the Maxout layer.
    nO (Optional[int]): Number of relation labels; set by the component at initialize.
    RETURNS (Model[List[Doc], Floats2d]): One row of label logits per sentence.
    """
    head = chain(Maxout(nO=hidden_width, nP=3, dropout=dropout, normalize=True), Linear(nO=nO))
    return Model(
        "relation_detector",
        _detector_forward,
        init=_detector_init,
        layers=[tok2vec, head],
        refs={"tok2vec": tok2vec, "output_layer": head.layers[-1]},
        dims={"nO": nO},
    )


def _detector_init(model: Model, X: Optional[List[Doc]] = None, Y: Optional[Floats2d] = None) -> None:
    tok2vec, head = model.layers
    if X is not None:
        tok2vec.initialize(X=X)
    if model.has_dim("nO"):
        head.layers[-1].set_dim("nO", model.get_dim("nO"))
    head.initialize(X=model.ops.alloc2f(1, 2 * tok2vec.get_dim("nO")))


def _detector_forward(model: Model, docs: List[Doc], is_train: bool):
    tok2vec, head = model.layers
    ops = model.ops
    tokvecs, bp_tokvecs = tok2vec(docs, is_train)
    width = tok2vec.get_dim("nO")
    doc_lengths = [len(doc) for doc in docs]
    lengths = ops.asarray1i([len(sent) for doc in docs for sent in sentence_spans(doc)])
    X = ops.flatten(tokvecs) if docs else ops.alloc2f(0, width)
    maxes, which = ops.reduce_max(X, lengths)
    pooled = ops.xp.hstack([ops.reduce_mean(X, lengths), maxes])
    Y, bp_head = head(pooled, is_train)

    def backprop(dY: Floats2d) -> List[Floats2d]:
        d_pooled = bp_head(dY)
        d_mean = ops.xp.ascontiguousarray(d_pooled[:, :width])
        d_max = ops.xp.ascontiguousarray(d_pooled[:, width:])
        dX = ops.backprop_reduce_mean(d_mean, lengths) + ops.backprop_reduce_max(d_max, which, lengths)
        return bp_tokvecs(ops.unflatten(dX, ops.asarray1i(doc_lengths)))

    return Y, backprop


@registry.architectures("spacy-relext.SpanExtractor.v1")
def build_span_extractor(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 64,
    depth: int = 2,
    window_size: int = 1,
    dropout: float = 0.1,
    nL: Optional[int] = None,
) -> Model[QueryT, Floats2d]:
    """Relation-conditioned pointer network over shared token vectors.

    tok2vec (Model[List[Doc], List[Floats2d]]): Token vectors (usually a listener).
    hidden_width (int): Width of the Maxout layers over the conditioned token features.
    depth (int): Residual window layers over each query's conditioned tokens (0: none).
    window_size (int): Tokens on each side seen by one window layer.
    dropout (float): Dropout of the Maxout layers.
    nL (Optional[int]): Number of relation labels; set by the component at initialize.
    RETURNS (Model[Tuple[List[Doc], Ints2d], Floats2d]): For the query rows
        (doc index, start, end, label index), one row of 4 pointer logits per query
        token, query after query.
    """

    def maxout() -> Model[Floats2d, Floats2d]:
        return Maxout(nO=hidden_width, nP=3, dropout=dropout, normalize=True)

    layers = [with_array(maxout())]
    if depth > 0:
        layers.append(clone(residual(chain(expand_window(window_size=window_size), with_array(maxout()))), depth))
    head = chain(*layers, with_array(Linear(nO=N_POINTERS)))
    return Model(
        "span_extractor",
        _extractor_forward,
        init=_extractor_init,
        layers=[tok2vec, head],
        refs={"tok2vec": tok2vec},
        dims={"nL": nL, "nI": None},
        params={"E": None},
    )


def _extractor_init(model: Model, X: Optional[QueryT] = None, Y: Optional[Floats2d] = None) -> None:
    tok2vec, head = model.layers
    if X is not None:
        tok2vec.initialize(X=X[0])
    width = tok2vec.get_dim("nO")
    model.set_dim("nI", width)
    if model.has_dim("nL"):
        embeddings = numpy.random.normal(0.0, 1.0, (model.get_dim("nL"), width)).astype("float32")
        model.set_param("E", model.ops.asarray2f(embeddings))
    head.initialize(X=Ragged(model.ops.alloc2f(1, 3 * width), model.ops.asarray1i([1])))


def query_token_index(queries: Ints2d, doc_lengths: List[int]) -> Tuple[Ints1d, Ints1d]:
    """Rows of the flattened token vectors and label ids for every (query, token).

    queries (Ints2d): (doc index, start, end, label index) per query.
    doc_lengths (List[int]): Tokens per doc.
    RETURNS (Tuple[Ints1d, Ints1d]): Token rows and label ids, query after query.
    """
    offsets = numpy.concatenate([[0], numpy.cumsum(doc_lengths)]).astype("int64")
    rows = [numpy.arange(offsets[d] + s, offsets[d] + e) for d, s, e, _ in queries.tolist()]
    labels = [numpy.full(e - s, lab) for _, s, e, lab in queries.tolist()]
    if not rows:
        return numpy.zeros((0,), dtype="int64"), numpy.zeros((0,), dtype="int64")
    return numpy.concatenate(rows).astype("int64"), numpy.concatenate(labels).astype("int64")


def _extractor_forward(model: Model, X: QueryT, is_train: bool):
    docs, queries = X
    tok2vec, head = model.layers
    ops = model.ops
    tokvecs, bp_tokvecs = tok2vec(docs, is_train)
    width = model.get_dim("nI")
    doc_lengths = [len(doc) for doc in docs]
    flat = ops.flatten(tokvecs) if docs else ops.alloc2f(0, width)
    rows, labels = (ops.asarray1i(a) for a in query_token_index(ops.to_numpy(queries), doc_lengths))
    E = model.get_param("E")
    H, R = flat[rows], E[labels]
    lengths = ops.asarray1i(queries[:, 2] - queries[:, 1])
    Y, bp_head = head(Ragged(ops.xp.hstack([H, R, H * R]), lengths), is_train)

    def backprop(dY: Floats2d) -> List[Floats2d]:
        dF = bp_head(Ragged(dY, lengths)).data
        d_prod = dF[:, 2 * width :]
        d_flat = ops.alloc2f(*flat.shape)
        ops.scatter_add(d_flat, rows, dF[:, :width] + d_prod * R)
        dE = ops.alloc2f(*E.shape)
        ops.scatter_add(dE, labels, dF[:, width : 2 * width] + d_prod * H)
        model.inc_grad("E", dE)
        return bp_tokvecs(ops.unflatten(d_flat, ops.asarray1i(doc_lengths)))

    return Y.data, backprop


@registry.architectures("spacy-relext.SpanExtractor.v2")
def build_span_extractor_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 128,
    depth: int = 1,
    dropout: float = 0.1,
    nL: Optional[int] = None,
) -> Model[QueryT, Floats2d]:
    """Relation-conditioned pointer network that reads the whole sentence.

    For each query (doc, sentence, relation) every sentence token gets the features
    `[x_t; e_r; x_t * e_r]` (its projected vector, a learned relation embedding and
    their product), then a BiLSTM runs over the query's tokens, one sequence per
    query, all queries of the batch in one packed call. The relation embedding then
    queries the BiLSTM states (one attention head): the weighted sum is a summary of
    the sentence for that relation, and each token's pointer head reads
    `[h_t; s_r; h_t * s_r]`. Conditioning on the relation before reading the sentence is
    what makes the context relation-specific: in Xie et al. (2021, section 4.2) every
    context token attends to the relation text of the query, so which person is the
    subject of `Work_For` can come from a cue anywhere in the sentence. v1's window
    layers cannot see beyond about +-6 tokens.

    Why this design on CPU: the BiLSTM keeps word order (which of two mentions comes
    first, the cue of "the former ...") without position embeddings, and the
    relation-queried summary gives every pointer a one-hop path to any token (a BiLSTM's
    path fades with distance: on a dozen filler tokens it alone did not learn the cue).
    Both cost time linear in the sentence length, unlike self-attention's square;
    CoNLL04 sentences have ~30 tokens, so the BiLSTM's sequential steps are few and the
    batch of queries fills them. The token vectors stay those of the shared `tok2vec`
    (listeners, `replace_listeners`).

    tok2vec (Model[List[Doc], List[Floats2d]]): Token vectors (usually a listener).
    hidden_width (int): Width of the conditioned features and of the BiLSTM output
        (half per direction; even).
    depth (int): BiLSTM layers (>= 1).
    dropout (float): Dropout of the features, between BiLSTM layers and before the head;
        in training the component's update sets it to the training `dropout`.
    nL (Optional[int]): Number of relation labels; set by the component at initialize.
    RETURNS (Model[Tuple[List[Doc], Ints2d], Floats2d]): Same input and output as
        `spacy-relext.SpanExtractor.v1`.
    """
    if hidden_width < 2 or hidden_width % 2 or depth < 1:
        raise ValueError(Errors.E230.format(width=hidden_width, depth=depth))
    pointers = PyTorchWrapper_v3(
        None,
        convert_inputs=_sentence_pointer_inputs,
        serialize_model=_serialize_sentence_module,
        deserialize_model=functools.partial(_deserialize_sentence_module, dropout=dropout),
    )
    return Model(
        "sentence_span_extractor",
        _sentence_extractor_forward,
        init=_sentence_extractor_init,
        layers=[tok2vec, pointers],
        refs={"tok2vec": tok2vec, "pointers": pointers},
        dims={"nL": nL, "nI": None},
        # "dropout_rate": the component's update sets it to the training dropout
        # (thinc's set_dropout_rate), as it does for v1's Maxout layers.
        attrs={"hidden_width": hidden_width, "depth": depth, "dropout_rate": dropout},
    )


def _sentence_extractor_init(model: Model, X: Optional[QueryT] = None, Y: Optional[Floats2d] = None) -> None:
    from .pytorch_sentence_pointer import SentencePointerModule

    tok2vec = model.get_ref("tok2vec")
    if X is not None:
        tok2vec.initialize(X=X[0])
    model.set_dim("nI", tok2vec.get_dim("nO"))
    if not model.has_dim("nL"):
        raise ValueError(Errors.E231.format(name=model.name))
    attrs = model.attrs
    model.get_ref("pointers").shims[0]._model = SentencePointerModule(
        model.get_dim("nI"), model.get_dim("nL"), attrs["hidden_width"], attrs["depth"], attrs["dropout_rate"]
    )


def sentence_query_index(queries: numpy.ndarray, doc_lengths: List[int]) -> Tuple[numpy.ndarray, ...]:
    """The queries that have tokens, as padded rows into the flattened token vectors.

    queries (numpy.ndarray): (doc index, start, end, label index) per query.
    doc_lengths (List[int]): Tokens per doc.
    RETURNS (Tuple[numpy.ndarray, ...]): Rows (n, max_length) padded with 0, lengths (n,)
        and label ids (n,) of the n queries with at least one token, in query order
        (a query without tokens has no output rows).
    """
    queries = queries[queries[:, 2] > queries[:, 1]]
    offsets = numpy.concatenate([[0], numpy.cumsum(doc_lengths)]).astype("int64")
    lengths = (queries[:, 2] - queries[:, 1]).astype("int64")
    rows = numpy.zeros((len(queries), int(lengths.max(initial=1))), dtype="int64")
    for q, (d, start, end, _) in enumerate(queries.tolist()):
        rows[q, : end - start] = numpy.arange(offsets[d] + start, offsets[d] + end)
    return rows, lengths, queries[:, 3].astype("int64")


def _sentence_extractor_forward(model: Model, X: QueryT, is_train: bool):
    docs, queries = X
    ops = model.ops
    tokvecs, bp_tokvecs = model.get_ref("tok2vec")(docs, is_train)
    doc_lengths = [len(doc) for doc in docs]
    flat = ops.flatten(tokvecs) if docs else ops.alloc2f(0, model.get_dim("nI"))
    rows, lengths, labels = sentence_query_index(ops.to_numpy(queries).reshape((-1, 4)), doc_lengths)
    if not len(lengths):

        def backprop_empty(dY: Floats2d) -> List[Floats2d]:
            return bp_tokvecs([ops.alloc2f(*vecs.shape) for vecs in tokvecs])

        return ops.alloc2f(0, N_POINTERS), backprop_empty
    pointers = model.get_ref("pointers")
    pointers.shims[0]._model.set_dropout(model.attrs["dropout_rate"])
    Y, bp_pointers = pointers((flat, rows, lengths, labels), is_train)

    def backprop(dY: Floats2d) -> List[Floats2d]:
        return bp_tokvecs(ops.unflatten(bp_pointers(dY), ops.asarray1i(doc_lengths)))

    return Y, backprop


def _sentence_pointer_inputs(model: Model, inputs: Tuple, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    import torch

    flat, rows, lengths, labels = inputs
    args = (
        xp2torch(flat, requires_grad=is_train),
        xp2torch(model.ops.asarray(rows)),
        torch.as_tensor(lengths, dtype=torch.int64),  # pack_padded_sequence wants them on the CPU
        xp2torch(model.ops.asarray(labels)),
    )

    def backprop(d_args: ArgsKwargs) -> Floats2d:
        return torch2xp(d_args.args[0])

    return ArgsKwargs(args=args, kwargs={}), backprop


def _serialize_sentence_module(module: Any) -> bytes:
    # The module's dims go with its weights, so a pipeline rebuilt from its config (the
    # module not yet built: nI and nL come from initialize) can rebuild it before loading.
    import torch

    state = io.BytesIO()
    torch.save(module.state_dict(), state)
    return srsly.msgpack_dumps({"dims": module.settings(), "state": state.getvalue()})


def _deserialize_sentence_module(module: Any, data: bytes, device: Any, *, dropout: float) -> Any:
    from .pytorch_sentence_pointer import SentencePointerModule

    msg = srsly.msgpack_loads(data)
    if module is None:
        dims = msg["dims"]
        module = SentencePointerModule(dims["nI"], dims["nL"], dims["hidden_width"], dims["depth"], dropout)
    module.load_state_dict(load_state(msg["state"], device))
    return module.to(device)


@registry.architectures("spacy-relext.QuerySpanExtractor.v1")
def build_query_span_extractor(
    encoder: str,
    max_length: int = 128,
    frozen_layers: int = 3,
    readable_queries: bool = True,
    dropout: float = 0.1,
    nL: Optional[int] = None,
) -> Model[QueryT, Floats2d]:
    """RERE's query mode: one encoder pass per query over
    `[CLS] relation text [SEP] sentence [SEP]` (segment ids 0 and 1), with four pointer
    logits read from the first wordpiece of each sentence token.

    The relation texts are the component's labels, which it stores in
    `model.attrs["labels"]` at initialize (serialized with the model).

    encoder (str): Local Hugging Face model directory (e.g. from
        `spacy-relext.installed_encoder.v1`), read at initialization only: the
        fine-tuned weights, the encoder config and the tokenizer are saved with the
        pipeline.
    max_length (int): Longest encoder input, in wordpieces; a longer sentence is read
        in overlapping windows (never truncated).
    frozen_layers (int): Transformer layers (after the embeddings) kept frozen.
    readable_queries (bool): Query with readable label text ("OrgBased_In" ->
        "org based in", "/people/person/place_lived" -> "people person place lived").
    dropout (float): Dropout before the pointer layer.
    nL (Optional[int]): Number of relation labels; set by the component at initialize.
    RETURNS (Model[Tuple[List[Doc], Ints2d], Floats2d]): Same input and output as
        `spacy-relext.SpanExtractor.v1`.
    """
    module = PyTorchWrapper_v3(
        None,
        convert_inputs=_no_input_grads,
        serialize_model=_serialize_query_module,
        deserialize_model=functools.partial(
            _deserialize_query_module, encoder_path=encoder, frozen_layers=frozen_layers, dropout=dropout
        ),
    )

    def init(model: Model, X: Optional[QueryT] = None, Y: Optional[Floats2d] = None) -> None:
        from .pytorch_query_pointer import QueryPointerModule

        tokenizer, encoder_module = load_encoder(encoder, pooling_layer=True)
        model.get_ref("encoder").shims[0]._model = QueryPointerModule(encoder_module, tokenizer, frozen_layers, dropout)

    def forward(model: Model, X: QueryT, is_train: bool):
        docs, queries = X
        tokenizer = model.get_ref("encoder").shims[0]._model.tokenizer
        rows = model.ops.to_numpy(queries).tolist()
        texts, words, gathers, offset = [], [], [], 0
        # A sentence longer than the encoder input is read in overlapping windows; each
        # token's logits come from the window where it has the most context.
        for d, start, end, label in rows:
            text = query_text(model.attrs["labels"][label], readable_queries)
            sentence = [token.text for token in docs[d][start:end]]
            budget = max_length - 3 - len(tokenizer(text, add_special_tokens=False)["input_ids"])
            windows = query_windows(word_piece_counts(tokenizer, sentence), budget)
            best = central_window(windows, len(sentence))
            first = [offset + sum(b - a for a, b in windows[:w]) for w in range(len(windows))]
            gathers.append([first[w] + t - windows[w][0] for t, w in enumerate(best)])
            offset += sum(b - a for a, b in windows)
            for a, b in windows:
                texts.append([text])
                words.append(sentence[a:b])
        batch = tokenizer(
            texts,
            words,
            is_split_into_words=True,
            truncation="only_second",
            max_length=max_length,
            padding=True,
            return_tensors="np",
        )
        pieces = first_wordpieces(batch, [len(w) for w in words])
        gather = pieces[numpy.asarray([i for g in gathers for i in g], dtype="int64")]
        inputs = [batch[key] for key in ("input_ids", "attention_mask", "token_type_ids")] + [gather]
        return model.layers[0](inputs, is_train)

    return Model(
        "query_span_extractor",
        forward,
        init=init,
        layers=[module],
        refs={"encoder": module},
        attrs={"labels": []},
        dims={"nL": nL},
    )


def _serialize_query_module(module: Any) -> bytes:
    return encoder_bytes(module, module.encoder, module.tokenizer)


def _deserialize_query_module(
    _: Any, data: bytes, device: Any, *, encoder_path: str, frozen_layers: int, dropout: float
) -> Any:
    """Rebuild the module from `_serialize_query_module`'s bytes, without the encoder
    directory. Pipelines saved before that format hold the weights alone: for them the
    encoder and tokenizer are read from `encoder_path` again, as they were then."""
    from .pytorch_query_pointer import QueryPointerModule

    try:
        tokenizer, encoder, msg = encoder_from_bytes(data, pooling_layer=True)
        state = msg["state"]
    except (ValueError, TypeError, KeyError):  # not msgpack: a plain torch state dict
        tokenizer, encoder = load_encoder(encoder_path, pooling_layer=True)
        state = data
    module = QueryPointerModule(encoder, tokenizer, frozen_layers, dropout)
    module.load_state_dict(load_state(state, device))
    return module.to(device)


def query_text(label: str, readable: bool) -> str:
    """The query string of a relation label, verbatim or readable.

    label (str): The relation label.
    readable (bool): Split CamelCase, "_", "/", "-" and "." into lower-cased words.
    RETURNS (str): The query text.
    """
    if not readable:
        return label
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", label)
    return " ".join(re.split(r"[\s_/.\-]+", spaced)).strip().lower() or label


def word_piece_counts(tokenizer: Any, words: List[str]) -> List[int]:
    """Wordpieces of each word (0 for whitespace tokens)."""
    if not words:
        return []
    counts = [0] * len(words)
    for word in tokenizer(words, is_split_into_words=True, add_special_tokens=False).word_ids():
        if word is not None:
            counts[word] += 1
    return counts


def query_windows(pieces: List[int], budget: int) -> List[Tuple[int, int]]:
    """Token windows `[a, b)` of a sentence whose wordpieces fit in `budget`, each
    starting halfway through the previous one, so a long sentence is read in full.

    pieces (List[int]): Wordpieces per token.
    budget (int): Wordpieces per window (a single longer token is cut by the tokenizer).
    RETURNS (List[Tuple[int, int]]): The windows, in order; `[(0, 0)]` for no tokens.
    """
    windows, start = [], 0
    while True:
        end, used = start, 0
        while end < len(pieces) and used + pieces[end] <= budget:
            used += pieces[end]
            end += 1
        end = max(end, min(start + 1, len(pieces)))
        windows.append((start, end))
        if end >= len(pieces):
            return windows
        start = max(start + 1, (start + end) // 2)


def central_window(windows: List[Tuple[int, int]], n_tokens: int) -> List[int]:
    """For each token, the window in which it is farthest from a window edge."""
    best = []
    for t in range(n_tokens):
        margins = [min(t - a, b - 1 - t) if a <= t < b else -1 for a, b in windows]
        best.append(margins.index(max(margins)))
    return best


def first_wordpieces(batch: Any, n_words: List[int]) -> numpy.ndarray:
    """Position of each sentence word's first wordpiece in the flattened batch.

    batch (BatchEncoding): A fast-tokenizer batch of (query, sentence words) pairs.
    n_words (List[int]): Sentence words per pair.
    RETURNS (numpy.ndarray): One int per word, pair after pair; -1 for words with no
        wordpiece (truncated, or whitespace).
    """
    seq_len = batch["input_ids"].shape[1]
    gather = []
    for i, n in enumerate(n_words):
        first: Dict[int, int] = {}
        for position, (word, segment) in enumerate(zip(batch.word_ids(i), batch.sequence_ids(i))):
            if segment == 1 and word is not None and word not in first:
                first[word] = i * seq_len + position
        gather.extend(first.get(w, -1) for w in range(n))
    return numpy.asarray(gather, dtype="int64")


def _no_input_grads(model: Model, inputs: List[numpy.ndarray], is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    args = tuple(xp2torch(model.ops.asarray(array)) for array in inputs)
    return ArgsKwargs(args=args, kwargs={}), lambda d_inputs: []
