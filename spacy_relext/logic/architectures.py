"""Thinc side of `logic_reasoner`: the rule generator and relation extractor
(`pytorch_logic_rules.LogicRuleModule`) wrapped as a Thinc model."""
from typing import Callable, Tuple

from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, xp2torch
from thinc.types import Floats1d, Floats2d, Ints1d

from ..torch_io import deserialize_weights_only
from .pytorch_logic_rules import LogicRuleModule


def rule_model(module: LogicRuleModule) -> Model[Tuple[Floats2d, Ints1d], Floats1d]:
    """Wrap the torch module: input (rule features, signature ids), output logits."""
    return PyTorchWrapper_v3(module, convert_inputs=_convert_inputs, deserialize_model=deserialize_weights_only)


def _convert_inputs(model: Model, X: Tuple[Floats2d, Ints1d], is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    # The features are constants (the backbone is frozen), so no input gradient. A
    # module-level function: the pipeline is pickled for nlp.pipe(n_process=2) (spawn).
    feats, signatures = X
    return ArgsKwargs(args=(xp2torch(feats), xp2torch(signatures)), kwargs={}), lambda d_inputs: None
