"""The cost of logic_reasoner's rule explanations before and after 7a75101, which builds
each entity's display name once per document instead of once per explained relation.

    python benchmarks/logic_explain_cost.py

Same process, alternating (benchmarks/timing.py), one torch thread: the backbone, the
reasoner's predict and set_annotations over 16 DWIE dev documents (speed.py's quick logic
pipeline), "a" with the old naming restored by wrapping `explain`, "b" as shipped. Both
must write the same relations with the same rule texts (asserted before timing).
"""
import sys, json
from pathlib import Path
sys.path.insert(0, "benchmarks")
import torch; torch.set_num_threads(1)
import speed, data
from timing import alternate
from spacy_relext.logic import logic_reasoner as lr
paths = data.dataset("dwie", Path("../shared/corpus"), Path("training/bench"), False)
nlp = speed.logic_pipeline(paths, True)
docs = [data.entity_only(d, nlp.vocab, "entities") for d in data.read(paths["dev"], nlp.vocab, 16)]
reasoner = nlp.get_pipe("logic_reasoner")
new_explain = lr.LogicReasoner.explain
def old_explain(self, trans, names, inst, i):
    # before: every entity renamed for each explained relation
    entities = self._current_entities
    return new_explain(self, trans, [lr._entity_name(m) for m in entities], inst, i)
def run(old):
    preds_docs = [d.copy() for d in docs]
    with nlp.select_pipes(disable=["logic_reasoner"]):
        preds_docs = list(nlp.pipe(preds_docs, batch_size=16))
    preds = reasoner.predict(preds_docs)
    if old:
        lr.LogicReasoner.explain = old_explain
        for d, p in zip(preds_docs, preds):
            reasoner._current_entities = p.entities
            reasoner.set_annotations([d], [p])
        lr.LogicReasoner.explain = new_explain
    else:
        reasoner.set_annotations(preds_docs, preds)
    return [[(r.label, r.rules) for r in d._.relations] for d in preds_docs]
assert run(True) == run(False)
res = alternate(lambda: run(True), lambda: run(False), 5)
print(json.dumps({k: res[k] for k in ("a", "b", "ratio")}, indent=1))
