"""RE2 model: token vectors from `tok2vec`, then per candidate pair a sparse, contiguous
rationale over the pair's region and a classifier on the masked tokens plus the entity
vectors (RE2 paper, section 2). The maths lives in `pytorch_rationale_masker.py`.
"""
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, torch2xp, xp2torch
from thinc.types import Floats2d

from ..errors import Errors
from ..torch_io import deserialize_weights_only
from .roles import HEAD, ROLES, TAIL

Offsets = Tuple[int, int]  # (start, end) token offsets, end exclusive
MAX_CALL_ELEMENTS = 1 << 23  # pairs x region width^2 per call of the torch module (memory bound)


@dataclass
class PairRegion:
    """One candidate pair: its Doc, the mentions of each argument (one for mention
    pairs, all of a cluster's for entity pairs) and the maskable token region."""

    doc_index: int
    heads: List[Offsets]
    tails: List[Offsets]
    region: Offsets
    head_type: int = 0  # entity type ids for typed role embeddings (0: unknown)
    tail_type: int = 0


@dataclass
class PairRegions:
    """Model input besides the Docs; `temperature` is the training relaxation's."""

    pairs: List[PairRegion] = field(default_factory=list)
    temperature: float = 1.0

    def __len__(self) -> int:
        return len(self.pairs)


InT = Tuple[List[Doc], PairRegions]
OutT = Tuple[Floats2d, Floats2d]  # (P, C) logits, (P, L) rationale masks


@registry.architectures("spacy-relext.RationaleMasker.v2")
def build_rationale_masker_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    *,
    k_ratio: float = 0.6,
    continuity: bool = True,
    token_continuity: bool = False,
    sparsity: bool = True,
    add_entities: bool = True,
    masking: bool = True,
    roles: str = "untyped",
    faithful: bool = False,
    hidden_width: Optional[int] = None,
    dropout: float = 0.1,
    bisection_iters: int = 20,
    implicit_gradient: bool = False,
    perturb: bool = True,
    straight_through: bool = False,
    nO: Optional[int] = None,
) -> Model[InT, OutT]:
    """Classify candidate pairs from a sparse, contiguous rationale (RE2).

    tok2vec (Model[List[Doc], List[Floats2d]]): Token vectors (a listener in configs).
    k_ratio (float): Sparsity budget K = ceil(k_ratio * L), in (0, 1].
    continuity (bool): Continuity factor between adjacent tokens (ablation switch).
    token_continuity (bool): Token-dependent continuity scores instead of one scalar.
    sparsity (bool): Budget factor (ablation switch); K = L when False.
    add_entities (bool): Classify from [rationale; head; tail] instead of the rationale.
    masking (bool): Select rationales at all; False pools every region token (baseline).
    roles (str): How the pair's arguments reach the region's token vectors: "untyped"
        (embeddings of each token's role, head / tail / other, read by a pair-level
        BiLSTM: the counterpart of entity markers, so direction matters), "typed" (the
        same plus the arguments' entity labels), or "none" (the paper's model on
        marker-free vectors: (e1, e2) and (e2, e1) look the same to the mask).
    faithful (bool): The classifier re-reads only the selected tokens (and the
        arguments) with a second BiLSTM, instead of pooling contextual vectors that
        have seen the whole sentence. About doubles the masker's cost.
    hidden_width (Optional[int]): Classifier hidden width; D // 2 when None.
    dropout (float): Dropout in the classifier.
    bisection_iters (int): Bisection steps for the budget multiplier in training.
    implicit_gradient (bool): Exact gradient through the multiplier.
    perturb (bool): Logistic noise on the importance scores in training.
    straight_through (bool): Hard perturbed MAP mask in training, relaxed gradients.
    nO (Optional[int]): Number of classes, the negative class included; set by the component.
    RETURNS (Model[InT, OutT]): Logits per pair and the rationale masks.
    """
    if not 0.0 < k_ratio <= 1.0 or bisection_iters < 1 or not 0.0 <= dropout < 1.0:
        raise ValueError(Errors.E500.format(k_ratio=k_ratio, iters=bisection_iters, dropout=dropout))
    if roles not in ROLES:
        raise ValueError(Errors.E504.format(value=roles, options=ROLES))
    return Model(
        "rationale_masker",
        forward,
        init=init,
        layers=[tok2vec],
        refs={"tok2vec": tok2vec},
        dims={"nI": None, "nO": nO},
        attrs={
            "k_ratio": k_ratio,
            "continuity": continuity,
            "token_continuity": token_continuity,
            "sparsity": sparsity,
            "add_entities": add_entities,
            "masking": masking,
            "roles": roles,
            "faithful": faithful,
            "hidden_width": hidden_width,
            "dropout": dropout,
            "bisection_iters": bisection_iters,
            "implicit_gradient": implicit_gradient,
            "perturb": perturb,
            "straight_through": straight_through,
            "normalise_scores": True,
            "n_entity_types": 0,  # set by the component before the PyTorch layer is built
        },
    )


