"""What a load of a saved pipeline checks, one hostile case per test.

Every relation component saves the sha256 of its `cfg` and `model` (the `checksums`
part) and checks them at load (E409); `cfg` must be well formed (E410) and fit the saved
model's shape (E411); torch weights are read as plain tensors only (E412), for the
`transformer` of the `*_trf` configs too, even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1.
The pipelines are the small saved fixtures of test_saved_pipelines, saved again by the
current code where a case needs checksums: no training here.
"""
import hashlib
import io
import os
import re
import shutil
import warnings
from pathlib import Path

import pytest
import spacy
import srsly
import torch
from spacy.util import load_config, load_model_from_config

from spacy_relext.relation_pipe import RelationPipe
from test_saved_pipelines import BUILD, EXPECTED, FIXTURES

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CONFIG_DIR = Path(__file__).parents[2] / "configs"
CHECKSUMS = "checksums"  # the file beside a component's cfg and model
# (fixture pipeline, component): every relation component once
COMPONENTS = [("rere", "relation_detector"), ("rere", "span_extractor"), ("clm_classifier", "clm_classifier"),
              ("rationale_masker", "rationale_masker"), ("logic_reasoner", "logic_reasoner")]
IDS = [component for _, component in COMPONENTS]
# components with a torch module in their model
TORCH_COMPONENTS = ["clm_classifier", "rationale_masker", "logic_reasoner"]
# torch's reason for refusing the payload below, as worded by torch 2.6 to 2.13
REFUSED = r"(Trying to load unsupported|Unsupported global:) GLOBAL \w+\.system"


class Payload:
    """Unpickling this runs `touch <path>`: what a tampered weights file could do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def malicious_state(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": Payload(marker)}, buffer)
    return buffer.getvalue()


def saved_again(name: str, path: Path) -> Path:
    """The fixture pipeline, saved by the current code (with checksums)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*\[W020\]")  # the fixtures predate checksums
        spacy.load(FIXTURES / name).to_disk(path)
    return path


def rewrite_checksums(component_dir: Path) -> None:
    """What an attacker (or a user fixing E409 by hand) can do: checksums of the files as
    they are now. Integrity checks detect damage, not a deliberate edit."""
    sums = {part: hashlib.sha256((component_dir / part).read_bytes()).hexdigest() for part in ("cfg", "model")}
    srsly.write_json(component_dir / CHECKSUMS, {"sha256": sums})


def edit_cfg(component_dir: Path, **changes) -> None:
    cfg = srsly.read_json(component_dir / "cfg")
    cfg.update(changes)
    srsly.write_json(component_dir / "cfg", cfg)


def predictions(name, nlp):
    return [BUILD.relation_rows(nlp(doc)) for doc in BUILD.probe_docs(name, nlp)]


def strip_scores(rows):
    return [[row[:5] + row[6:] for row in doc_rows] for doc_rows in rows]


# --- integrity: checksums -------------------------------------------------------------


@pytest.mark.parametrize("name", BUILD.NAMES_BUILT)
def test_saved_components_carry_checksums_and_load_without_warning(name, tmp_path, recwarn):
    nlp = spacy.load(saved_again(name, tmp_path))
    assert not [w for w in recwarn if "[W020]" in str(w.message)]
    components = [name for name, pipe in nlp.pipeline if isinstance(pipe, RelationPipe)]
    assert components
    for component in components:
        assert set(srsly.read_json(tmp_path / component / CHECKSUMS)["sha256"]) == {"cfg", "model"}
    assert strip_scores(predictions(name, nlp)) == strip_scores(EXPECTED[name])


@pytest.mark.parametrize("name,component", COMPONENTS, ids=IDS)
@pytest.mark.parametrize("part", ["model", "cfg"])
def test_flipped_byte_is_a_coded_error_naming_the_file(name, component, part, tmp_path):
    """Without checksums one flipped bit in the weights loads silently and changes what
    the component predicts; in cfg it changes a setting or a label (or breaks the JSON)."""
    path = saved_again(name, tmp_path) / component / part
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"\[E409\] The {part} of component '{component}' "
                                         rf"\({re.escape(str(path))}\) does not match the sha256 checksum"):
        spacy.load(tmp_path)


