"""The annotate tests' pipeline and corpora (the fixtures are in conftest.py).

The pipeline is an `entity_ruler` (the people, companies and places of the templates) and
a `clm_classifier` trained for a few steps on the find-threshold tests' sentences: enough
to predict different relations with different scores in different documents, in a second. It is saved once per session,
since the engines load it by path, as a user's would be.
"""
import json
from pathlib import Path
from typing import Dict, List

import spacy
from thinc.api import fix_random_seed

from test_find_threshold import make_examples  # its people, companies and places, with gold relations

PEOPLE = ["Alice", "Bob", "Dana", "Carol", "Erik"]
COMPANIES = ["Acme", "Initech", "Globex"]
PLACES = ["Paris", "Berlin", "Rome", "Oslo"]
TEMPLATES = [
    "{p} works for {c} in {l} .",
    "{c} opened an office in {l} , said {p} .",
    "{p} lives in {l} .",
    "The storm hit {l} and {p} left {c} .",
]


def sentence(i: int) -> str:
    """The i-th test sentence: templates and names cycled so that they all combine."""
    return TEMPLATES[i % len(TEMPLATES)].format(p=PEOPLE[i % len(PEOPLE)], c=COMPANIES[i % len(COMPANIES)],
                                                l=PLACES[(i // 2) % len(PLACES)])


def records(n: int) -> List[Dict[str, object]]:
    return [{"id": f"doc-{i}", "text": sentence(i), "source": "test", "n": i} for i in range(n)]


def write_jsonl(path: Path, rows: List[Dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf8")
    return path


def build_pipeline() -> spacy.language.Language:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler")
    nlp.add_pipe("clm_classifier")
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    labels = {"Alice": "PER", "Bob": "PER", "Dana": "PER", "Carol": "PER", "Erik": "PER", "Acme": "ORG",
              "Initech": "ORG", "Globex": "ORG", **{place: "LOC" for place in PLACES}}
    nlp.get_pipe("entity_ruler").add_patterns([{"label": label, "pattern": name} for name, label in labels.items()])
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    return nlp
