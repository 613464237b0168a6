"""The code's shape holds: the domain imports nothing from the outside, and no module of
`nirvana/`, `bench/` or the web client's scripts imports itself back through a chain of
others (DESIGN.md, "Shape")."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_domain_imports_no_edge_no_adapter_and_no_io_library(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the contracts are in pyproject.toml
    # import-linter's CLI configures logging with dictConfig, which disables every logger
    # already made: later tests in this session would see none of their warnings.
    enabled = [lg for lg in logging.Logger.manager.loggerDict.values()
               if isinstance(lg, logging.Logger) and not lg.disabled]
    try:
        status = lint_imports(config_filename="pyproject.toml", no_cache=True, no_logo=True)
    finally:
        for lg in enabled:
            lg.disabled = False
    assert status == 0, capsys.readouterr().out


def import_cycles(package: str) -> list[list[str]]:
    """Every group of modules of `package` that import each other in a circle. Imports under
    `if TYPE_CHECKING:` count too: they never run, but a type each side needs from the other
    is the same tangle of concepts, kept out of sight."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=False, cache_dir=None)
    return cycles_of({m: graph.find_modules_directly_imported_by(m) & graph.modules
                      for m in graph.modules})


# An ES module's imports of its neighbours: `import {...} from "./x.js"`, `import "./x.js"`,
# `import("./x.js")`, in either quotes; lines that are comments (`//`, `/*`, ` *`) are skipped.
SCRIPT_IMPORT = re.compile(r'\b(?:from|import)\s*\(?\s*["\']\./([\w-]+\.js)["\']')
COMMENT_LINE = re.compile(r"^\s*(?://|/\*|\*).*$", re.MULTILINE)


def script_imports(text: str) -> set[str]:
    return set(SCRIPT_IMPORT.findall(COMMENT_LINE.sub("", text)))


def test_script_imports_are_seen_in_either_quotes_and_dynamic_but_not_in_comments():
    text = """import { a } from "./a.js";
import './b.js';
const c = await import("./c.js");
// import { d } from "./d.js";
/** see `import "./e.js"` */
"""
    assert script_imports(text) == {"a.js", "b.js", "c.js"}


def script_import_cycles(folder: Path) -> list[list[str]]:
    """The same for the ES modules in `folder`, read from their import statements."""
    scripts = {p.name: p for p in folder.glob("*.js")}
    return cycles_of({name: script_imports(path.read_text(encoding="utf-8"))
                      & scripts.keys() for name, path in scripts.items()})


def cycles_of(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node, or a node with an edge to
    itself, of a graph given as node -> the nodes it points to."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm, iterative: the import graph is deep enough to matter.
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1 or node in edges[node]:
                        cycles.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return cycles


@pytest.mark.parametrize("package", ["nirvana", "bench"])
def test_no_module_imports_itself_back(package):
    cycles = import_cycles(package)
    assert not cycles, "import cycles (break each by moving what both need to a module " \
        "of its own):\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_script_of_the_web_client_imports_itself_back():
    folder = ROOT / "nirvana" / "web" / "static" / "js"
    assert len(list(folder.glob("*.js"))) > 10  # the scripts are where this test looks
    cycles = script_import_cycles(folder)
    assert not cycles, "import cycles (let the lower module report upwards through a " \
        "callback its page gives it at start):\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycles_of_finds_a_circle_and_only_it():
    edges = {"page": {"list", "state"}, "list": {"open"}, "open": {"list", "state"},
             "state": set(), "self": {"self"}}
    assert sorted(cycles_of(edges)) == [["list", "open"], ["self"]]
