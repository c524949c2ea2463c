"""The architecture, checked on the import graph: the layers, their direction, the rules.

Every module under ``console/`` and ``widgets/`` is parsed (never imported) and its
imports are checked against the layers the README describes, lowest first:

    errors, redact, pids, views  <  plan  <  store  <  processes  <  kafka
      <  shadow | compare | governance | safe | traffic  <  cutover  <  scorecard
      <  runbook  <  sandbox  <  tui, widgets  <  cli

An import may point down or sideways within a layer, never up; the peers of the middle
layer (shadow, compare, governance, safe, traffic) do not import each other. The cutover sits on
them: it translates with the shadow path's offset maps and refines with the
comparison's pairing. On top of that: the engine never imports Textual, panes and views
never touch Kafka or SQLite, the store never imports what sits above it, SQL runs only
in the store, nothing reaches for ``store.conn``, no importlib, and no import inside a
function unless it is in the commented allow-list below. Each failure names the file
and line to fix.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    p
    for top in ("console", "widgets")
    for p in (ROOT / top).rglob("*.py")
    if "__pycache__" not in p.parts
)

ROOT_PACKAGE = "console"
"""The package itself (a docstring and the version): layer 0, and only it."""
# Module prefix -> layer (lowest 0). The longest matching prefix wins.
LAYERS = {
    "console.errors": 0,
    "console.redact": 0,
    "console.pids": 0,
    "console.views": 0,
    "console.plan": 1,
    "console.store": 2,
    "console.processes": 3,
    "console.kafka": 4,
    "console.shadow": 5,
    "console.compare": 5,
    "console.governance": 5,
    "console.safe": 5,
    "console.traffic": 5,
    "console.cutover": 6,
    "console.scorecard": 7,
    "console.runbook": 8,
    "console.sandbox": 9,
    "console.tui": 10,
    "widgets": 10,
    "console.cli": 11,
}
PEERS = (
    "console.shadow",
    "console.compare",
    "console.governance",
    "console.safe",
    "console.traffic",
)

# Imports inside a function, each with the measured reason it is not at the top.
LOCAL_IMPORTS_ALLOWED = {
    # Textual and the panes cost about 0.28 s of CPU per start (measured: 0.79 s against
    # 0.51 s user+sys, median of 7); only `cutover run` and `cutover demo` need them, and
    # the mirror, sampler and workload processes start through the same command line.
    ("console/cli/console.py", "console.tui.app"),
    # confluent-kafka's registry client brings httpx, authlib and joserfc: 0.5 s of CPU per
    # start (`cutover --version` 1.96 s against 1.46 s user+sys, median of 9, the suite
    # running beside it); only the commands that ask a registry need it.
    ("console/kafka/registry.py", "confluent_kafka.schema_registry"),
    ("console/kafka/registry.py", "confluent_kafka.schema_registry.error"),
    # The validation consumer's payload decoders: 0.08 s per start (python -X importtime),
    # needed once a record names a schema.
    ("console/safe/validate.py", "fastavro"),
    ("console/safe/validate.py", "jsonschema"),
    # sqlite-utils (its plugin loader, 0.14 s) makes a new run database, nothing else;
    # keyring (finding its backends, 0.07 s) answers only password look-ups.
    ("console/store/db.py", "sqlite_utils"),
    ("console/plan/credentials.py", "keyring"),
    ("console/plan/credentials.py", "keyring.errors"),
}

SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|WITH)\b", re.I
)


@dataclass(frozen=True)
class Import:
    path: str
    line: int
    target: str
    local: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p) for p in SOURCES}


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module = module_name(path)
    rel = str(path.relative_to(ROOT))
    found: list[Import] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend(Import(rel, child.lineno, a.name, local) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child, module, path.name == "__init__.py")
                found.append(Import(rel, child.lineno, base, local))
                for alias in child.names:
                    if f"{base}.{alias.name}" in MODULES:
                        found.append(Import(rel, child.lineno, f"{base}.{alias.name}", local))
            visit(child, inside)

    visit(tree, False)
    return found


GRAPH = {path: imports_of(path) for path in SOURCES}


def layer(module: str) -> tuple[str, int] | None:
    if module == ROOT_PACKAGE:
        return (ROOT_PACKAGE, 0)
    best = None
    for prefix, rank in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, rank)
    return best


def ours(target: str) -> bool:
    return target == "console" or target.startswith(("console.", "widgets"))


def violations(check) -> list[str]:
    out = []
    for path, imports in GRAPH.items():
        module = module_name(path)
        for imp in imports:
            problem = check(module, imp)
            if problem:
                out.append(f"{imp.path}:{imp.line}: {module} imports {imp.target}: {problem}")
    return out


def test_every_module_sits_in_a_layer():
    assert len(SOURCES) > 50, "parsed too few modules: is ROOT right?"
    missing = [module_name(p) for p in SOURCES if layer(module_name(p)) is None]
    assert missing == [], f"modules in no layer (move them into a layer package): {missing}"


def test_no_import_points_up_a_layer():
    def check(module, imp):
        if not ours(imp.target):
            return None
        source, target = layer(module), layer(imp.target)
        if source is None or target is None:
            return "in no layer"
        if target[1] > source[1]:
            return f"layer {target[0]} sits above {source[0]}"
        if source[0] != target[0] and source[0] in PEERS and target[0] in PEERS:
            return f"{source[0]} and {target[0]} are peers and do not import each other"
        return None

    assert violations(check) == []


def test_the_engine_never_imports_textual():
    def check(module, imp):
        engine = module.startswith("console") and not module.startswith("console.tui")
        if engine and (imp.target == "textual" or imp.target.startswith("textual.")):
            return "only console.tui may import Textual"
        return None

    assert violations(check) == []


FORBIDDEN_FOR_PANES = (
    "confluent_kafka",
    "sqlite3",
    "sqlite_utils",
    "console.store",
    "console.kafka",
)


def _is(target: str, names: tuple[str, ...]) -> bool:
    return any(target == n or target.startswith(n + ".") for n in names)


def test_panes_and_views_never_touch_kafka_or_sqlite():
    def check(module, imp):
        pane_or_view = module.startswith("widgets") or module.startswith("console.views")
        if pane_or_view and _is(imp.target, FORBIDDEN_FOR_PANES):
            return "panes and views render data; they never reach Kafka or the run database"
        pane_only = ("console.views", "widgets")
        if module.startswith("widgets") and ours(imp.target) and not _is(imp.target, pane_only):
            return "a pane imports only console.views and widgets"
        view_only = ("console.views",)
        if (
            module.startswith("console.views")
            and ours(imp.target)
            and not _is(imp.target, view_only)
        ):
            return "views import nothing else of ours, so every layer may use them"
        return None

    assert violations(check) == []


ABOVE_THE_STORE = (
    "console.processes",
    "console.kafka",
    "console.shadow",
    "console.compare",
    "console.cutover",
    "console.safe",
    "console.scorecard",
    "console.runbook",
    "console.sandbox",
    "console.tui",
    "console.cli",
    "confluent_kafka",
)


def test_the_store_never_imports_kafka_or_what_sits_above_it():
    def check(module, imp):
        if module.startswith("console.store") and _is(imp.target, ABOVE_THE_STORE):
            return "the store knows SQLite and the plan, nothing above"
        return None

    assert violations(check) == []


def test_no_importlib_and_no_function_local_imports_outside_the_allow_list():
    def check(module, imp):
        if _is(imp.target, ("importlib",)):
            return "every dependency visible: list modules explicitly, no importlib"
        if imp.local and (imp.path, imp.target) not in LOCAL_IMPORTS_ALLOWED:
            return "import at the top of the module (or add it, measured, to the allow-list)"
        return None

    assert violations(check) == []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
                pytest.fail(
                    f"{path.relative_to(ROOT)}:{node.lineno}: __import__ hides a dependency"
                )


def _strings(node: ast.AST) -> list[str]:
    """The literal text of a string argument (plain, implicit concatenation, f-string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value for v in node.values if isinstance(v, ast.Constant))]
    if isinstance(node, ast.BinOp):
        return _strings(node.left) + _strings(node.right)
    return []


def test_sql_runs_only_in_the_store_and_nothing_reaches_for_store_conn():
    found = []
    for path in SOURCES:
        rel = str(path.relative_to(ROOT))
        if rel.startswith("console/store/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute", "executemany", "executescript")
                and node.args
                and any(SQL.match(text) for text in _strings(node.args[0]))
            ):
                found.append(f"{rel}:{node.lineno}: SQL outside console/store/")
            if isinstance(node, ast.Attribute) and node.attr == "conn":
                found.append(f"{rel}:{node.lineno}: .conn outside console/store/")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "lock"
                and isinstance(node.value, ast.Name | ast.Attribute)
                and (getattr(node.value, "id", "") or getattr(node.value, "attr", "")).endswith(
                    "store"
                )
            ):
                found.append(f"{rel}:{node.lineno}: store.lock outside console/store/")
    assert found == []
