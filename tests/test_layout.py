"""The package's plan: every command a stage module that only the CLI imports, no stage importing another, no import
circles, and a first docstring line in every module that says what it holds."""

import ast
from pathlib import Path

import pytest

from dancenow import cli

SRC = Path(__file__).resolve().parents[1] / "src"


def modules(root):
    """{module name: path} of every .py file of the packages under `root`."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(name, path, known):
    """The modules of `known` that module `name` imports: import statements anywhere in it (relative ones resolved,
    `from package import module` as the module) and string constants that name a module (importlib)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return {m for m in found if m in known and m != name}


def import_graph(root):
    known = modules(root)
    return {name: imported(name, path, known) for name, path in known.items()}


def circles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def plan_violations(graph, package):
    """What breaks the plan: a stage imported by anything but the CLI, or an import circle."""
    stages = {m for m in graph if m.startswith(f"{package}.stages.")}
    bad = [f"{m} imports the stage {s}" for m, deps in sorted(graph.items()) if m != f"{package}.cli"
           for s in sorted(deps & stages)]
    return bad + [f"import circle: {' -> '.join(c)}" for c in circles(graph)]


def test_stages_are_leaves_and_there_is_no_circle():
    graph = import_graph(SRC)
    assert plan_violations(graph, "dancenow") == []
    assert "dancenow.pose.mediapipe_holistic" in graph["dancenow.pose.estimate"]  # the backends' table is seen


def test_every_command_is_one_stage_module_with_run():
    stage_files = {p.stem for p in (SRC / "dancenow" / "stages").glob("*.py") if p.stem != "__init__"}
    assert stage_files == set(cli.COMMANDS)
    for name in cli.COMMANDS:
        tree = ast.parse((SRC / "dancenow" / "stages" / f"{name}.py").read_text())
        assert "run" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, name


def test_the_checker_finds_a_stage_import_and_a_circle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "stages").mkdir(parents=True)
    files = {"__init__.py": "", "cli.py": "from .stages import a\n", "stages/__init__.py": "",
             "stages/a.py": "from . import b\n", "stages/b.py": "", "lib.py": "from .other import x\n",
             "other.py": "import pkg.lib\n"}
    for name, text in files.items():
        (pkg / name).write_text(text)
    assert plan_violations(import_graph(tmp_path), "pkg") == ["pkg.stages.a imports the stage pkg.stages.b",
                                                               "import circle: pkg.lib -> pkg.other"]


@pytest.mark.parametrize("name", sorted(modules(SRC)))
def test_every_module_says_what_it_holds(name):
    doc = ast.get_docstring(ast.parse(modules(SRC)[name].read_text()))
    assert doc and len(doc.splitlines()[0].split()) >= 4, f"{name}: no first docstring line saying what it holds"
