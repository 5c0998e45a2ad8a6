"""Loading torch weights without unpickling code.

`torch.load` unpickles arbitrary objects unless `weights_only=True`. That is its default
only from torch 2.6 (the package allows torch >= 2.1), and `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`
switches the default off again, and thinc's PyTorchWrapper and spacy-transformers'
`transformer` component rely on the default. So every torch module of a spacy-relext
component is loaded through `load_state`, which passes `weights_only=True` explicitly,
and the registered `[nlp] after_pipeline_creation` callback
`spacy-relext.weights_only_loading.v1` puts the same check in front of the torch weights
of the pipeline's other components (the `transformer` of the `*_trf` configs) before
spaCy loads them.
"""
import io
import pickle
from typing import Any, Callable, Dict

import srsly
import torch
from spacy.language import Language
from spacy.util import registry
from thinc.api import PyTorchShim

from .errors import Errors, UnsafeWeightsError


def load_state(data: bytes, device: Any = "cpu") -> Dict[str, torch.Tensor]:
    """A state dict saved with `torch.save`, read with `weights_only=True`.

    data (bytes): The output of `torch.save`.
    device (Any): Where the tensors go.
    RETURNS (Dict[str, torch.Tensor]): The state dict.
    RAISES UnsafeWeightsError: The data holds something other than plain tensors.
    """
    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:  # what torch's weights-only unpickler raises
        raise UnsafeWeightsError(_refusal_reason(e)) from None


def _refusal_reason(error: Exception) -> str:
    """The sentence of torch's weights-only message that says what it refused (torch 2.13:
    "Trying to load unsupported GLOBAL posix.system whose module posix is blocked"; earlier:
    "Unsupported global: GLOBAL posix.system was not an allowed global by default"), without
    the message's advice to load again with weights_only=False or to allow the global."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        reason = text.split("WeightsUnpickler error:", 1)[1]
    else:
        advice = ("Weights only load failed", "Check the documentation")
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        reason = next((p for p in paragraphs if not p.startswith(advice)), text or type(error).__name__)
    return reason.strip().split(". ")[0].splitlines()[0].rstrip(".")


def deserialize_weights_only(module: torch.nn.Module, data: bytes, device: Any) -> torch.nn.Module:
    """`deserialize_model` for PyTorchWrapper_v3: thinc's default, but weights only."""
    module.load_state_dict(load_state(data, device))
    return module.to(device)


@registry.callbacks("spacy-relext.weights_only_loading.v1")
def make_weights_only_loading() -> Callable[[Language], Language]:
    """An `[nlp] after_pipeline_creation` callback that makes a pipeline refuse pickled
    code in the torch weights of every component, not only spacy-relext's: the `transformer`
    of spacy-transformers loads its weights with torch's default, which
    `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1` (or a torch older than 2.6) makes unsafe. spaCy runs
    the callback at `spacy.load` before the components load their weights, because the
    pipeline's saved config names it (the `*_trf` configs do); loading then raises E412
    instead of running the code.

    RETURNS (Callable[[Language], Language]): The callback.
    """
    return guard_torch_weights


def guard_torch_weights(nlp: Language) -> Language:
    """Check the torch weights of the pipeline's PyTorch shims with `weights_only=True`
    before the shims load them. spacy-relext components load their own modules through
    `load_state` already; the spacy-transformers encoders they hold after
    `replace_listeners` are checked like any other.

    nlp (Language): The pipeline, created but not loaded yet.
    RETURNS (Language): The same pipeline.
    """
    from .relation_pipe import RelationPipe

    for name, component in nlp.components:
        model = getattr(component, "model", None)
        if not hasattr(model, "walk"):
            continue
        ours = isinstance(component, RelationPipe)
        for node in model.walk():
            for shim in node.shims:
                if isinstance(shim, PyTorchShim) and not (ours and type(shim) is PyTorchShim):
                    if not isinstance(shim.__dict__.get("from_bytes"), WeightsOnlyFromBytes):
                        shim.from_bytes = WeightsOnlyFromBytes(shim, name)
    return nlp


class WeightsOnlyFromBytes:
    """A PyTorch shim's `from_bytes` (the one door by which thinc hands a shim its saved
    weights, from disk or from bytes) with the weights-only check in front.

    A plain object rather than a closure, so that the guarded shim still pickles
    (`nlp.pipe(n_process=2)` under spawn) and `copy.deepcopy` (`shim.copy()`) gives the
    copy a guard of its own.
    """

    def __init__(self, shim: PyTorchShim, component: str) -> None:
        self.shim = shim
        self.component = component

    def __call__(self, data: bytes) -> Any:
        check_shim_weights(data, self.component)
        return type(self.shim).from_bytes(self.shim, data)


def check_shim_weights(data: bytes, component: str) -> None:
    """Raise E412 when torch's weights-only unpickler refuses the state in a PyTorch
    shim's bytes (thinc's and spacy-transformers' shims save msgpack with the `torch.save`
    output under "state"). Bytes that are not of that layout, or that torch cannot open
    at all (a truncated archive: nothing is unpickled from it), are left to the shim's own
    loader, which reports them as it always did.

    data (bytes): The shim's saved bytes.
    component (str): The component's name, for the message.
    """
    try:
        msg = srsly.msgpack_loads(data)
        state = msg.get("state") if isinstance(msg, dict) else None
        if isinstance(state, bytes) and state:
            load_state(state)
    except UnsafeWeightsError as e:
        where = f"'{component}/model' in the pipeline directory, or its bytes"
        raise ValueError(Errors.E412.format(name=component, where=where, reason=e)) from None
    except Exception:  # not the layout above: the shim's own loader reports it
        return
