"""Render the organization's backup policies from the templates in ``templates/`` and the deployment values.

Templates are backup policy documents (JSON) with placeholders. Substitution is structural: the template is
parsed first, then every string (object keys and values alike) is visited; the JSON text is never edited.

Placeholder syntax:

``{{name}}``
    Replaced by the value ``name``. A string that is exactly one placeholder takes the value's own type, so
    ``{"@@assign": "{{backup_regions}}"}`` becomes ``{"@@assign": ["eu-west-1", "eu-central-1"]}``. Inside a
    longer string the value must be text or a number and is spliced in:
    ``"arn:{{partition}}:iam::$account:role/{{backup_role_name}}"``. Keys work the same way (a copy action's
    key is ``"{{central_vault_arn}}"``) and must come out as strings.
``{{name?}}``
    Optional: when the value is None, the string is omitted. An object entry whose value is omitted is removed,
    and an object or list emptied by omissions is omitted in turn, so
    ``"move_to_cold_storage_after_days": {"@@assign": "{{monthly_cold_storage_after_days?}}"}`` disappears
    when cold storage is off. An optional placeholder must be the whole string.

Names are lower-case identifiers (``[a-z][a-z0-9_]*``); see ``template_values`` for the ones available.
``$account`` is AWS's own variable (the account running the plan) and passes through untouched. Any other
``{{`` or ``}}`` in a template, an unknown name or a missing value is a ConfigurationError naming the template
and the JSON path.

Numbers are rendered as strings ("35"), as in every example of AWS's backup policy documentation.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgbackup import config
from orgbackup.exceptions import ConfigurationError, PolicyValidationError
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.validate import check_schedule_expression, join_path, minify, validate_policy
from orgbackup.settings import Settings

TEMPLATES_DIR = Path(__file__).with_name("templates")
MANAGED_BY = "orgbackup"
MAX_DESCRIPTION = 512  # Organizations' limit for a policy description

type Value = str | int | bool | list[str] | None

_PLACEHOLDER = re.compile(r"\{\{([a-z][a-z0-9_]*)(\?)?\}\}")
_TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class RenderedPolicy:
    """One backup policy ready for Organizations: ``content`` is the minified document to send."""

    name: str
    description: str
    document: dict[str, Any]
    content: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content", minify(self.document))

    @property
    def size(self) -> int:
        return len(self.content)


# ----------------------------------------------------------------------------------------------------------------
# Structured substitution.
# ----------------------------------------------------------------------------------------------------------------


class _Omitted:
    """Marks a value dropped by an optional placeholder."""


_OMIT = _Omitted()


class _Filler:
    def __init__(self, values: Mapping[str, Value], template: str) -> None:
        self.values = values
        self.template = template

    def fail(self, path: str, why: str) -> ConfigurationError:
        return ConfigurationError(f"policy template {self.template!r} at {path}: {why}")

    def lookup(self, name: str, path: str) -> Value:
        if name not in self.values:
            known = ", ".join(sorted(self.values))
            raise self.fail(path, f"unknown placeholder {{{{{name}}}}}; known names: {known}")
        return self.values[name]

    def check_braces(self, text: str, path: str) -> None:
        leftover = _PLACEHOLDER.sub("", text)
        if "{{" in leftover or "}}" in leftover:
            raise self.fail(path, f"{text!r} has a malformed placeholder: write {{{{name}}}} or {{{{name?}}}}")

    def string(self, text: str, path: str) -> object:
        self.check_braces(text, path)
        whole = _PLACEHOLDER.fullmatch(text)
        if whole:
            name, optional = whole[1], bool(whole[2])
            value = self.lookup(name, path)
            if value is None:
                if optional:
                    return _OMIT
                raise self.fail(path, f"placeholder {{{{{name}}}}} has no value")
            return list(value) if isinstance(value, list) else value
        return _PLACEHOLDER.sub(lambda match: self.splice(match, path), text)

    def splice(self, match: re.Match[str], path: str) -> str:
        name, optional = match[1], bool(match[2])
        if optional:
            raise self.fail(path, f"optional placeholder {{{{{name}?}}}} must be the whole string")
        value = self.lookup(name, path)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(path, f"placeholder {{{{{name}}}}} is {value!r}: only text and numbers fit inside a string")
        return str(value)

    def node(self, node: object, path: str) -> object:
        if isinstance(node, str):
            return self.string(node, path)
        if isinstance(node, list):
            items = [self.node(item, join_path(path, index)) for index, item in enumerate(node)]
            kept = [item for item in items if item is not _OMIT]
            return _OMIT if node and not kept else kept
        if isinstance(node, Mapping):
            return self.mapping(node, path)
        return node

    def mapping(self, node: Mapping[str, object], path: str) -> object:
        result: dict[str, object] = {}
        for raw_key, raw_value in node.items():
            key = self.string(raw_key, join_path(path, raw_key))
            if key is _OMIT:
                continue
            if not isinstance(key, str):
                raise self.fail(join_path(path, raw_key), f"the key became {key!r}: keys must be text")
            if key in result:
                raise self.fail(join_path(path, raw_key), f"two keys became {key!r}")
            value = self.node(raw_value, join_path(path, key))
            if value is not _OMIT:
                result[key] = value
        return _OMIT if node and not result else result


def fill_template(template: object, values: Mapping[str, Value], *, name: str = "template") -> object:
    """``template`` with every placeholder replaced from ``values`` (see the module docstring for the syntax)."""
    filled = _Filler(values, name).node(template, "$")
    if filled is _OMIT:
        raise ConfigurationError(f"policy template {name!r}: every part of it was omitted")
    return filled


# ----------------------------------------------------------------------------------------------------------------
# The organization's policies.
# ----------------------------------------------------------------------------------------------------------------

_DESCRIPTIONS = {
    "daily": (
        "Daily backup of resources tagged {backup_tag_key}={daily_tag_value}, kept {daily_retention_days} days; "
        "copies kept {central_copy_retention_days} days in the central vault {central_vault_arn}"
    ),
    "monthly": (
        "Monthly backup of resources tagged {backup_tag_key}={monthly_tag_value}, kept {monthly_retention_days} "
        "days{cold_storage}; copies kept {central_copy_retention_days} days in the central vault {central_vault_arn}"
    ),
}


def _parameter(field_name: str) -> str:
    """The CloudFormation parameter a deployer sets (``daily_schedule`` is ``DailySchedule``)."""
    return config.key_for(field_name, "cfn")


def check_parameters(params: PolicyParameters) -> None:
    """Raise ConfigurationError naming every parameter that cannot make a valid backup policy."""
    problems: list[str] = []
    for name in ("daily_retention_days", "monthly_retention_days", "central_copy_retention_days"):
        days = getattr(params, name)
        if days < 1:
            problems.append(f"{_parameter(name)}={days} must be at least 1 day")
    cold = params.monthly_cold_storage_after_days
    if cold < 0:
        problems.append(f"{_parameter('monthly_cold_storage_after_days')}={cold} must be 0 (off) or a number of days")
    elif cold > 0 and params.monthly_retention_days < cold + 90:
        problems.append(
            f"{_parameter('monthly_retention_days')}={params.monthly_retention_days} is too short for "
            f"{_parameter('monthly_cold_storage_after_days')}={cold}: AWS Backup keeps a recovery point in cold "
            f"storage at least 90 days, so retention must be at least {cold + 90} days (or turn cold storage off "
            "with 0)"
        )
    if params.start_window_minutes < 60:
        problems.append(
            f"{_parameter('start_window_minutes')}={params.start_window_minutes} is too short: "
            "AWS Backup needs a start window of at least 60 minutes"
        )
    if params.completion_window_minutes < 1:
        problems.append(
            f"{_parameter('completion_window_minutes')}={params.completion_window_minutes} must be positive"
        )
    for name in ("daily_schedule", "monthly_schedule"):
        expression = getattr(params, name)
        if why := check_schedule_expression(expression):
            problems.append(f"{_parameter(name)}={expression!r} is not a schedule: {why}")
    if problems:
        raise ConfigurationError("invalid backup policy parameters: " + "; ".join(problems))


def template_values(settings: Settings, params: PolicyParameters) -> dict[str, Value]:
    """The placeholder names templates may use, and their values for this deployment."""
    cold = params.monthly_cold_storage_after_days
    return {
        "partition": settings.partition,
        "organization_id": settings.organization_id,
        "backup_regions": list(settings.backup_regions),
        "primary_region": settings.primary_region,
        "member_vault_name": settings.member_vault_name,
        "backup_role_name": settings.backup_role_name,
        "central_backup_account_id": settings.central_backup_account_id,
        "central_vault_name": settings.central_vault_name,
        # Cross-account copy target: AWS needs the literal account ID here, never $account.
        "central_vault_arn": settings.central_vault_arn(),
        "policy_name_prefix": params.policy_name_prefix,
        "backup_tag_key": params.backup_tag_key,
        "daily_tag_value": params.daily_tag_value,
        "monthly_tag_value": params.monthly_tag_value,
        "daily_schedule": params.daily_schedule,
        "monthly_schedule": params.monthly_schedule,
        "daily_retention_days": str(params.daily_retention_days),
        "monthly_retention_days": str(params.monthly_retention_days),
        "monthly_cold_storage_after_days": str(cold) if cold > 0 else None,
        "start_window_minutes": str(params.start_window_minutes),
        "completion_window_minutes": str(params.completion_window_minutes),
        "central_copy_retention_days": str(params.central_copy_retention_days),
        "managed_by": MANAGED_BY,
    }


def load_templates(directory: Path | None = None) -> dict[str, object]:
    """Template name (the file's stem) -> parsed template, in name order."""
    directory = directory or TEMPLATES_DIR
    templates: dict[str, object] = {}
    for path in sorted(directory.glob("*.json")):
        if not _TEMPLATE_NAME.fullmatch(path.stem):
            raise ConfigurationError(f"policy template {path}: name it with lower-case letters, digits, - or _")
        try:
            templates[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"policy template {path} cannot be read: {error}") from error
    if not templates:
        raise ConfigurationError(f"no policy templates (*.json) in {directory}")
    return templates


def _description(template: str, params: PolicyParameters, values: Mapping[str, Value]) -> str:
    cold = params.monthly_cold_storage_after_days
    text = _DESCRIPTIONS.get(template, "Backup policy {policy_name} managed by orgbackup").format(
        **{key: value for key, value in values.items() if isinstance(value, str)},
        policy_name=f"{params.policy_name_prefix}-{template}",
        cold_storage=f" (cold storage after {cold} days)" if cold > 0 else "",
    )
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."


def render_policies(
    settings: Settings, params: PolicyParameters, *, templates_dir: Path | None = None
) -> list[RenderedPolicy]:
    """Every template rendered for this deployment, each validated as a standalone backup policy.

    Raises ConfigurationError for parameters no valid policy can be made from, PolicyValidationError when a
    rendered document breaks the backup policy language or its size limit.
    """
    check_parameters(params)
    values = template_values(settings, params)
    policies: list[RenderedPolicy] = []
    for template, source in load_templates(templates_dir).items():
        name = f"{params.policy_name_prefix}-{template}"
        document = fill_template(source, values, name=template)
        if not isinstance(document, dict):
            raise ConfigurationError(f"policy template {template!r} is not a JSON object")
        issues = validate_policy(document, standalone=True)
        if issues:
            raise PolicyValidationError(name, [(issue.path, issue.message) for issue in issues])
        policies.append(
            RenderedPolicy(name=name, description=_description(template, params, values), document=document)
        )
    return policies