@registry.architectures("spacy-relext.RationaleMasker.v1")
def build_rationale_masker(
    tok2vec: Model[List[Doc], List[Floats2d]],
    *,
    k_ratio: float = 0.6,
    continuity: bool = True,
    token_continuity: bool = False,
    sparsity: bool = True,
    add_entities: bool = True,
    masking: bool = True,
    hidden_width: Optional[int] = None,
    dropout: float = 0.1,
    bisection_iters: int = 20,
    implicit_gradient: bool = False,
    perturb: bool = True,
    straight_through: bool = False,
    nO: Optional[int] = None,
) -> Model[InT, OutT]:
    """The first RE2 model, kept so that pipelines saved with it load and predict as
    before: no argument roles, importance scores h_i . (h_e1 + h_e2) / sqrt(D) without
    normalisation (they saturate the relaxation: use v2). Arguments as in v2."""
    model = build_rationale_masker_v2(
        tok2vec, k_ratio=k_ratio, continuity=continuity, token_continuity=token_continuity, sparsity=sparsity,
        add_entities=add_entities, masking=masking, roles="none", faithful=False, hidden_width=hidden_width,
        dropout=dropout, bisection_iters=bisection_iters, implicit_gradient=implicit_gradient, perturb=perturb,
        straight_through=straight_through, nO=nO,
    )
    model.attrs["normalise_scores"] = False
    return model


def init(model: Model[InT, OutT], X: Optional[InT] = None, Y: Optional[OutT] = None) -> None:
    init_then_build(model, X, build_masker)


def init_then_build(model: Model[InT, OutT], X: Optional[InT], build: Callable[[Model], None]) -> None:
    """Initialize the token encoder, take its width as `nI`, then `build` the PyTorch layer."""
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X=X[0] if X is not None else None)
    if not model.has_dim("nI") and tok2vec.has_dim("nO"):
        model.set_dim("nI", tok2vec.get_dim("nO"))
    build(model)


def build_masker(model: Model[InT, OutT]) -> None:
    """Create the PyTorch layer once `nI` and `nO` are known (also before loading the
    weights into a model rebuilt from config). Does nothing if it already exists.
    """
    if model.has_ref("masker"):
        return
    from .pytorch_rationale_masker import RationaleMaskerModule

    attrs = model.attrs
    module = RationaleMaskerModule(
        model.get_dim("nI"),
        model.get_dim("nO"),
        **{name: attrs[name] for name in MODULE_OPTIONS},
    )
    masker = PyTorchWrapper_v3(
        module, convert_inputs=_convert_inputs, convert_outputs=_convert_outputs, deserialize_model=deserialize_weights_only
    )
    model.layers.append(masker)
    model.set_ref("masker", masker)


MODULE_OPTIONS = (
    "n_entity_types",
    "normalise_scores",
    "roles",
    "faithful",
    "hidden_width",
    "k_ratio",
    "continuity",
    "token_continuity",
    "sparsity",
    "add_entities",
    "masking",
    "dropout",
    "bisection_iters",
    "implicit_gradient",
    "perturb",
    "straight_through",
)


