"""tools/orgbackup_tools: the CLI (cli.py and commands/) sits on top; nothing below it imports from commands/, so
the bench, the simulation and the checks can change without the CLI and the CLI without them."""

import ast
from pathlib import Path

from orgbackup_tools import deployment

TOOLS = deployment.PROJECT_ROOT / "tools" / "orgbackup_tools"
COMMANDS = "orgbackup_tools.commands"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_module_below_the_cli_imports_from_commands() -> None:
    # Given every module of orgbackup_tools but the CLI itself
    below = [path for path in TOOLS.glob("*.py") if path.name != "cli.py"]
    assert len(below) > 10
    # When reading what each imports
    offenders = {
        path.name: sorted(name for name in imported_modules(path) if name.startswith(COMMANDS)) for path in below
    }
    # Then none imports a command
    assert {name: modules for name, modules in offenders.items() if modules} == {}


def test_the_check_sees_an_import_from_commands_inside_a_function(tmp_path: Path) -> None:
    # Given a module importing a command's function lazily, as the bench once did
    module = tmp_path / "lazy.py"
    module.write_text("def run():\n    from orgbackup_tools.commands.simulate import plan_world\n", encoding="utf-8")
    # When reading its imports
    # Then the import is found
    assert "orgbackup_tools.commands.simulate" in imported_modules(module)
