"""The floors of the Lambda code (README, "Architecture"): handlers -> workflow steps and domain -> AWS adapters ->
core. Each floor imports only from the floors below it; boto3 is reached through the adapters only; the layer's
modules import one another without cycles."""

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared"
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))

# Core: no AWS call, no domain knowledge; what every floor above may use.
CORE = {
    "orgbackup",
    "orgbackup.exceptions",
    "orgbackup.observability",
    "orgbackup.text",
    "orgbackup.fields",
    "orgbackup.settings_loader",
    "orgbackup.settings",
    "orgbackup.regions",
    "orgbackup.retry",
    "orgbackup.custom_resource",
}
ADAPTERS = "orgbackup.aws"


def module_name(path: Path) -> str:
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def layer_modules() -> dict[str, Path]:
    return {module_name(path): path for path in LAYER.rglob("*.py")}


def imports(path: Path, *, at_runtime: bool = True) -> Iterator[str]:
    """The modules ``path`` imports (``from a import b`` yields ``a.b`` when that is a module of the layer, else
    ``a``); with ``at_runtime``, imports under ``if TYPE_CHECKING:`` are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if at_runtime:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(child) for child in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                yield dotted if dotted in layer_modules() else node.module


def floor(module: str) -> str:
    if module in CORE:
        return "core"
    if module == ADAPTERS or module.startswith(ADAPTERS + "."):
        return "adapters"
    return "domain"


BELOW = {"core": {"core"}, "adapters": {"core", "adapters"}, "domain": {"core", "adapters", "domain"}}


def test_each_floor_imports_only_from_the_floors_below() -> None:
    wrong = [
        f"{module} ({floor(module)}) imports {imported} ({floor(imported)})"
        for module, path in layer_modules().items()
        for imported in imports(path)
        if imported in layer_modules() and floor(imported) not in BELOW[floor(module)]
    ]
    assert wrong == []


def test_only_the_adapters_import_boto3_and_handlers_no_aws_sdk_at_all() -> None:
    wrong = [
        f"{module} imports {imported}"
        for module, path in layer_modules().items()
        if floor(module) != "adapters"
        for imported in imports(path)
        if imported.split(".")[0] == "boto3"
    ]
    wrong += [
        f"{path.relative_to(ROOT)} imports {imported}"
        for path in HANDLERS
        for imported in imports(path, at_runtime=False)
        if imported.split(".")[0] in ("boto3", "botocore", "orgbackup_tools")
    ]
    assert wrong == []


def test_the_layer_never_imports_the_tools_or_the_tests() -> None:
    wrong = [
        f"{module} imports {imported}"
        for module, path in layer_modules().items()
        for imported in imports(path, at_runtime=False)
        if imported.split(".")[0] in ("orgbackup_tools", "moto", "pytest", "tests")
    ]
    assert wrong == []


def test_the_layer_s_modules_import_one_another_without_cycles() -> None:
    graph = {
        module: {imported for imported in imports(path) if imported in layer_modules() and imported != module}
        for module, path in layer_modules().items()
    }
    # A package's __init__ is imported with any of its modules: that edge is Python's, not a design choice.
    for module in graph:
        graph[module] -= {parent for parent in graph if module.startswith(parent + ".")}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append([*trail[trail.index(imported) :], imported] if imported in trail else [module, imported])
            elif imported not in state:
                visit(imported, [*trail, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
