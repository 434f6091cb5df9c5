"""The floors of the Lambda code (README, "Architecture"): handlers -> workflow steps and domain -> AWS adapters ->
core. Each floor imports only from the floors below it; boto3 is reached through the adapters only (no import of it,
and no call of an injected client's methods); the layer's modules import one another without cycles."""

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

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


# ---------------------------------------------------------------------------------------------------------------
# No AWS call outside the adapters: a client a domain module is handed goes to an adapter, never to ``client.op()``


@cache
def aws_operation_names() -> frozenset[str]:
    """Every boto3 client method that calls AWS, of each service the project makes a client for anywhere (a
    ``client("<service>")`` call in the functions, the layer or the tools): each operation, snake_case."""
    sources = [*(ROOT / "functions").rglob("*.py"), *LAYER.rglob("*.py"), *(ROOT / "tools").rglob("*.py")]
    services = {
        service
        for path in sources
        for service in re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']""", path.read_text(encoding="utf-8"))
    }
    loader = botocore.session.get_session().get_component("data_loader")
    return frozenset(
        xform_name(operation)
        for service in services
        for operation in loader.load_service_model(service, "service-2")["operations"]
    )


@cache
def layer_function_names() -> frozenset[str]:
    """The functions and methods the layer defines (an adapter may name a method after the operation it wraps)."""
    return frozenset(
        node.name
        for path in layer_modules().values()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def client_types(tree: ast.Module) -> set[str]:
    """The boto3 client classes a module names for its annotations (``from mypy_boto3_x import XClient``)."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mypy_boto3_")
        for alias in node.names
        if alias.name.endswith("Client")
    }


def direct_client_calls(path: Path) -> Iterator[str]:
    """Where ``path`` reaches an AWS client's methods: an attribute of a parameter, field or ``self`` attribute
    annotated with a boto3 client type, or a method named like an AWS operation that the layer does not define."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    types = client_types(tree)

    def is_client(annotation: ast.expr | None) -> bool:
        """A client type, or a union with one (``"IAMClient | None"``); a container of clients is not one."""
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            annotation = ast.parse(annotation.value, mode="eval").body
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            return is_client(annotation.left) or is_client(annotation.right)
        return isinstance(annotation, ast.Name) and annotation.id in types

    def parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
        arguments = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
        return {argument.arg for argument in arguments if is_client(argument.annotation)}

    # Each function's client parameters, and each class's client fields (annotated, or set from a client parameter),
    # are looked at where they are in scope.
    scopes: list[tuple[ast.AST, set[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            scopes.append((node, parameters(node)))
        elif isinstance(node, ast.ClassDef):
            fields = {
                f"self.{item.target.id}"
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and is_client(item.annotation)
            }
            for method in node.body:
                if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                    given = parameters(method)
                    fields |= {
                        ast.unparse(target)
                        for assign in ast.walk(method)
                        if isinstance(assign, ast.Assign)
                        and isinstance(assign.value, ast.Name)
                        and assign.value.id in given
                        for target in assign.targets
                        if isinstance(target, ast.Attribute)
                    }
            scopes.append((node, fields))
    found: set[tuple[int, str, str]] = set()
    for scope, clients in scopes:
        for node in ast.walk(scope):
            if isinstance(node, ast.Attribute) and ast.unparse(node.value) in clients:
                found.add((node.lineno, ast.unparse(node), "a client's method"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in aws_operation_names()
            and node.attr not in layer_function_names()
        ):
            found.add((node.lineno, ast.unparse(node), "an AWS operation"))
    for line, text, what in sorted(found):
        yield f"line {line}: {text} ({what})"


def test_only_the_adapters_call_aws_clients() -> None:
    wrong = [
        f"{module} {where}"
        for module, path in layer_modules().items()
        if floor(module) != "adapters"
        for where in direct_client_calls(path)
    ]
    wrong += [f"{path.relative_to(ROOT)} {where}" for path in HANDLERS for where in direct_client_calls(path)]
    assert wrong == []
