"""The README's quickstart runs as written, its command-line reference lists every
`python -m spacy_relext` command with exactly the options `--help` shows, and every
factory's docstring documents each of its config keys."""
import argparse
import importlib.metadata
import inspect
import re
from pathlib import Path

import pytest
from spacy.language import Language

from spacy_relext.cli import build_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf8")

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_quickstart_runs_and_extracts_relations(capsys):
    section = README[README.index("## Quickstart") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 16
    exec(compile(code, "README quickstart", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("Alice Work_For Acme ") for line in printed), printed


def test_cli_reference_matches_parser():
    block = README[README.index("<!-- cli-reference:start -->") : README.index("<!-- cli-reference:end -->")]
    documented = {}
    for row in block.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            documented[cells[0].strip("`")] = set(re.findall(r"`(--[a-z-]+)`", cells[1]))
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actual = {
        name: {opt for action in parser._actions for opt in action.option_strings
               if opt.startswith("--") and opt != "--help"}
        for name, parser in subparsers.choices.items()
    }
    assert documented == actual


@pytest.mark.parametrize("factory", ["relation_detector", "span_extractor", "clm_classifier", "rationale_masker",
                                     "logic_reasoner"])
def test_factory_docstring_documents_every_config_key(factory):
    (entry_point,) = importlib.metadata.entry_points(group="spacy_factories", name=factory)
    func = entry_point.load()
    documented = {line.split(" (")[0].strip() for line in inspect.getdoc(func).splitlines() if " (" in line}
    keys = set(Language.get_factory_meta(factory).default_config)
    assert keys <= documented, f"{factory}: undocumented config keys {sorted(keys - documented)}"
