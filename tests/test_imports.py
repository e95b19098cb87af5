"""Imports go one way: the domain (``clipjury/``, with ``storage/`` under it) never reaches up into the
surfaces that use it (the API, the pages, the workers, the command line), the pages take the domain's
constants from the domain, and no import cycle hides inside a function.

Every module is parsed with ``ast``; imports at module level and inside functions count alike, and so do
module names passed as strings to ``__import__`` / ``importlib.import_module``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The first-party top-level packages. ``clipjury_cli`` is the composition root: it may import everything.
SURFACES = ("api", "review_ui", "public_ui", "workers", "clipjury_cli", "tests", "bench", "scripts")
DOMAIN = ("clipjury", "storage")

# What the pages may take from ``api``: the request's dependencies (the unit of work, the signed-in user),
# which are FastAPI wiring shared by both surfaces. Constants, errors and rules come from the domain.
PAGES_MAY_USE_FROM_API = {
    "api.deps": frozenset({"CurrentUser", "SessionDep", "cookie_user", "user_from_request", "csrf_header_matches"}),
    # Request-parameter patterns: parsing, shared by the two surfaces, not a rule.
    "api.params": frozenset({"NO_NUL"}),
    # An export's bytes as an HTTP download (headers, filename encoding): HTTP plumbing both surfaces share.
    "api.downloads": frozenset({"file_response"}),
}

# Function-level imports of ``clipjury.*`` inside ``clipjury/`` that are allowed, each with its reason.
# A function-level import is otherwise how a cycle gets hidden: fix the layering instead of adding here.
LOCAL_IMPORT_ALLOWLIST: dict[tuple[str, str], str] = {
    # Owned by the reviews helper's slice (issue 13 item 1); campaigns does not import reviews, so this is
    # not a cycle and can move to the top of the module when that file is next edited.
    ("clipjury/reviews/service.py", "clipjury.campaigns.service"): "no cycle; pending a move to module level",
}


@dataclass(frozen=True)
class Found:
    path: str
    line: int
    module: str
    names: tuple[str, ...]
    in_function: bool


def _resolve(rel: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = Path(rel).parts[: -node.level]
    return ".".join([*package, *([node.module] if node.module else [])])


def imports_of(path: Path, rel: str | None = None) -> list[Found]:
    """Every import in ``path``; ``rel`` is its path in the repository (for relative imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = rel or path.relative_to(ROOT).as_posix()
    found: list[Found] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Found(rel, child.lineno, alias.name, (), in_function))
            elif isinstance(child, ast.ImportFrom):
                found.append(Found(rel, child.lineno, _resolve(rel, child), tuple(a.name for a in child.names),
                                   in_function))
            elif isinstance(child, ast.Call) and child.args:
                func = child.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                first = child.args[0]
                if name in ("__import__", "import_module") and isinstance(first, ast.Constant) and isinstance(
                    first.value, str
                ):
                    found.append(Found(rel, child.lineno, first.value, (), True))
            elif isinstance(child, ast.Tuple | ast.List) and name_of_import_list(child):
                # A tuple of module names fed to __import__ in a loop (a plugin list) imports them all.
                for element in child.elts:
                    assert isinstance(element, ast.Constant) and isinstance(element.value, str)
                    found.append(Found(rel, child.lineno, element.value, (), True))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return found


def name_of_import_list(node: ast.Tuple | ast.List) -> bool:
    """A literal list of dotted first-party module names (e.g. commands registered by name)."""
    values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return (
        len(values) == len(node.elts) > 0
        and all(" " not in v and "." in v and v.split(".")[0] in SURFACES + DOMAIN for v in values)
    )


def modules(*packages: str) -> list[Path]:
    return sorted(
        path for package in packages for path in (ROOT / package).rglob("*.py")
        if "migrations/versions" not in path.as_posix()
    )


def top(module: str) -> str:
    return module.split(".")[0]


def test_domain_imports_nothing_above_it() -> None:
    wrong = [
        f"{f.path}:{f.line} imports {f.module}"
        for f in (found for path in modules(*DOMAIN) for found in imports_of(path))
        if top(f.module) in SURFACES
    ]
    assert wrong == [], "the domain must not import the surfaces that use it:\n" + "\n".join(wrong)


def test_storage_takes_only_errors_and_settings_from_clipjury() -> None:
    # storage sits under the domain services: it speaks the domain's errors and reads its settings, nothing more.
    allowed = {"clipjury.errors", "clipjury.settings"}
    wrong = [
        f"{f.path}:{f.line} imports {f.module}"
        for f in (found for path in modules("storage") for found in imports_of(path))
        if top(f.module) == "clipjury" and f.module not in allowed
    ]
    assert wrong == [], "\n".join(wrong)


