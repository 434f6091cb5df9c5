"""Deployment parameters as a deployer has them: `template.yaml` defaults overlaid by `samconfig.toml`.

The CLI and the local simulation use this to render and run exactly what `sam deploy` would deploy.
Development-only (it needs PyYAML, which the Lambda runtime does not ship); functions read the environment.
"""

import copy
import hashlib
import shlex
import threading
import tomllib
from pathlib import Path
from typing import Any

from orgbackup.exceptions import ConfigurationError
from orgbackup_tools import sam_events

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _yaml_loader() -> Any:
    import yaml  # noqa: PLC0415 - dev-only dependency

    class CfnLoader(yaml.SafeLoader):
        """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as plain data."""

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        tag = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {tag: value}

    CfnLoader.add_multi_constructor("!", construct)
    return CfnLoader


def load_template(path: Path | None = None, *, sam_events_rendered: bool = True) -> dict[str, Any]:
    """A CloudFormation/SAM template as a dict, short-form intrinsic functions expanded to their long form, and the
    functions' EventBridge rule event sources rendered as the rules and Lambda permissions SAM generates
    (orgbackup_tools.sam_events), so that readers see every rule CloudFormation deploys; with
    ``sam_events_rendered=False``, the file's resources as they are written.

    Each call returns its own copy (callers may change it). Parsing template.yaml takes most of a second and every
    emulated World, command and bench run reads it again, so each parse is kept, keyed by the file's content: a
    changed file is parsed again."""
    import yaml  # noqa: PLC0415 - dev-only dependency

    path = path or PROJECT_ROOT / "template.yaml"
    key = hashlib.sha256(path.read_bytes()).hexdigest()
    with _PARSED_LOCK:
        parsed = _PARSED.get(key)
    if parsed is None:
        with path.open(encoding="utf-8") as handle:
            parsed = yaml.load(handle, Loader=_yaml_loader())  # noqa: S506 - SafeLoader subclass
        with _PARSED_LOCK:
            _PARSED[key] = parsed
    document: dict[str, Any] = copy.deepcopy(parsed)
    return sam_events.expand(document) if sam_events_rendered and isinstance(document, dict) else document


_PARSED: dict[str, Any] = {}  # SHA-256 of a template file -> its parse
_PARSED_LOCK = threading.Lock()


def _default_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def samconfig_section(
    path: Path | None = None, environment: str = "default", command: str = "deploy"
) -> dict[str, Any]:
    """The ``[ENVIRONMENT.COMMAND.parameters]`` table of samconfig.toml (``command`` as SAM names it: ``deploy``,
    ``local_invoke``); empty when the file or the table is missing."""
    path = path or PROJECT_ROOT / "samconfig.toml"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        document = tomllib.load(handle)
    section: dict[str, Any] = document.get(environment, {}).get(command, {}).get("parameters", {})
    return section


def samconfig_overrides(
    path: Path | None = None, environment: str = "default", command: str = "deploy"
) -> dict[str, str]:
    """``parameter_overrides`` of the environment's section for ``command`` (deploy by default), as a mapping."""
    path = path or PROJECT_ROOT / "samconfig.toml"
    section = samconfig_section(path, environment, command)
    raw = section.get("parameter_overrides", [])
    items = shlex.split(raw) if isinstance(raw, str) else list(raw)
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigurationError(f"{path}: parameter_overrides item {item!r} is not Key=Value")
        overrides[key] = value
    return overrides


def deployment_parameters(
    template: Path | None = None, samconfig: Path | None = None, environment: str = "default"
) -> dict[str, str]:
    """CloudFormation parameter name -> value, as `sam deploy --config-env ENVIRONMENT` would pass them."""
    parameters = load_template(template).get("Parameters", {})
    values = {name: _default_text(spec["Default"]) for name, spec in parameters.items() if "Default" in spec}
    values.update(samconfig_overrides(samconfig, environment))
    return values


def managed_policy_documents(template: dict[str, Any], role_logical_id: str) -> dict[str, Any]:
    """Logical ID -> policy document (unresolved) of every ``AWS::IAM::ManagedPolicy`` of ``template`` attached to
    the role: named by ``Ref`` in the role's ManagedPolicyArns, or naming the role in its own Roles. AWS managed
    policies (plain ARNs) are AWS's text, not the template's, and are left out."""
    resources = template.get("Resources") or {}
    role = resources[role_logical_id].get("Properties") or {}
    attached: dict[str, Any] = {}
    for arn in role.get("ManagedPolicyArns") or []:
        name = str(arn.get("Ref")) if isinstance(arn, dict) else ""
        if name in resources and resources[name].get("Type") == "AWS::IAM::ManagedPolicy":
            attached[name] = resources[name]["Properties"]["PolicyDocument"]
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::IAM::ManagedPolicy":
            roles = (resource.get("Properties") or {}).get("Roles") or []
            if {"Ref": role_logical_id} in roles:
                attached[name] = resource["Properties"]["PolicyDocument"]
    return attached


def function_setting(template: dict[str, Any], properties: dict[str, Any], key: str) -> Any:
    """A function's ``key`` as SAM deploys it: the function's own value, else the template's ``Globals.Function``
    one ("Primitive data types ... are overridden" by the resource's, AWS SAM developer guide, "Globals section of
    the AWS SAM template"). Only for primitive settings (Handler, Runtime, Timeout, MemorySize); None when neither
    sets it."""
    if key in properties:
        return properties[key]
    return ((template.get("Globals") or {}).get("Function") or {}).get(key)
