"""Which settings classes each Lambda function's handler reads, and so which environment variables it needs.

A handler reads its settings at entry with ``orgbackup.settings_loader.from_environment(SomeSettings)``; this
module finds those calls in ``functions/<name>/app.py`` (the source, not a list kept by hand) and names each class's
variables the way ``orgbackup.settings_loader`` reads them. The template's per-function Environment, `sam local
invoke`'s env file and the local simulation are checked against it. Development-only.
"""

import ast
import dataclasses
import importlib
from pathlib import Path
from typing import Any

from orgbackup import settings_loader
from orgbackup_tools.deployment import PROJECT_ROOT, function_setting

# The call a handler reads one settings class with.
READER = "from_environment"
# Variables Powertools reads itself (Globals give them to every function); not settings of this product.
POWERTOOLS_PREFIX = "POWERTOOLS_"


def handler_path(template: dict[str, Any], function: dict[str, Any]) -> Path:
    """``functions/<name>/app.py`` of an ``AWS::Serverless::Function`` resource of ``template`` (its Handler, or the
    one in Globals)."""
    properties = function["Properties"]
    module = str(function_setting(template, properties, "Handler")).rsplit(".", 1)[0]
    return PROJECT_ROOT / str(properties["CodeUri"]) / f"{module}.py"


def settings_classes(path: Path) -> tuple[type, ...]:
    """The classes the handler at ``path`` passes to ``from_environment``, in the order they appear; each name is
    resolved through the handler's own ``from <module> import <name>``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    names = [
        node.args[0].id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == READER or getattr(node.func, "attr", None) == READER)
        and node.args
        and isinstance(node.args[0], ast.Name)
    ]
    classes: list[type] = []
    for name in names:
        module, attribute = imported[name]
        cls = getattr(importlib.import_module(module), attribute)
        if cls not in classes:
            classes.append(cls)
    return tuple(classes)


def variables_of(classes: tuple[type, ...]) -> set[str]:
    """The environment variables ``settings_loader.load`` reads for ``classes``."""
    return {settings_loader.key_for(field.name, "env") for cls in classes for field in dataclasses.fields(cls)}


def template_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def environment_of(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The function's variables as SAM sets them: Globals, then the function's own."""
    variables = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    own = template["Resources"][name]["Properties"].get("Environment", {}).get("Variables", {})
    variables.update(own)
    return variables
