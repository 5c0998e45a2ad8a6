"""The package layout holds: one folder per method over a small core.

Imports are read from the source (module level and inside functions alike), so a lazy
import counts too. The method folders import the core and never each other; the core
imports no method folder, except the command line, which dispatches to all of them.
"""
import ast
from pathlib import Path
from typing import Dict, Set

import pytest

import spacy_relext

PACKAGE = Path(spacy_relext.__file__).parent
METHODS = ("rere", "clm", "rationale", "logic", "cp")
ENTRY_POINTS = {"cli", "demo", "__main__"}  # may reach every method


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(path: Path) -> Set[str]:
    """The package modules a source file imports (relative and absolute)."""
    name = module_name(path)
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and node.module.startswith("spacy_relext"):
                target = node.module[len("spacy_relext") :].lstrip(".")
            else:
                continue
            modules = [f"{target}.{alias.name}".lstrip(".") for alias in node.names]
            found.update(m if m in MODULES else target for m in modules)
        elif isinstance(node, ast.Import):
            found.update(a.name[len("spacy_relext") :].lstrip(".") for a in node.names if a.name.startswith("spacy_relext."))
    return {m for m in found if m in MODULES and m != name}


MODULES: Dict[str, Path] = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: package_imports(path) for name, path in MODULES.items()}


def wing(module: str) -> str:
    top = module.split(".")[0]
    return top if top in METHODS else "core"


def test_every_method_has_its_folder():
    assert all((PACKAGE / method / "__init__.py").is_file() for method in METHODS)
    assert not any((PACKAGE / old).exists() for old in ("pipeline", "ml", "pretrain"))


def test_no_import_cycles():
    state: Dict[str, int] = {}  # 1 visiting, 2 done

    def visit(module, path):
        state[module] = 1
        for dep in sorted(GRAPH[module]):
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.split(".")[0] not in ENTRY_POINTS))
def test_no_import_across_methods_or_from_core_into_a_method(module):
    crossing = {dep for dep in GRAPH[module] if wing(dep) != "core" and wing(dep) != wing(module)}
    assert not crossing, f"{module} ({wing(module)}) imports {sorted(crossing)}"


def test_registered_scorers_need_no_torch():
    tree = ast.parse((PACKAGE / "scorer.py").read_text(encoding="utf8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in imported if m.split(".")[0] == "torch"}


def test_no_torch_module_in_a_pipe_file():
    for name, path in MODULES.items():
        source = path.read_text(encoding="utf8")
        if "@Language.factory" in source:
            tree = ast.parse(source)
            modules = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                       and any(ast.unparse(b) in ("nn.Module", "torch.nn.Module") for b in n.bases)]
            assert not modules, f"{name} defines torch modules {modules}"


def test_comments_cite_no_file_outside_the_repository():
    # The design notes the methods were built from live outside this repository: code and
    # docs cite the papers and the authors' code instead.
    root = PACKAGE.parent
    files = [*PACKAGE.rglob("*.py"), *(root / "benchmarks").rglob("*.py"), *(root / "benchmarks").rglob("*.md"),
             *(root / "configs").rglob("*.cfg"), root / "README.md", root / "project.yml"]
    outside = [f"{path.relative_to(root)}: {line.strip()}" for path in files if path.is_file()
               for line in path.read_text(encoding="utf8").splitlines() if "METHODS.md" in line or "DESIGN.md" in line]
    assert not outside, "\n".join(outside)
