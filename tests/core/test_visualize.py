"""`spacy_relext.render` and `python -m spacy_relext visualize`: labels, scores,
rationale, rules, options, and a screenshot of the page in headless Chromium."""
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from spacy_relext import Relation, render
from spacy_relext.cli import main

RULE = "Located_In(Acme Corp, Paris) <- Work_For(Alice Smith, Acme Corp) ^ Live_In(Alice Smith, Paris)  [0.71]"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def make_doc():
    nlp = spacy.blank("en")
    doc = nlp("Alice Smith works for Acme Corp in Paris since the early days of the company .")
    doc.ents = [Span(doc, 0, 2, "PER"), Span(doc, 4, 6, "ORG"), Span(doc, 7, 8, "LOC")]
    per, org, loc = doc.ents
    doc._.relations = [
        Relation(head=per, tail=org, label="Work_For", score=0.93, source="rationale_masker", rationale=(doc[2:4],)),
        Relation(head=org, tail=loc, label="Located_In", score=0.81, source="logic_reasoner", rules=(RULE,)),
        Relation(head=loc, tail=per, label="Live_In", score=0.12, source="rationale_masker"),
    ]
    return doc


def test_arcs_entities_scores_rationale_and_rules():
    page = render(make_doc(), jupyter=False)
    assert page.lstrip().startswith("<!DOCTYPE html>")
    for text in ("Alice Smith", "Acme Corp", "PER", "ORG", "LOC", "Work_For 0.93", "Located_In 0.81", "Live_In 0.12"):
        assert text in page
    # Live_In goes from Paris (word 4) back to Alice Smith (word 0): a left arrow
    assert len(re.findall(r'class="displacy-arc"', page)) == 3
    # Details: the rationale-bearing and the rule-bearing relation, not the plain one
    assert "Alice Smith → Work_For → Acme Corp (0.93, rationale_masker)" in page
    assert "Acme Corp → Located_In → Paris (0.81, logic_reasoner)" in page
    assert "Live_In → Alice Smith" not in page
    assert "RATIONALE" in page and "HEAD" in page and "TAIL" in page
    assert "Located_In(Acme Corp, Paris) &lt;- Work_For" in page  # the rule, escaped


def test_options():
    doc = make_doc()
    fragment = render(doc, page=False, jupyter=False, options={"min_score": 0.5, "relations": [2], "scores": False})
    assert "<!DOCTYPE html>" not in fragment
    assert "Live_In" in fragment and "Live_In 0.12" not in fragment  # no arc, but its detail
    assert ">Work_For<" in fragment or "Work_For</textPath>" in fragment
    assert "Paris → Live_In → Alice Smith (0.12, rationale_masker)" in fragment
    assert "Work_For → Acme Corp (" not in fragment
    # the text between two mentions is elided beyond max_gap_chars
    no_details = {"relations": []}
    full = render(doc, jupyter=False, options={**no_details, "max_gap_chars": 40})
    assert "since the early days of the company ." in full
    elided = render(doc, jupyter=False, options={**no_details, "max_gap_chars": 12})
    assert "since the early days of the company ." not in elided and "since … any ." in elided
    with pytest.raises(ValueError, match="E900"):
        render(doc, jupyter=False, options={"colours": {}})


def test_labels_are_escaped():
    doc = make_doc()
    doc.ents = [Span(doc, 0, 2, "<PER>"), *doc.ents[1:]]
    doc._.relations = [Relation(head=doc.ents[0], tail=doc.ents[1], label="a<b", score=0.5)]
    page = render(doc, jupyter=False)
    assert "&lt;PER&gt;" in page and "a&lt;b 0.50" in page and "<PER>" not in page


def test_docs_without_relations_or_tokens():
    nlp = spacy.blank("en")
    page = render([nlp(""), nlp("Nothing here .")], jupyter=False)
    assert "Nothing here ." in page


@Language.component("works_for_first_pair")
def works_for_first_pair(doc: Doc) -> Doc:
    """A stand-in relation component: the first PER works for the first ORG."""
    per = next(ent for ent in doc.ents if ent.label_ == "PER")
    org = next(ent for ent in doc.ents if ent.label_ == "ORG")
    doc._.relations = [Relation(head=per, tail=org, label="Work_For", score=0.77, source="works_for_first_pair")]
    return doc


def test_cli_writes_page(tmp_path, capsys):
    nlp = spacy.blank("en")
    patterns = [{"label": label, "pattern": text} for label, text in
                (("PER", "Alice"), ("ORG", "Acme"), ("PER", "Bob"), ("ORG", "Initech"))]
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    nlp.add_pipe("works_for_first_pair")
    nlp.to_disk(tmp_path / "pipeline")
    output = tmp_path / "page.html"
    main(["visualize", str(tmp_path / "pipeline"), "Alice works for Acme .", "Bob joined Initech .",
          "--output", str(output)])
    assert "Drew 2 relations in 2 texts" in capsys.readouterr().out
    page = output.read_text(encoding="utf8")
    assert page.count("Work_For 0.77") == 2 and "Initech" in page


def png_pixels(path: Path):
    """(width, height, distinct byte values of the decompressed image data)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], len(set(zlib.decompress(idat)))


def test_screenshot_in_headless_chromium(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium chromium-driver): no screenshot test")
    page = tmp_path / "relations.html"
    page.write_text(render(make_doc(), jupyter=False), encoding="utf8")
    shot = tmp_path / "relations.png"
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1000"]
    subprocess.run(flags + [f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    width, height, n_values = png_pixels(shot)
    assert (width, height) == (1400, 1000) and n_values > 16  # not a blank page
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], check=True, capture_output=True, timeout=120, text=True)
    for label in ("Work_For 0.93", "Located_In 0.81", "RATIONALE", "PER", "Acme Corp"):
        assert label in dom.stdout
