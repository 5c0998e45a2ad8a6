"""A document-level pair classifier for `rationale_masker` with `pair_level = "cluster"`:
every pair of entities of a document is scored across sentences, from entity vectors
pooled over all their mentions and a context pooled for the pair over the whole
document, with a grouped bilinear classifier and the adaptive-threshold output (ATLOP:
Zhou et al. 2021, "Document-Level Relation Extraction with Adaptive Thresholding and
Localized Context Pooling"). It selects no rationale: it is the document-level backbone
a `logic_reasoner` reads (LogiRE, Ru et al. 2021, trains its rules over ATLOP).

The model takes the component's input, (Docs, PairRegions), and returns its output,
(logits, masks), with masks of width 0: the pair regions are not read, and relations
are written without a rationale. Long documents need no windowing here: a CNN tok2vec
reads any length, and the transformer configs read a document in overlapping windows
(spacy-transformers' strided spans) whose token vectors are stitched before this model
sees them.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, torch2xp, xp2torch
from thinc.types import Floats2d

from ..errors import Errors
from ..torch_io import deserialize_weights_only
from .architectures import InT, OutT, PairRegion, flat_token_vectors, init_then_build

MODEL_NAME = "document_pair_classifier"


@registry.architectures("spacy-relext.DocumentPairClassifier.v1")
def build_document_pair_classifier(
    tok2vec: Model[List[Doc], List[Floats2d]],
    *,
    hidden_width: int = 256,
    block_size: int = 32,
    document_lstm: bool = True,
    context_heads: int = 4,
    dropout: float = 0.1,
    nO: Optional[int] = None,
) -> Model[InT, OutT]:
    """Score pairs of entity clusters over whole documents (ATLOP-style).

    tok2vec (Model[List[Doc], List[Floats2d]]): Token vectors (a listener in configs).
    hidden_width (int): Width of the head and tail representations.
    block_size (int): Block size of the grouped bilinear; divides `hidden_width`.
    document_lstm (bool): A residual BiLSTM over windows of 128 tokens before pooling
        (for a local tok2vec; the transformer configs turn it off).
    context_heads (int): Attention heads of the localized context pooling (a pair's
        context: the tokens both entities attend to); 0 turns the context off.
    dropout (float): Dropout on the pair representations.
    nO (Optional[int]): Classes, the threshold class included; set by the component.
    RETURNS (Model[InT, OutT]): Logits per pair, and (P, 0) masks.
    """
    if hidden_width < 1 or block_size < 1 or hidden_width % block_size or context_heads < 0 \
            or not 0.0 <= dropout < 1.0:
        raise ValueError(Errors.E505.format(hidden_width=hidden_width, block_size=block_size,
                                            context_heads=context_heads, dropout=dropout))
    return Model(
        MODEL_NAME,
        forward,
        init=init,
        layers=[tok2vec],
        refs={"tok2vec": tok2vec},
        dims={"nI": None, "nO": nO},
        attrs={"hidden_width": hidden_width, "block_size": block_size, "document_lstm": document_lstm,
               "context_heads": context_heads, "dropout": dropout},
    )


def init(model: Model[InT, OutT], X: Optional[InT] = None, Y: Optional[OutT] = None) -> None:
    init_then_build(model, X, build_classifier)


def build_classifier(model: Model[InT, OutT]) -> None:
    """Create the PyTorch layer once `nI` and `nO` are known (also before loading the
    weights into a model rebuilt from config). Does nothing if it already exists."""
    if model.has_ref("classifier"):
        return
    from .pytorch_document_pairs import DocumentPairModule

    width, attrs = model.get_dim("nI"), model.attrs
    if attrs["context_heads"] and width % attrs["context_heads"]:
        raise ValueError(Errors.E506.format(width=width, heads=attrs["context_heads"]))
    module = DocumentPairModule(
        width, model.get_dim("nO"), hidden_width=attrs["hidden_width"], block_size=attrs["block_size"],
        document_lstm=attrs["document_lstm"], context_heads=attrs["context_heads"], dropout=attrs["dropout"],
    )
    layer = PyTorchWrapper_v3(
        module, convert_inputs=_convert_inputs, convert_outputs=_convert_outputs,
        deserialize_model=deserialize_weights_only,
    )
    model.layers.append(layer)
    model.set_ref("classifier", layer)


def forward(model: Model[InT, OutT], inputs: InT, is_train: bool) -> Tuple[OutT, Callable]:
    docs, regions = inputs
    ops = model.ops
    flat, lengths, backprop_flat = flat_token_vectors(model, docs, is_train)
    n_pairs = len(regions)
    no_masks = ops.alloc2f(n_pairs, 0)
    if n_pairs == 0:

        def backprop_empty(d_logits: Floats2d) -> List[Floats2d]:
            return backprop_flat(ops.alloc2f(*flat.shape))

        return (ops.alloc2f(0, model.get_dim("nO")), no_masks), backprop_empty
    # The module reads the pairs grouped by document; the component lists them so.
    order = numpy.argsort([pair.doc_index for pair in regions.pairs], kind="stable")
    index = document_pair_index([regions.pairs[p] for p in order], lengths)
    sorted_logits, backprop_classifier = model.get_ref("classifier")((flat, *map(ops.asarray, index)), is_train)
    logits = ops.alloc2f(*sorted_logits.shape)
    logits[ops.asarray(order)] = sorted_logits

    def backprop(d_logits: Floats2d) -> List[Floats2d]:
        return backprop_flat(backprop_classifier(d_logits[ops.asarray(order)]))

    return (logits, no_masks), backprop


def document_pair_index(pairs: Sequence[PairRegion], lengths: Sequence[int]) -> Tuple[numpy.ndarray, ...]:
    """The module's index arrays for pairs grouped by document (see
    `DocumentPairModule.forward`): token offsets, mentions, entities (an entity is a
    pair argument's set of mentions) and pairs, each with per-document offsets."""
    n_docs = len(lengths)
    doc_offsets = numpy.concatenate([[0], numpy.cumsum(lengths)]).astype("int64")
    mention_ids: Dict[Tuple[int, int, int], int] = {}
    entity_ids: Dict[Tuple[int, Tuple], int] = {}
    entity_members: List[List[int]] = []
    mention_counts, entity_counts, pair_counts = [numpy.zeros(n_docs, dtype="int64") for _ in range(3)]
    heads, tails = [], []
    for pair in pairs:
        d = pair.doc_index
        pair_counts[d] += 1
        ids = []
        for mentions in (pair.heads, pair.tails):
            key = (d, tuple(mentions))
            if key not in entity_ids:
                entity_ids[key] = len(entity_ids)
                entity_counts[d] += 1
                members = []
                for start, end in mentions:
                    if (d, start, end) not in mention_ids:
                        mention_ids[(d, start, end)] = len(mention_ids)
                        mention_counts[d] += 1
                    members.append(mention_ids[(d, start, end)])
                entity_members.append(members)
            ids.append(entity_ids[key])
        heads.append(ids[0])
        tails.append(ids[1])
    width = max(end - start for _, start, end in mention_ids)
    mention_rows = numpy.zeros((len(mention_ids), max(1, width)), dtype="int64")
    mention_weights = numpy.zeros(mention_rows.shape, dtype="float32")
    for (d, start, end), m in mention_ids.items():
        mention_rows[m, : end - start] = doc_offsets[d] + numpy.arange(start, end)
        mention_weights[m, : end - start] = 1.0 / (end - start)
    most = max(len(members) for members in entity_members)
    entity_mentions = numpy.zeros((len(entity_members), most), dtype="int64")
    entity_valid = numpy.zeros(entity_mentions.shape, dtype="int64")
    for e, members in enumerate(entity_members):
        entity_mentions[e, : len(members)] = members
        entity_valid[e, : len(members)] = 1
    offsets = [numpy.concatenate([[0], numpy.cumsum(counts)]).astype("int64")
               for counts in (mention_counts, entity_counts, pair_counts)]
    return (doc_offsets, mention_rows, mention_weights, offsets[0], entity_mentions, entity_valid, offsets[1],
            numpy.asarray(heads, dtype="int64"), numpy.asarray(tails, dtype="int64"), offsets[2])


def _convert_inputs(model: Model, inputs: Tuple, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    flat, *index = inputs
    args = (xp2torch(flat, requires_grad=is_train), *(xp2torch(array) for array in index))

    def backprop(d_args: ArgsKwargs) -> Floats2d:
        return torch2xp(d_args.args[0])

    return ArgsKwargs(args=args, kwargs={}), backprop


def _convert_outputs(model: Model, inputs_outputs: Tuple, is_train: bool) -> Tuple[Floats2d, Callable]:
    _, logits = inputs_outputs

    def backprop(d_logits: Floats2d) -> ArgsKwargs:
        return ArgsKwargs(args=(logits,), kwargs={"grad_tensors": [xp2torch(d_logits)]})

    return torch2xp(logits), backprop
