"""Every entry point in setup.cfg resolves in a fresh interpreter with no import of
spacy_relext: that is what `spacy train` without --code and spawned workers rely on."""
import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

SETUP_CFG = Path(__file__).parents[2] / "setup.cfg"
REGISTRIES = {"spacy_misc": "misc", "spacy_readers": "readers", "spacy_scorers": "scorers",
              "spacy_architectures": "architectures", "spacy_callbacks": "callbacks", "thinc_layers": "layers"}


def entry_points():
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG)
    section = parser["options.entry_points"]
    for group in section:
        for line in section[group].strip().splitlines():
            name, target = (part.strip() for part in line.split("="))
            yield group, name, target


ENTRY_POINTS = list(entry_points())


@pytest.mark.parametrize("group,name,target", ENTRY_POINTS, ids=[e[1] for e in ENTRY_POINTS])
def test_entry_point_names_follow_convention(group, name, target):
    if group == "spacy_factories":
        assert "." not in name
    else:
        assert re.fullmatch(r"spacy-relext\.\w+\.v\d+", name), name


def test_entry_points_resolve_in_fresh_interpreter():
    lines = ["import sys, spacy", "from spacy.util import registry"]
    for group, name, target in ENTRY_POINTS:
        if group == "spacy_factories":
            lines.append(f"spacy.blank('en').add_pipe({name!r})")
        elif group == "thinc_layers":
            lines.append(f"import thinc.api; thinc.api.registry.layers.get({name!r})")
        else:
            lines.append(f"registry.{REGISTRIES[group]}.get({name!r})")
    lines.append("assert 'spacy_relext' in sys.modules")  # loaded through the entry points alone
    result = subprocess.run([sys.executable, "-c", "\n".join(lines)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
