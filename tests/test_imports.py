"""The house rules of lmscope's imports (issue 16): no cycle, imports that point down (shared modules import no
study, neither study imports the other), lmscope's own modules imported at the top of a module, and an import
inside a function only for a heavy or optional dependency, with a comment saying so."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lmscope"
STUDIES = ("lmscope.sae_checkpoints", "lmscope.mmneuron")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(node: ast.AST, importer: str) -> list[str]:
    """The lmscope modules an import statement loads (a name imported from a package that is a module counts
    as that module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "lmscope"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: resolve against the importer's package
        base = importer.rsplit(".", node.level)[0] if not MODULES[importer].name == "__init__.py" else importer
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if source.split(".")[0] != "lmscope":
        return []
    return [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]


def imports(name: str) -> list[tuple[ast.AST, str, bool]]:
    """(statement, imported lmscope module, inside a function?) for every import of module `name`."""
    tree = ast.parse(MODULES[name].read_text())
    out = []

    def walk(node, nested):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for target in imported(child, name):
                out.append((child, target, nested))
            walk(child, inner)

    walk(tree, False)
    return out


GRAPH = {name: sorted({target for _, target, _ in imports(name) if target != name}) for name in MODULES}


def find_cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in GRAPH.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read_from_real_imports():
    # the walk must see imports inside functions and `from lmscope.x import module`, or the checks below see nothing
    assert "lmscope.errors" in GRAPH["lmscope.atomic"]
    assert "lmscope.sae_checkpoints.sae" in GRAPH["lmscope.sae_checkpoints.top_texts"]
    assert any(nested for _, _, nested in imports("lmscope.hub")) is False
    assert len(MODULES) > 40


def test_no_import_cycle():
    assert find_cycle() is None, " -> ".join(find_cycle())


def test_a_cycle_would_be_found(monkeypatch):
    monkeypatch.setitem(GRAPH, "lmscope.errors", GRAPH["lmscope.errors"] + ["lmscope.atomic"])
    assert find_cycle() == ["lmscope.atomic", "lmscope.errors", "lmscope.atomic"]


def study_of(name: str) -> str | None:
    return next((s for s in STUDIES if name == s or name.startswith(s + ".")), None)


def test_imports_point_down():
    wrong = []
    for name, targets in GRAPH.items():
        for target in targets:
            home, away = study_of(name), study_of(target)
            if away is not None and away != home and target != away:
                wrong.append(f"{name} imports {target}")
            if away is not None and home is None and name != "lmscope":
                wrong.append(f"shared module {name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_lmscope_modules_are_imported_at_the_top():
    nested = [f"{MODULES[name].relative_to(PACKAGE.parent)}:{node.lineno} imports {target}"
              for name in MODULES for node, target, inside in imports(name) if inside]
    assert not nested, "\n".join(nested)


def test_an_import_inside_a_function_says_why():
    silent = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    here, above = lines[inner.lineno - 1], lines[inner.lineno - 2]
                    if "#" not in here and not above.strip().startswith("#"):
                        silent.append(f"{path.relative_to(PACKAGE.parent)}:{inner.lineno}: {here.strip()}")
    assert not silent, "imports inside functions without a comment saying why:\n" + "\n".join(sorted(set(silent)))
