"""Thinc side of `logic_reasoner`: the rule generator and relation extractor
(`pytorch_logic_rules.LogicRuleModule`) as a registered Thinc model.

`spacy-relext.LogicRules.v1` holds the sizes of the module (Ru et al., 2021, "Learning
Logic Rules for Document-level Relation Extraction", section 3: the rule generator is a
sequence model over relation channels, the relation extractor a per-query linear model
over rule scores). The parts that depend on the data (entity types, relations and the
type-valid signatures) are the dims `n_types`, `n_relations` and `n_signatures`, set by
the pipe's `initialize` (or from its saved `cfg` before its weights are loaded); the
model's `initialize` then builds the torch module. Input: rule features `[P, K]` and
signature ids `[P]`; output: logits `[P]`.
"""
from typing import Any, Callable, Tuple

from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchShim, xp2torch
from thinc.layers.pytorchwrapper import convert_pytorch_default_outputs
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from thinc.types import Floats1d, Floats2d, Ints1d

from ..errors import Errors
from ..torch_io import deserialize_weights_only
from .pytorch_logic_rules import LogicRuleModule, RuleExtractor, RuleGenerator

InT = Tuple[Floats2d, Ints1d]
SIZES = ("n_rules", "rule_length", "generator_width", "generator_depth", "generator_heads", "generator_ffn_width")
SHAPE_DIMS = ("n_types", "n_relations", "n_signatures")


@registry.architectures("spacy-relext.LogicRules.v1")
def build_logic_rules(
    n_rules: int = 50,
    rule_length: int = 3,
    generator_width: int = 256,
    generator_depth: int = 2,
    generator_heads: int = 4,
    generator_ffn_width: int = 2048,
) -> Model[InT, Floats1d]:
    """The LogiRE rule model: a Transformer rule generator and a per-signature linear
    relation extractor over rule scores (Ru et al., 2021, section 3).

    n_rules (int): Rule slots per signature: bodies sampled per signature (deduplicated).
    rule_length (int): Body length (shorter rules are padded with the identity).
    generator_width (int): Generator width.
    generator_depth (int): Generator encoder and decoder layers (each).
    generator_heads (int): Generator attention heads.
    generator_ffn_width (int): Generator feed-forward width.
    RETURNS (Model[Tuple[Floats2d, Ints1d], Floats1d]): The model; its dims `n_types`,
        `n_relations` and `n_signatures` must be set before `initialize`.
    """
    sizes = dict(n_rules=n_rules, rule_length=rule_length, generator_width=generator_width,
                 generator_depth=generator_depth, generator_heads=generator_heads,
                 generator_ffn_width=generator_ffn_width)
    check_sizes(**sizes)
    # Named "pytorch" with one shim, as thinc's PyTorchWrapper: pipelines saved before
    # this architecture existed hold exactly that node, so they load into it.
    return Model(
        "pytorch",
        pytorch_forward,
        init=init_logic_rules,
        attrs={"convert_inputs": _convert_inputs, "convert_outputs": convert_pytorch_default_outputs, **sizes},
        shims=[_shim(_placeholder_module())],
        dims={"nI": None, "nO": None, **{dim: None for dim in SHAPE_DIMS}},
    )


def check_sizes(*, n_rules: int, rule_length: int, generator_width: int, generator_depth: int,
                generator_heads: int, generator_ffn_width: int) -> None:
    """Raise E701 for sizes that cannot build a module."""
    if min(n_rules, rule_length, generator_width, generator_depth, generator_heads, generator_ffn_width) < 1 or (
        generator_width % generator_heads
    ):
        raise ValueError(
            Errors.E701.format(n_rules=n_rules, length=rule_length, width=generator_width, heads=generator_heads,
                               depth=generator_depth)
        )


def init_logic_rules(model: Model, X: Any = None, Y: Any = None) -> Model:
    """Build the torch module for the dims `n_types`, `n_relations` and `n_signatures`
    and the sizes in the model's attrs (fresh weights, in eval mode)."""
    attrs = model.attrs
    check_sizes(**{name: attrs[name] for name in SIZES})
    generator = RuleGenerator(
        max(1, model.get_dim("n_types")),
        max(1, model.get_dim("n_relations")),
        length=attrs["rule_length"],
        width=attrs["generator_width"],
        depth=attrs["generator_depth"],
        n_heads=attrs["generator_heads"],
        ffn_width=attrs["generator_ffn_width"],
    )
    extractor = RuleExtractor(model.get_dim("n_signatures"), attrs["n_rules"], attrs["rule_length"])
    module = LogicRuleModule(generator, extractor)
    module.eval()
    model.shims[0] = _shim(module)
    return model


def logic_module(model: Model) -> LogicRuleModule:
    """RETURNS (LogicRuleModule): The torch generator and extractor of the model."""
    return model.shims[0]._model


def _shim(module: LogicRuleModule) -> PyTorchShim:
    return PyTorchShim(module, deserialize_model=deserialize_weights_only)


def _placeholder_module() -> LogicRuleModule:
    """A tiny stand-in until `initialize` knows the shape."""
    return LogicRuleModule(RuleGenerator(1, 1, width=8, n_heads=2, ffn_width=8, depth=1), RuleExtractor(0, 1, 1))


def _convert_inputs(model: Model, X: InT, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    # The features are constants (the backbone is frozen), so no input gradient. A
    # module-level function: the pipeline is pickled for nlp.pipe(n_process=2) (spawn).
    feats, signatures = X
    return ArgsKwargs(args=(xp2torch(feats), xp2torch(signatures)), kwargs={}), lambda d_inputs: None