def flat_token_vectors(
    model: Model, docs: List[Doc], is_train: bool
) -> Tuple[Floats2d, List[int], Callable[[Floats2d], List[Floats2d]]]:
    """The `tok2vec` ref's vectors of `docs` as one (tokens, nI) array, the Docs' lengths,
    and the backprop from a gradient of that array to the tok2vec's per-Doc gradients
    (the preamble of both pair classifiers: RE2's masker and the document-level one)."""
    ops = model.ops
    tokvecs, backprop_tok2vec = model.get_ref("tok2vec")(docs, is_train)
    lengths = [len(doc) for doc in docs]
    flat = ops.flatten(tokvecs) if sum(lengths) else ops.alloc2f(0, model.get_dim("nI"))

    def backprop(d_flat: Floats2d) -> List[Floats2d]:
        return backprop_tok2vec(ops.unflatten(d_flat, ops.asarray1i(lengths)))

    return flat, lengths, backprop


def forward(model: Model[InT, OutT], inputs: InT, is_train: bool) -> Tuple[OutT, Callable]:
    docs, regions = inputs
    ops = model.ops
    flat, lengths, backprop_flat = flat_token_vectors(model, docs, is_train)
    if len(regions) == 0:

        def backprop_empty(d_logits: Floats2d) -> List[Floats2d]:
            return backprop_flat(ops.alloc2f(*flat.shape))

        return (ops.alloc2f(0, model.get_dim("nO")), ops.alloc2f(0, 0)), backprop_empty
    width = max(pair.region[1] - pair.region[0] for pair in regions.pairs)
    chunks = pair_chunks(regions.pairs, MAX_CALL_ELEMENTS)
    all_logits, all_masks, backprops = [], [], []
    for start, end in chunks:
        ints = [ops.asarray(array) for array in pair_index(regions.pairs[start:end], lengths)]
        (logits, masks), backprop_chunk = model.get_ref("masker")((flat, *ints, regions.temperature), is_train)
        all_logits.append(logits)
        all_masks.append(ops.xp.pad(masks, ((0, 0), (0, max(width, 1) - masks.shape[1]))))
        backprops.append(backprop_chunk)

    def backprop(d_logits: Floats2d) -> List[Floats2d]:
        return backprop_flat(sum(bp(d_logits[start:end]) for bp, (start, end) in zip(backprops, chunks)))

    return (ops.xp.concatenate(all_logits), ops.xp.concatenate(all_masks)), backprop


def pair_chunks(pairs: Sequence[PairRegion], max_elements: int) -> List[Tuple[int, int]]:
    """Consecutive runs of pairs whose (pairs x region width x region width) stays
    within `max_elements`: the solver's tensors grow with the square of the region, so
    a long sentence with many entities (200 mentions: 39,800 pairs) is scored in parts
    instead of exhausting memory. A single larger pair is a run of its own."""
    chunks, start, widest = [], 0, 0
    for p, pair in enumerate(pairs):
        width = max(1, pair.region[1] - pair.region[0])
        if p > start and (p - start + 1) * max(widest, width) ** 2 > max_elements:
            chunks.append((start, p))
            start, widest = p, 0
        widest = max(widest, width)
    chunks.append((start, len(pairs)))
    return chunks


def pair_index(pairs: Sequence[PairRegion], lengths: Sequence[int]) -> Tuple[numpy.ndarray, ...]:
    """Rows into the flattened token vectors for each pair's region and arguments.

    RETURNS (Tuple[numpy.ndarray, ...]): region rows (P, L), valid (P, L), each region
        token's role (P, L: OTHER, HEAD, TAIL or BOTH), the arguments' type ids (P,) and
        (P,), head rows and weights (P, M), tail rows and weights (P, M'). Each argument
        vector is the mean over its mentions of the mean of each mention's tokens.
    """
    offsets = numpy.concatenate([[0], numpy.cumsum(lengths)]).astype("int64")
    width = max(pair.region[1] - pair.region[0] for pair in pairs)
    region = numpy.zeros((len(pairs), max(width, 1)), dtype="int64")
    valid = numpy.zeros_like(region)
    roles = numpy.zeros_like(region)
    for p, pair in enumerate(pairs):
        start, end = pair.region
        region[p, : end - start] = offsets[pair.doc_index] + numpy.arange(start, end)
        valid[p, : end - start] = 1
        for role, mentions in ((HEAD, pair.heads), (TAIL, pair.tails)):
            for m_start, m_end in mentions:
                lo, hi = max(m_start, start) - start, min(m_end, end) - start
                if lo < hi:
                    roles[p, lo:hi] |= role  # HEAD | TAIL == BOTH
    types = [numpy.asarray([getattr(pair, f"{arg}_type") for pair in pairs], dtype="int64") for arg in ("head", "tail")]
    heads = _pooling_index(pairs, offsets, "heads")
    tails = _pooling_index(pairs, offsets, "tails")
    return (region, valid, roles, *types, *heads, *tails)


