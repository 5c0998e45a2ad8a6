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
    assert "since the early days of the company ." not in elided and "since … ." in elided  # whole tokens
    with pytest.raises(ValueError, match="E900"):
        render(doc, jupyter=False, options={"colours": {}})


def test_elision_keeps_whole_tokens():
    nlp = spacy.blank("en")
    doc = nlp("Anna Berg met . Kim smiles and waves at Carl Dahl .")
    doc.ents = [Span(doc, 0, 2, "PER"), Span(doc, 9, 11, "PER")]
    doc._.relations = [Relation(head=doc.ents[0], tail=doc.ents[1], label="Knows", score=0.9)]
    page = render(doc, jupyter=False, options={"max_gap_chars": 20})
    words = re.findall(r'class="displacy-word"[^>]*>([^<]*)<', page)
    assert words == ["Anna Berg", "met . Kim … waves at", "Carl Dahl", "."]


def test_page_title_and_legend():
    page = render(make_doc(), jupyter=False, options={"min_score": 0.5})
    assert "<title>spacy-relext: entities and relations</title>" in page and "displaCy" not in page
    assert 'class="relext-legend"' in page and "relations scoring below 0.5 are not drawn" in page
    assert "RATIONALE</span>" in page
    titled = render(make_doc(), jupyter=False, options={"title": "Run <3>", "legend": False})
    assert "<title>Run &lt;3&gt;</title>" in titled and "relext-legend" not in titled


def svg_sizes(page):
    """(width, height, viewBox or None) of every SVG of a page, from its attributes."""
    sizes = []
    for tag in re.findall(r"<svg\b[^>]*>", page):
        view_box = re.search(r'viewBox="([^"]*)"', tag)
        sizes.append((float(re.search(r'\swidth="([\d.]+)"', tag).group(1)),
                      float(re.search(r'\sheight="([\d.]+)"', tag).group(1)), view_box and view_box.group(1)))
    return sizes


def two_sentence_doc(crossing=True):
    """The two sentences of the issue-25 page that overflowed 1,400 px, with sentence
    boundaries; with `crossing`, a relation from the first sentence to the second."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("John Smith , a spokesman for Acme Corp in Boston , said on Monday . "
              "The mayor of Paris , Anne Hidalgo , lives in Paris and works for the City of Paris in France .")
    ents = [Span(doc, 0, 2, "PER"), Span(doc, 6, 8, "ORG"), Span(doc, 9, 10, "LOC"), Span(doc, 13, 14, "DATE"),
            Span(doc, 18, 19, "LOC"), Span(doc, 20, 22, "PER"), Span(doc, 25, 26, "LOC"), Span(doc, 30, 33, "ORG"),
            Span(doc, 34, 35, "LOC")]
    doc.ents = ents
    per, org, boston, _, paris, anne, paris2, city, france = ents
    triples = [(per, org, "Work_For"), (org, boston, "OrgBased_In"), (per, boston, "Live_In"), (anne, paris, "Live_In"),
               (anne, paris2, "Live_In"), (anne, city, "Work_For"), (city, paris2, "OrgBased_In"),
               (city, france, "OrgBased_In"), (paris2, france, "Located_In")]
    if crossing:
        triples.append((boston, france, "Located_In"))
    doc._.relations = [Relation(head=h, tail=t, label=label, score=0.5) for h, t, label in triples]
    return doc


@pytest.mark.parametrize("crossing,rows", [(False, 2), (True, 1)])
@pytest.mark.parametrize("max_width", [1200, 600])
def test_page_fits_its_width(max_width, crossing, rows):
    page = render(two_sentence_doc(crossing), jupyter=False, options={"max_width": max_width})
    sizes = svg_sizes(page)
    assert len(sizes) == rows and f"max-width: {max_width}px" in page  # one row a sentence, unless a relation crosses
    for width, height, view_box in sizes:
        assert width <= max_width
        if view_box:  # scaled: the drawing keeps its proportions
            full_width, full_height = (float(v) for v in view_box.split()[2:])
            assert full_width > max_width and abs(height / width - full_height / full_width) < 0.01
            assert f"height: {height:.0f}px" in page


def test_arrowheads_on_one_mention_are_distinct():
    page = render(two_sentence_doc(), jupyter=False)
    tips = [tuple(float(v) for v in re.match(r"M([\d.]+),([\d.]+)", head).groups())
            for head in re.findall(r'class="displacy-arrowhead" d="([^"]*)"', page)]
    assert len(tips) == 10 and len(set(tips)) == 10  # Paris (the 2nd) and France receive three arcs each
    arcs = re.findall(r'class="displacy-arc" id="[^"]*" stroke-width="[^"]*" d="([^"]*)"', page)
    ends = [point for arc in arcs for point in (arc.split()[0][1:], arc.split()[-1])]
    assert len(set(ends)) == 20  # no two arc ends at one point


def test_out_of_range_relation_index():
    doc = make_doc()
    with pytest.raises(ValueError, match=r"\[E142\] Relation index 99 .* the most relations one Doc has is 3"):
        render(doc, jupyter=False, options={"relations": [99]})
    with pytest.raises(ValueError, match=r"\[E142\] Relation index -4 "):
        render(doc, jupyter=False, options={"relations": [-4]})
    assert "Live_In → Alice Smith" in render(doc, jupyter=False, options={"relations": [-1]})


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
    with pytest.raises(SystemExit) as exit_info:
        main(["visualize", str(tmp_path / "pipeline"), "Alice works for Acme .", "--relations", "99",
              "--output", str(tmp_path / "other.html")])
    assert exit_info.value.code == 1 and "[E142]" in capsys.readouterr().err
    assert not (tmp_path / "other.html").exists()


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
