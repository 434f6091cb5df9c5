"""Configuration once: each function reads its settings at handler entry, and its Environment in template.yaml
holds exactly the variables of the settings classes its handler reads (no function gets another's settings)."""

import re
from pathlib import Path

import pytest

from orgbackup.alerts import AlertSettings
from orgbackup.changes import OffboardingSettings
from orgbackup.coverage_report import CoverageSettings
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup_tools import deployment, function_settings

ROOT = deployment.PROJECT_ROOT
TEMPLATE = deployment.load_template()
FUNCTIONS = function_settings.template_functions(TEMPLATE)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_gets_exactly_the_variables_its_handler_reads(name: str) -> None:
    # Given the settings classes the function's handler reads at entry
    classes = function_settings.settings_classes(function_settings.handler_path(TEMPLATE, FUNCTIONS[name]))
    # When SAM merges Globals and the function's own Environment
    variables = function_settings.environment_of(TEMPLATE, name)
    # Then, Powertools' own variables aside, they are exactly the classes' variables
    settings = {key for key in variables if not key.startswith(function_settings.POWERTOOLS_PREFIX)}
    assert settings == function_settings.variables_of(classes)


def test_handlers_name_the_classes_they_read() -> None:
    # The finder reads the source: a sample of what it must find, so a broken finder cannot pass the test above.
    def read(function: str) -> tuple[type, ...]:
        return function_settings.settings_classes(ROOT / "functions" / function / "app.py")

    assert read("resolve_accounts") == (Settings,)
    assert read("reattach_backup_policies") == (Settings, PolicyParameters)
    assert read("apply_backup_policies") == (Settings, PolicyParameters)
    assert read("format_backup_alert") == (AlertSettings,)
    assert read("coverage_report") == (Settings, CoverageSettings)
    assert read("report_onboarding") == ()
    assert read("offboard_accounts") == (Settings, PolicyParameters, OffboardingSettings)
    assert read("inspect_offboarding") == (Settings,)


def test_the_alert_formatter_and_the_report_get_no_deployment_settings() -> None:
    for name in ("FormatBackupAlertFunction", "ReportOnboardingFunction"):
        assert "ORGANIZATION_ID" not in function_settings.environment_of(TEMPLATE, name), name


def test_only_handlers_read_the_environment() -> None:
    # Settings are read at handler entry, never in domain code: the layer reads os.environ in one place
    # (settings_loader.from_environment), which only handlers call.
    layer = ROOT / "layers" / "shared" / "orgbackup"
    readers = [
        str(path.relative_to(ROOT))
        for path in layer.rglob("*.py")
        if path.name != "settings_loader.py"
        and re.search(r"os\.environ|getenv|from_environment\(", path.read_text("utf-8"))
    ]
    assert readers == []
    handlers = list((ROOT / "functions").glob("*/app.py"))
    assert handlers
    assert not [path for path in handlers if re.search(r"os\.environ|getenv", path.read_text("utf-8"))]


def test_a_class_read_twice_is_listed_once(tmp_path: Path) -> None:
    handler = tmp_path / "app.py"
    handler.write_text(
        "from orgbackup.settings_loader import from_environment\nfrom orgbackup.settings import Settings as S\n"
        "def lambda_handler(event, context):\n    return from_environment(S), from_environment(S)\n",
        encoding="utf-8",
    )
    assert function_settings.settings_classes(handler) == (Settings,)
