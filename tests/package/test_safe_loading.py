"""Saved pipelines load no pickled code: torch weights are read with weights_only=True
(or as safetensors by transformers), and nothing in the package unpickles."""
import io
import pickle
import re
from pathlib import Path

import pytest
import torch

import spacy_relext
from spacy_relext.errors import UnsafeWeightsError
from spacy_relext.torch_io import deserialize_weights_only, load_state

PACKAGE = Path(spacy_relext.__file__).parent
UNSAFE = [
    (r"\bpickle\.loads?\(|\bsrsly\.pickle_loads\(|\bcloudpickle\b|\bdill\b", "unpickles"),
    (r"PyTorchWrapper(_v2)?\(", "loads weights with thinc's default torch.load (not weights_only)"),
    (r"trust_remote_code\s*=\s*True", "runs code from a model directory"),
]


class Payload:
    """Unpickling this runs `touch <path>`: what a tampered model file could do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_package_source_has_no_unsafe_loading():
    problems = []
    for path in sources():
        text = path.read_text(encoding="utf8")
        for call in re.finditer(r"torch\.load\(", text):
            args = text[call.end() : text.find("\n", call.end())]
            if "weights_only=True" not in args:
                problems.append(f"{path.name}: torch.load without weights_only=True")
        for pattern, why in UNSAFE:
            problems += [f"{path.name}: {m.group(0)} {why}" for m in re.finditer(pattern, text)]
    assert problems == []


def test_pytorch_wrappers_load_weights_only():
    """Every PyTorchWrapper_v3 in the package passes the weights-only deserializer."""
    for path in sources():
        text = path.read_text(encoding="utf8")
        for call in re.finditer(r"PyTorchWrapper_v3\(", text):
            depth, end = 1, call.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            assert "deserialize_model=" in text[call.end() : end], path.name


def test_pickled_code_in_weights_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    buffer = io.BytesIO()
    torch.save({"weight": Payload(marker)}, buffer)
    # torch's reason (worded differently across torch versions), without its advice to load
    # again with weights_only=False
    reason = r"^(Trying to load unsupported|Unsupported global:) GLOBAL \w+\.system[^.]*$"
    with pytest.raises(UnsafeWeightsError, match=reason):
        load_state(buffer.getvalue())
    with pytest.raises(UnsafeWeightsError, match=reason):
        deserialize_weights_only(torch.nn.Linear(1, 1), buffer.getvalue(), "cpu")
    assert not marker.exists()


@pytest.mark.parametrize("message", [
    # torch 2.6's wording
    "Weights only load failed. This file can still be loaded, to do so you have two options, do those steps "
    "only if you trust the source of the checkpoint.\n\t(1) In PyTorch 2.6, we changed the default value ...\n"
    "\t(2) Alternatively, to load with `weights_only=True` please check the recommended steps ...\n"
    "WeightsUnpickler error: Unsupported global: GLOBAL posix.system was not an allowed global by default. "
    "Please use `torch.serialization.add_safe_globals([system])` to allowlist this global.\n\n"
    "Check the documentation of torch.load to learn more about types accepted by default with weights_only "
    "https://pytorch.org/docs/stable/generated/torch.load.html.",
    # torch 2.13's wording
    "Weights only load failed. In PyTorch 2.6, we changed the default value of the `weights_only` argument. "
    "Re-running `torch.load` with `weights_only` set to `False` will likely succeed, but it can result in "
    "arbitrary code execution.\n\n\nTrying to load unsupported GLOBAL posix.system whose module posix is "
    "blocked.\n\nCheck the documentation of torch.load to learn more about types accepted by default with "
    "weights_only https://pytorch.org/docs/stable/generated/torch.load.html.",
], ids=["torch-2.6", "torch-2.13"])
def test_refusal_keeps_torch_reason_without_its_advice(message):
    from spacy_relext.torch_io import _refusal_reason

    reason = _refusal_reason(pickle.UnpicklingError(message))
    assert re.fullmatch(r"(Trying to load unsupported|Unsupported global:) GLOBAL posix\.system[^.]*", reason)
    assert "weights_only" not in reason and "add_safe_globals" not in reason


def test_plain_weights_round_trip():
    module = torch.nn.Linear(3, 2)
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    other = deserialize_weights_only(torch.nn.Linear(3, 2), buffer.getvalue(), "cpu")
    assert all(torch.equal(a, b) for a, b in zip(module.state_dict().values(), other.state_dict().values()))
