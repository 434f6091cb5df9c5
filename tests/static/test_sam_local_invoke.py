"""`sam local invoke` as the README shows it: the environment SAM CLI gives each function, resolved by SAM CLI's
own code from template.yaml, samconfig.toml's ``local_invoke`` section and its env file, passes the settings
validation every handler runs at entry (before this, SAM handed the functions their parameters' *names*)."""

import json
from pathlib import Path
from typing import Any

import pytest
from samcli.lib.config.samconfig import SamConfig
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.lambdafn.env_vars import EnvironmentVariables

from orgbackup import settings_loader
from orgbackup.exceptions import ConfigurationError
from orgbackup.settings import Settings
from orgbackup_tools import deployment, function_settings

ROOT = deployment.PROJECT_ROOT
LOCAL_INVOKE = deployment.samconfig_section(command="local_invoke")
TEMPLATE = deployment.load_template()


def _functions(parameter_overrides: dict[str, str]) -> list[Any]:
    # What `sam local invoke` does without credentials: pseudo parameters at SAM's defaults (AWS::AccountId
    # 123456789012), the Region from the environment.
    stacks, _ = SamLocalStackProvider.get_stacks(
        str(ROOT / "template.yaml"),
        parameter_overrides=parameter_overrides,
        global_parameter_overrides={"AWS::Region": "us-east-1"},
    )
    return list(SamFunctionProvider(stacks).get_all())


def sam_environment(function: Any, env_file: dict[str, Any]) -> dict[str, str]:
    """The variables SAM CLI sets in the function's container (LocalLambdaRunner._make_env_vars: the env file's
    "Parameters", then the function's own entry, over the template's values), shell environment left out."""
    overrides: dict[str, Any] = dict(env_file.get("Parameters", {}))
    overrides.update(env_file.get(function.name, {}))
    variables = (function.environment or {}).get("Variables", {})
    environment = EnvironmentVariables(
        function.name,
        function.memory,
        function.timeout,
        function.handler,
        function.logging_config,
        variables=variables,
        shell_env_values={},
        override_values=overrides,
        aws_creds={},
    )
    resolved: dict[str, str] = environment.resolve()
    return resolved


def _classes(name: str) -> tuple[type, ...]:
    """The settings classes the function's handler reads at entry."""
    return function_settings.settings_classes(function_settings.handler_path(TEMPLATE, TEMPLATE["Resources"][name]))


def _validate(name: str, environment: dict[str, str]) -> None:
    for settings in _classes(name):
        settings_loader.load(settings, environment)


def test_samconfig_has_a_local_invoke_section_with_parameters_and_an_env_file() -> None:
    # Read the way SAM CLI reads it for `sam local invoke` (global parameters included).
    section = SamConfig(str(ROOT)).get_all(["local", "invoke"], "parameters")
    assert section["env_vars"] == LOCAL_INVOKE["env_vars"] == "events/env.json"
    assert section["parameter_overrides"] == LOCAL_INVOKE["parameter_overrides"]
    assert (ROOT / LOCAL_INVOKE["env_vars"]).is_file()
    assert deployment.samconfig_overrides(command="local_invoke")


def test_local_invoke_names_the_same_organization_as_deploy() -> None:
    # One place to CHANGE in a user's head: the local section mirrors the deploy section's required values.
    deploy = deployment.samconfig_overrides()
    local = deployment.samconfig_overrides(command="local_invoke")
    for key in ("OrganizationId", "CentralBackupAccountId", "BackupRegions"):
        assert local[key] == deploy[key], key


def test_every_function_gets_an_environment_that_passes_its_settings_validation() -> None:
    env_file = json.loads((ROOT / LOCAL_INVOKE["env_vars"]).read_text(encoding="utf-8"))
    functions = _functions(deployment.samconfig_overrides(command="local_invoke"))
    assert {function.name for function in functions} >= {"ResolveAccountsFunction", "FormatBackupAlertFunction"}
    for function in functions:
        environment = sam_environment(function, env_file)
        _validate(function.name, environment)
        if Settings in _classes(function.name):
            assert environment["ORGANIZATION_ID"] == "o-a1b2c3d4e5"
            assert environment["MANAGEMENT_ACCOUNT_ID"] == "123456789012"


def test_env_file_entries_are_objects_and_name_real_functions() -> None:
    # SAM refuses an env file whose top-level values are not objects (OverridesNotWellDefinedError).
    env_file = json.loads((ROOT / LOCAL_INVOKE["env_vars"]).read_text(encoding="utf-8"))
    names = {function.name for function in _functions(deployment.samconfig_overrides(command="local_invoke"))}
    for key, value in env_file.items():
        assert isinstance(value, dict), key
        assert key == "Parameters" or key in names, key


def test_without_the_local_section_the_functions_get_parameter_names_and_fail_validation() -> None:
    # The failure the README's commands hit before: the check above can fail.
    function = next(f for f in _functions({}) if f.name == "ResolveAccountsFunction")
    environment = sam_environment(function, {})
    assert environment["ORGANIZATION_ID"] == "OrganizationId"
    with pytest.raises(ConfigurationError, match="ORGANIZATION_ID"):
        _validate(function.name, environment)


def test_the_topic_arn_comes_from_the_env_file_not_the_template() -> None:
    function = next(f for f in _functions({}) if f.name == "FormatBackupAlertFunction")
    assert sam_environment(function, {})["NOTIFICATION_TOPIC_ARN"] == "NotificationTopic"  # a logical ID, no ARN
    env_file = json.loads(Path(ROOT / "events/env.json").read_text(encoding="utf-8"))
    assert sam_environment(function, env_file)["NOTIFICATION_TOPIC_ARN"].startswith("arn:aws:sns:")