def test_pages_take_domain_constants_from_the_domain() -> None:
    wrong: list[str] = []
    for f in (found for path in modules("review_ui", "public_ui") for found in imports_of(path)):
        if top(f.module) != "api":
            continue
        allowed = PAGES_MAY_USE_FROM_API.get(f.module, frozenset())
        extra = sorted(set(f.names) - allowed) if f.names else [f.module]
        if extra:
            wrong.append(f"{f.path}:{f.line} takes {extra} from {f.module}")
    assert wrong == [], "the pages import these from api/ (they belong in clipjury/):\n" + "\n".join(wrong)


def test_no_import_hidden_in_a_function_inside_the_domain() -> None:
    wrong = [
        f"{f.path}:{f.line} imports {f.module} inside a function"
        for f in (found for path in modules("clipjury") for found in imports_of(path))
        if f.in_function and top(f.module) == "clipjury" and (f.path, f.module) not in LOCAL_IMPORT_ALLOWLIST
    ]
    assert wrong == [], "move these to the top of their module (fix the cycle they hide):\n" + "\n".join(wrong)


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, at any level."""
    graph: dict[str, set[str]] = {}
    for path in modules(package):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        targets = graph.setdefault(name, set())
        for f in imports_of(path):
            if top(f.module) != package:
                continue
            # ``from clipjury.uploads import concat`` names a module; ``from x import name`` names x.
            candidates = [f"{f.module}.{n}" for n in f.names] + [f.module]
            targets.update(c for c in candidates if (ROOT / (c.replace(".", "/") + ".py")).exists())
    return graph


def cycles_in(package: str) -> list[list[str]]:
    return sorted(sorted(c) for c in strongly_connected(import_graph(package)) if len(c) > 1)


def test_domain_has_no_import_cycle() -> None:
    """Imports between ``clipjury`` modules, at any level, form no cycle."""
    cycles = cycles_in("clipjury")
    assert cycles == [], "import cycles inside clipjury/:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_pages_have_no_import_cycle_and_none_hidden_in_a_function() -> None:
    """review_ui goes one way: pages -> context, presenters, core; nothing is imported inside a function
    (which is how the old web.py <-> pages.py cycle hid)."""
    hidden = [
        f"{f.path}:{f.line} imports {f.module} inside a function"
        for f in (found for path in modules("review_ui", "public_ui") for found in imports_of(path))
        if f.in_function
    ]
    assert hidden == [], "move these to the top of their module:\n" + "\n".join(hidden)
    cycles = cycles_in("review_ui")
    assert cycles == [], "import cycles inside review_ui/:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_ui_layers_point_down() -> None:
    """A page module imports no other page module; core/ and presenters/ import no page (a rule or helper
    two pages share belongs below them)."""
    wrong = [
        f"{module} imports {target}"
        for module, targets in import_graph("review_ui").items()
        for target in targets
        if target.startswith("review_ui.pages.") and module != "review_ui.app"
    ]
    assert wrong == [], "\n".join(sorted(wrong))


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components: a component of more than one module is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def test_the_checker_sees_what_it_must(tmp_path: Path) -> None:
    """The rules above would catch a hidden import: the walker sees function bodies, relative imports and
    module names given as strings."""
    sample = tmp_path / "probe.py"
    sample.write_text(
        "from . import settings\n"
        "def f() -> None:\n"
        "    from workers.worker import run_worker\n"
        "    __import__('api.app')\n"
        "    for name in ('review_ui.web', 'workers.commands'):\n"
        "        pass\n",
        encoding="utf-8",
    )
    found = imports_of(sample, "clipjury/probe.py")
    seen = {(f.module, f.in_function) for f in found}
    assert seen == {
        ("clipjury", False), ("workers.worker", True), ("api.app", True),
        ("review_ui.web", True), ("workers.commands", True),
    }


@pytest.mark.parametrize("path", ["review_ui/pages/x.py", "api/routes/x.py"])
def test_lint_refuses_a_query_in_a_page_or_a_route(path: str) -> None:
    """The ruff banned-api rule (pyproject) that `make lint` runs: a page or a route that builds a query
    fails lint; the same code in the domain passes."""
    source = "from sqlmodel import select\n\nfrom clipjury.works.models import Work\n\nQUERY = select(Work)\n"
    ruff = [str(Path(sys.executable).with_name("ruff")), "check", "--no-cache", "--select", "TID251"]
    page = subprocess.run([*ruff, "--stdin-filename", path, "-"], input=source, capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert page.returncode == 1 and "TID251" in page.stdout, page.stdout + page.stderr
    domain = subprocess.run([*ruff, "--stdin-filename", "clipjury/works/x.py", "-"], input=source,
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert domain.returncode == 0, domain.stdout + domain.stderr