def test_flipped_byte_in_bytes_is_a_coded_error(tmp_path):
    pipe = spacy.load(saved_again("rere", tmp_path)).get_pipe("relation_detector")
    msg = srsly.msgpack_loads(pipe.to_bytes())
    model = bytearray(msg["model"])
    model[len(model) // 2] ^= 0x01
    msg["model"] = bytes(model)
    with pytest.raises(ValueError, match=r"\[E409\] The model of component 'relation_detector' \(bytes\)"):
        pipe.from_bytes(srsly.msgpack_dumps(msg))


def test_bytes_without_checksums_load_with_a_warning(tmp_path):
    pipe = spacy.load(saved_again("rere", tmp_path)).get_pipe("relation_detector")
    msg = srsly.msgpack_loads(pipe.to_bytes())
    del msg[CHECKSUMS]
    with pytest.warns(UserWarning, match=r"\[W020\] Component 'relation_detector' \(bytes\)"):
        pipe.from_bytes(srsly.msgpack_dumps(msg))


def test_pipeline_saved_without_checksums_loads_with_one_warning_per_component(tmp_path):
    """Old saves (and a component whose checksums were deleted) load as they are."""
    saved_again("rere", tmp_path)
    (tmp_path / "span_extractor" / CHECKSUMS).unlink()
    with pytest.warns(UserWarning, match=r"\[W020\] Component 'span_extractor'") as record:
        nlp = spacy.load(tmp_path)
    assert len([w for w in record if "[W020]" in str(w.message)]) == 1
    assert strip_scores(predictions("rere", nlp)) == strip_scores(EXPECTED["rere"])


# --- cfg against the model ------------------------------------------------------------


@pytest.mark.parametrize("name,component", COMPONENTS, ids=IDS)
def test_label_removed_from_cfg_is_a_coded_error(name, component, tmp_path):
    """The labels name the model's outputs in order: one fewer would shift or drop them."""
    directory = saved_again(name, tmp_path) / component
    labels = srsly.read_json(directory / "cfg")["labels"]
    edit_cfg(directory, labels=labels[:-1])
    rewrite_checksums(directory)
    with pytest.raises(ValueError, match=rf"\[E411\] The cfg of component '{component}' "
                                         rf"\({re.escape(str(directory))}\) does not match its saved model"):
        spacy.load(tmp_path)


# (component, bad cfg setting, what E410 says)
BAD_CFGS = [
    ("relation_detector", {"labels": 5}, r"'labels' must be a list of non-empty strings, got 5"),
    ("span_extractor", {"labels": 5}, r"'labels' must be a list of non-empty strings, got 5"),
    ("clm_classifier", {"labels": 5}, r"'labels' must be a list of non-empty strings, got 5"),
    ("rationale_masker", {"labels": 5}, r"'labels' must be a list of non-empty strings, got 5"),
    ("logic_reasoner", {"labels": 5}, r"'labels' must be a list of non-empty strings, got 5"),
    ("relation_detector", {"labels": ["born_in", "born_in", "works_for"]},
     r"'labels' lists \['born_in'\] more than once"),
    ("span_extractor", {"labels": ["born_in", "", "works_for"]}, r"'labels' must be a list of non-empty strings"),
    ("relation_detector", {"threshold": "high"}, r"'threshold' must be a number, got 'high'"),
    ("span_extractor", {"pairing": 3}, r"'pairing' must be one of \['nearest', 'cartesian'\], got 3"),
    ("clm_classifier", {"max_pair_length": "16"}, r"'max_pair_length' must be an integer, got '16'"),
    ("clm_classifier", {"symmetric_labels": "born_in"}, r"'symmetric_labels' must be a list of strings or null"),
    ("rationale_masker", {"keep_candidates": "yes"}, r"'keep_candidates' must be true or false, got 'yes'"),
    ("logic_reasoner", {"signatures": [[0, 1]]}, r"'signatures' must be a list of \[head type, relation, tail type\]"),
    ("logic_reasoner", {"spans_key": 3}, r"'spans_key' must be a string or null, got 3"),
]
PIPELINE_OF = dict((component, name) for name, component in COMPONENTS)


@pytest.mark.parametrize("component,changes,problem", BAD_CFGS,
                         ids=[f"{c}-{next(iter(ch))}" for c, ch, _ in BAD_CFGS])
def test_malformed_cfg_is_a_coded_error(component, changes, problem, tmp_path):
    directory = saved_again(PIPELINE_OF[component], tmp_path) / component
    edit_cfg(directory, **changes)
    rewrite_checksums(directory)
    path = re.escape(str(directory / "cfg"))
    with pytest.raises(ValueError, match=rf"\[E410\] Invalid cfg of component '{component}' \({path}\): {problem}"):
        spacy.load(tmp_path)


# --- pickled code ---------------------------------------------------------------------


@pytest.mark.parametrize("force_unsafe_default", [False, True], ids=["default", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"])
@pytest.mark.parametrize("component", TORCH_COMPONENTS)
def test_pickled_code_in_component_weights_is_refused(component, force_unsafe_default, tmp_path, monkeypatch):
    """The torch state inside the component's model replaced by a pickle that would run
    a command, with checksums to match: refused with E412, and the command never ran."""
    if force_unsafe_default:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "code-ran"
    directory = saved_again(PIPELINE_OF[component], tmp_path / "nlp") / component
    msg = srsly.msgpack_loads((directory / "model").read_bytes())
    tampered = 0
    for shims in msg["shims"]:
        for i, shim_bytes in enumerate(shims):
            shim = srsly.msgpack_loads(shim_bytes)
            shim["state"] = malicious_state(marker)
            shims[i] = srsly.msgpack_dumps(shim)
            tampered += 1
    assert tampered
    (directory / "model").write_bytes(srsly.msgpack_dumps(msg))
    rewrite_checksums(directory)
    path = re.escape(str(directory / "model"))
    with pytest.raises(ValueError, match=rf"\[E412\] Refused to load the torch weights of component '{component}' "
                                         rf"\({path}\): {REFUSED}"):
        spacy.load(tmp_path / "nlp")
    assert not marker.exists()


@pytest.fixture(scope="module")
def trf_pipeline(tmp_path_factory):
    """A pipeline from configs/ner_trf.cfg, cut to its `transformer` (MiniLM from the
    installed package), saved: its saved config names the weights-only callback."""
    config = load_config(CONFIG_DIR / "ner_trf.cfg")
    config["nlp"]["pipeline"] = ["transformer"]
    del config["components"]["ner"]
    nlp = load_model_from_config(config, auto_fill=True)
    nlp.initialize()
    path = tmp_path_factory.mktemp("trf") / "nlp"
    nlp.to_disk(path)
    return nlp, path


def test_transformer_pipeline_loads_the_same_with_its_weights_checked(trf_pipeline, monkeypatch):
    import pickle

    from spacy_relext.torch_io import WeightsOnlyFromBytes

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    nlp, path = trf_pipeline
    loaded = spacy.load(path)
    shim = loaded.get_pipe("transformer").model.layers[0].shims[0]
    assert isinstance(shim.__dict__["from_bytes"], WeightsOnlyFromBytes)
    text = "Alice works for Acme ."
    assert (loaded(text)._.trf_data.tensors[0] == nlp(text)._.trf_data.tensors[0]).all()
    # nlp.pipe(n_process=2) under spawn pickles the pipeline; copies keep their own guard
    again = pickle.loads(pickle.dumps(loaded))
    copied = again.get_pipe("transformer").model.layers[0].shims[0]
    assert copied.from_bytes.shim is copied and shim.copy().from_bytes.shim is not shim


@pytest.mark.parametrize("force_unsafe_default", [False, True], ids=["default", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"])
def test_pickled_code_in_transformer_weights_is_refused(trf_pipeline, force_unsafe_default, tmp_path, monkeypatch):
    """spacy-transformers loads the transformer's weights with torch's default: with
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 that would run the command at spacy.load. The
    callback named by the _trf configs refuses it first."""
    if force_unsafe_default:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "code-ran"
    path = tmp_path / "nlp"
    shutil.copytree(trf_pipeline[1], path)
    msg = srsly.msgpack_loads((path / "transformer" / "model").read_bytes())
    (shim_bytes,) = [data for shims in msg["shims"] for data in shims]
    shim = srsly.msgpack_loads(shim_bytes)
    shim["state"] = malicious_state(marker)
    msg["shims"] = [[srsly.msgpack_dumps(shim)] if shims else [] for shims in msg["shims"]]
    (path / "transformer" / "model").write_bytes(srsly.msgpack_dumps(msg))
    with pytest.raises(ValueError, match=r"\[E412\] Refused to load the torch weights of component 'transformer' "
                                         r"\('transformer/model' in the pipeline directory, or its bytes\): "
                                         + REFUSED):
        spacy.load(path)
    assert not marker.exists()


TRF_CONFIGS = sorted(p for p in CONFIG_DIR.glob("*.cfg") if 'factory = "transformer"' in p.read_text())


@pytest.mark.parametrize("path", TRF_CONFIGS, ids=[p.name for p in TRF_CONFIGS])
def test_configs_with_a_transformer_name_the_weights_only_callback(path):
    assert TRF_CONFIGS
    callback = load_config(path)["nlp"]["after_pipeline_creation"]
    assert callback == {"@callbacks": "spacy-relext.weights_only_loading.v1"}
