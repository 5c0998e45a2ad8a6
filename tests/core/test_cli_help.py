"""`python -m spacy_relext --help` and every command's `--help`: fast (no spaCy, thinc or
torch import until a command runs), every argument explained, every option's default
stated, and the formats of `convert` listed."""
import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from spacy_relext.cli import CONVERT_FORMATS, CP_SETTINGS, build_parser

ROOT = Path(__file__).resolve().parents[2]
SUBPARSERS = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
HELP_RUN = """
import sys
from spacy_relext.cli import build_parser
import spacy_relext.__main__  # what `python -m spacy_relext` imports before parsing
parser = build_parser()
for argv in [["--help"], *([name, "--help"] for name in sys.argv[1:])]:
    try:
        parser.parse_args(argv)
    except SystemExit:
        pass
print(",".join(name for name in ("spacy", "thinc", "torch") if name in sys.modules), file=sys.stderr)
"""


def test_help_imports_no_heavy_module():
    proc = subprocess.run([sys.executable, "-c", HELP_RUN, *SUBPARSERS.choices], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=120)
    assert "usage: python -m spacy_relext convert" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1:] in ([], [""])


def test_bare_import_after_spacy_registers_the_relations_extension():
    # Lazy names must not cost a user reading our DocBins `doc._.relations`.
    code = ("import spacy, spacy_relext\nfrom spacy.tokens import Doc\n"
            "print(Doc(spacy.blank('en').vocab, words=['a'])._.relations)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("command", sorted(SUBPARSERS.choices))
def test_every_argument_has_help_and_every_option_its_default(command):
    for action in SUBPARSERS.choices[command]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.dest}: no help text"
        optional = action.option_strings or action.nargs in ("?", "*")
        stated = "default" in action.help or "required" in action.help
        assert not optional or stated, f"{command} {action.dest}: no default in {action.help!r}"


def test_convert_help_lists_every_format(capsys):
    from spacy_relext.convert import CONVERTERS

    assert set(CONVERT_FORMATS) == set(CONVERTERS)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["convert", "--help"])
    shown = capsys.readouterr().out
    assert "convert --help" not in shown
    assert all(f"  {name} " in shown for name in CONVERTERS)


def test_pretrain_cp_help_states_the_settings_defaults():
    from spacy_relext.cp.pretrain import CPSettings

    defaults = {field.name: field.default for field in dataclasses.fields(CPSettings)}
    for option, kind, text in CP_SETTINGS:
        default = defaults[option.replace("-", "_")]
        assert f"(default: {default}" in text and isinstance(default, kind), (option, default, text)