def _pooling_index(
    pairs: Sequence[PairRegion], offsets: numpy.ndarray, arg: str
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    rows_per_pair, weights_per_pair = [], []
    for pair in pairs:
        mentions = getattr(pair, arg)
        rows, weights = [], []
        for start, end in mentions:
            rows.extend(offsets[pair.doc_index] + numpy.arange(start, end))
            weights.extend([1.0 / ((end - start) * len(mentions))] * (end - start))
        rows_per_pair.append(rows)
        weights_per_pair.append(weights)
    width = max(len(rows) for rows in rows_per_pair)
    rows_out = numpy.zeros((len(pairs), width), dtype="int64")
    weights_out = numpy.zeros((len(pairs), width), dtype="float32")
    for p, (rows, weights) in enumerate(zip(rows_per_pair, weights_per_pair)):
        rows_out[p, : len(rows)] = rows
        weights_out[p, : len(weights)] = weights
    return rows_out, weights_out


def _convert_inputs(model: Model, inputs: Tuple, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    flat, *ints, temperature = inputs
    args = (xp2torch(flat, requires_grad=is_train), *(xp2torch(array) for array in ints))

    def backprop(d_args: ArgsKwargs) -> Floats2d:
        return torch2xp(d_args.args[0])

    return ArgsKwargs(args=args, kwargs={"temperature": float(temperature)}), backprop


def _convert_outputs(model: Model, inputs_outputs: Tuple, is_train: bool) -> Tuple[OutT, Callable]:
    _, (logits, masks) = inputs_outputs

    def backprop(d_logits: Floats2d) -> ArgsKwargs:
        return ArgsKwargs(args=(logits,), kwargs={"grad_tensors": [xp2torch(d_logits)]})

    return (torch2xp(logits), torch2xp(masks)), backprop


def classify_with_masks(model: Model[InT, OutT], docs: List[Doc], regions: PairRegions, masks: numpy.ndarray) -> Floats2d:
    """Logits of each pair classified from a given mask over its region instead of the
    mask the model selects (no noise, no dropout). For rationale probes: random or
    least important tokens in place of the rationale.

    masks (numpy.ndarray): (P, L) 0/1 per region token, in `regions` order.
    RETURNS (Floats2d): (P, C) logits.
    """
    import torch

    def run(module, inputs):
        fixed = torch.from_numpy(numpy.asarray(masks, dtype="float32"))[:, : inputs[1].shape[1]]
        return module(*inputs, fixed_mask=fixed)[0]

    return _probe(model, docs, regions, run)


def region_importance(model: Model[InT, OutT], docs: List[Doc], regions: PairRegions) -> Floats2d:
    """(P, L) importance scores of each pair's region tokens (padding: -inf)."""
    return _probe(model, docs, regions, lambda module, inputs: module.importance(*inputs))


def _probe(model: Model[InT, OutT], docs: List[Doc], regions: PairRegions, run: Callable) -> Floats2d:
    """`run(module, inputs)` on the torch module in inference mode, for all pairs at once."""
    import torch

    lengths = [len(doc) for doc in docs]
    flat = model.ops.to_numpy(model.ops.flatten(model.get_ref("tok2vec").predict(docs)))
    module = model.get_ref("masker").shims[0]._model
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            inputs = [torch.from_numpy(flat)]
            inputs += [torch.from_numpy(numpy.asarray(array)) for array in pair_index(regions.pairs, lengths)]
            output = run(module, inputs)
    finally:
        module.train(was_training)
    return model.ops.asarray2f(output.numpy())
