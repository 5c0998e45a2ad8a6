"""Process-level settings behind `nlp.pipe(n_process=2)` (issue 24 item 5): Doc
serialization without catalogue rescans, and one torch thread in forked workers."""
import os
import subprocess
import sys

import catalogue
import pytest
import spacy
import srsly
import srsly.msgpack
from spacy.tokens import Doc, Span

from spacy_relext import Relation
from spacy_relext import msgpack_registry

REGISTRIES = [srsly.msgpack.msgpack_encoders, srsly.msgpack.msgpack_decoders]


@pytest.mark.parametrize("registry", REGISTRIES, ids=["encoders", "decoders"])
def test_msgpack_hooks_are_those_catalogue_returns(registry):
    assert registry.get_all() == catalogue.Registry.get_all(registry)


@pytest.mark.parametrize("registry", REGISTRIES, ids=["encoders", "decoders"])
def test_msgpack_hooks_registered_later_are_seen(registry):
    """The global registry is read live: a hook registered after the install (as
    spacy-transformers registers its own on import) is used, and its removal too."""
    key = (*registry.namespace, "spacy_relext_test_hook")

    def hook(obj, chain=None):
        return obj if chain is None else chain(obj)

    registry.register("spacy_relext_test_hook", func=hook)
    try:
        assert registry.get_all()["spacy_relext_test_hook"] is hook
        assert registry.get_all() == catalogue.Registry.get_all(registry)
    finally:
        del catalogue.REGISTRY[key]
    assert "spacy_relext_test_hook" not in registry.get_all()


INSTALL_PROBE = """
import spacy, srsly.msgpack
spacy.blank("en").add_pipe("relation_detector")
print(all("get_all" in vars(r) for r in (srsly.msgpack.msgpack_encoders, srsly.msgpack.msgpack_decoders)))
"""


def test_adding_a_component_installs_the_msgpack_setting():
    """In a fresh interpreter (a spawned worker imports the component's module the same
    way when it unpickles the pipeline)."""
    assert run_probe(INSTALL_PROBE) == "True"


def run_probe(code, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def test_install_is_idempotent():
    installed = [vars(registry)["get_all"] for registry in REGISTRIES]
    msgpack_registry.install()
    assert [vars(registry)["get_all"] for registry in REGISTRIES] == installed


def test_doc_round_trip_does_not_rescan_entry_points(monkeypatch):
    """The mechanism of the n_process fix: Doc.to_bytes / from_bytes (what spaCy's
    workers and parent do for every Doc) no longer select entry points per msgpack call,
    and the relations come back unchanged."""
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["Alice", "works", "for", "Acme", "."])
    doc.ents = [Span(doc, 0, 1, label="PER"), Span(doc, 3, 4, label="ORG")]
    doc._.relations = [Relation(head=doc.ents[0], tail=doc.ents[1], label="Work_For", score=0.5, source="x")]
    calls = []
    original = catalogue.Registry._get_entry_points
    monkeypatch.setattr(catalogue.Registry, "_get_entry_points", lambda self: calls.append(self) or original(self))
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert srsly.msgpack_loads(srsly.msgpack_dumps({"a": [1, 2]})) == {"a": [1, 2]}
    assert calls == []
    assert [(r.head.text, r.label, r.tail.text, r.score) for r in restored._.relations] == [
        ("Alice", "Work_For", "Acme", 0.5)]


FORK_PROBE = """
import importlib, os, sys
import torch
torch.set_num_threads(2)
importlib.import_module(sys.argv[1])
pid = os.fork()
if pid == 0:
    os._exit(torch.get_num_threads())
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("module", ["spacy_relext.rere.pytorch_query_pointer", "spacy_relext.cp.pytorch_cp",
                                   "spacy_relext.clm.pytorch_marker_encoder",
                                   "spacy_relext.rationale.pytorch_rationale_masker"])
def test_forked_worker_of_a_torch_component_runs_one_torch_thread(module):
    """A worker forked by nlp.pipe(n_process=2) after the module is imported runs one
    torch thread (the parallelism comes from the processes; two threads per worker on
    two cores oversubscribe them), whatever the parent set."""
    assert run_probe(FORK_PROBE, module) == "1"
