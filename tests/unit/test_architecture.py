"""The code's shape holds: the domain imports nothing from the outside, and no module of
`nirvana/` imports itself back through a chain of others (DESIGN.md, "Shape")."""

from __future__ import annotations

from pathlib import Path

import logging

import grimp
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
    """Every group of modules that import each other in a circle (strongly connected
    components of more than one module, or a module importing itself), with the imports
    under `if TYPE_CHECKING:` left out: those never run."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    edges = {m: graph.find_modules_directly_imported_by(m) & graph.modules
             for m in graph.modules}
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

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_of_nirvana_imports_itself_back():
    cycles = import_cycles("nirvana")
    assert not cycles, "import cycles (break each by moving what both need to a module " \
        "of its own):\n" + "\n".join(" <-> ".join(c) for c in cycles)
