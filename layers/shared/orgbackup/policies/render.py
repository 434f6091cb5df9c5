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

A template is rendered once per backup Region (``{{region}}``): a copy target must be a literal vault ARN, and a
copy into the central vault must stay in the backup's own Region (see "The organization's policies" below), so
each Region gets its own plan. The plans of all Regions are then packed into as few documents as the size limit
allows.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgbackup import settings_loader
from orgbackup.exceptions import ConfigurationError, PolicyValidationError
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.validate import (
    MAX_POLICY_CHARACTERS,
    check_schedule_expression,
    join_path,
    minify,
    validate_policy,
)
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
    regions: tuple[str, ...] = ()  # the backup Regions whose plans this document holds
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
#
# Copy topology (README "Copies and restores" > "Topology"):
# - Every backup is copied to the central vault of its own Region: cross-account, never also cross-Region. AWS
#   Backup Developer Guide, "Copy a backup" (https://docs.aws.amazon.com/aws-backup/latest/devguide/
#   recov-point-create-a-copy.html): "For Amazon RDS and Aurora snapshots, AWS Backup only supports automating
#   either cross-account or cross-Region copies".
# - With a DisasterRecoveryRegion, backups made in every other backup Region are also copied to the same account's
#   member vault there: cross-Region, never also cross-account. Backups made in the DR Region itself get no DR copy.
# - A cross-account copy target needs the literal account ID, and the target's Region is literal too, hence one
#   plan per Region ($account only stands for the account that runs the plan: Organizations User Guide, "Backup
#   policy syntax and examples", https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_backup_syntax.html).
# ----------------------------------------------------------------------------------------------------------------

# Organizations quotas (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html):
# a backup policy document is at most 10,000 characters (MAX_POLICY_CHARACTERS), and at most 10 backup policies
# may be attached directly to one root, OU or account.
MAX_POLICIES_PER_TARGET = 10
# AWS Backup API, CreateBackupPlan: BackupPlanName is 1-50 letters, digits, -, _ or .
MAX_PLAN_NAME = 50
# Vault Lock (AWS Backup API, PutBackupVaultLockConfiguration,
# https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultLockConfiguration.html): "any backup or
# copy job to the vault must have a lifecycle policy with a retention period equal to or longer than the minimum
# retention period" (and equal to or shorter than the maximum); otherwise "the vault fails the backup or copy job".
VAULT_LOCK_SOURCE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultLockConfiguration.html"

_DESCRIPTIONS = {
    "daily": (
        "Daily backup of resources tagged {backup_tag_key}={daily_tag_value} in {regions}, kept "
        "{daily_retention_days} days; copied to the central vault {central_vault_name} of account "
        "{central_backup_account_id} in the same Region, kept {central_copy_retention_days} days{disaster_recovery}"
    ),
    "monthly": (
        "Monthly backup of resources tagged {backup_tag_key}={monthly_tag_value} in {regions}, kept "
        "{monthly_retention_days} days{cold_storage}; copied to the central vault {central_vault_name} of account "
        "{central_backup_account_id} in the same Region, kept {central_copy_retention_days} days{disaster_recovery}"
    ),
}


def _parameter(field_name: str) -> str:
    """The CloudFormation parameter a deployer sets (``daily_schedule`` is ``DailySchedule``)."""
    return settings_loader.key_for(field_name, "cfn")


def _vault_lock_problems(params: PolicyParameters) -> list[str]:
    if params.vault_lock_mode == "NONE":
        return []
    copy_days, low, high = (
        params.central_copy_retention_days,
        params.vault_lock_min_retention_days,
        params.vault_lock_max_retention_days,
    )
    lock = f"{_parameter('vault_lock_mode')}={params.vault_lock_mode}"
    rule = (
        "the central vault's Vault Lock fails every copy job whose retention is outside its range "
        f"(AWS Backup, PutBackupVaultLockConfiguration: {VAULT_LOCK_SOURCE})"
    )
    problems: list[str] = []
    if high and low > high:
        problems.append(
            f"{_parameter('vault_lock_min_retention_days')}={low} is longer than "
            f"{_parameter('vault_lock_max_retention_days')}={high} ({lock}): no retention fits the lock "
            f"({VAULT_LOCK_SOURCE})"
        )
    elif copy_days < low:
        problems.append(
            f"{_parameter('central_copy_retention_days')}={copy_days} is shorter than "
            f"{_parameter('vault_lock_min_retention_days')}={low} ({lock}): {rule}"
        )
    elif high and copy_days > high:
        problems.append(
            f"{_parameter('central_copy_retention_days')}={copy_days} is longer than "
            f"{_parameter('vault_lock_max_retention_days')}={high} ({lock}): {rule}"
        )
    return problems


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
            problems.append(f"{_parameter(name)}={expression!r} is not a schedule AWS Backup runs: {why}")
    problems.extend(_vault_lock_problems(params))
    if problems:
        raise ConfigurationError("invalid backup policy parameters: " + "; ".join(problems))


def template_values(settings: Settings, params: PolicyParameters, region: str | None = None) -> dict[str, Value]:
    """The placeholder names templates may use, and their values for this deployment and backup Region."""
    region = region or settings.primary_region
    cold = params.monthly_cold_storage_after_days
    disaster_recovery = settings.disaster_recovery_copy_region(region)
    return {
        "partition": settings.partition,
        "organization_id": settings.organization_id,
        "backup_regions": list(settings.backup_regions),
        "primary_region": settings.primary_region,
        "region": region,
        "member_vault_name": settings.member_vault_name,
        "backup_role_name": settings.backup_role_name,
        "central_backup_account_id": settings.central_backup_account_id,
        "central_vault_name": settings.central_vault_name,
        # Cross-account copy target, in the backup's own Region: AWS needs the literal account ID, never $account.
        "central_vault_arn": settings.central_vault_arn(region),
        # Same-account, cross-Region copy target ($account), or None: no DR Region, or this is the DR Region.
        "disaster_recovery_vault_arn": settings.member_vault_arn(disaster_recovery) if disaster_recovery else None,
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


def _description(
    template: str, settings: Settings, params: PolicyParameters, values: Mapping[str, Value], regions: Sequence[str]
) -> str:
    cold = params.monthly_cold_storage_after_days
    target = settings.disaster_recovery_region
    sources = [region for region in regions if region != target]
    disaster_recovery = (
        f"; copies of {', '.join(sources)} also to {target} (same account)" if target and sources else ""
    )
    text = _DESCRIPTIONS.get(template, "Backup policy {policy_name} managed by orgbackup, {regions}").format(
        **{key: value for key, value in values.items() if isinstance(value, str)},
        policy_name=f"{params.policy_name_prefix}-{template}",
        regions=", ".join(regions),
        cold_storage=f" (cold storage after {cold} days)" if cold > 0 else "",
        disaster_recovery=disaster_recovery,
    )
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."


@dataclass
class _Plan:
    name: str
    body: object
    regions: list[str]

    @property
    def entry_size(self) -> int:
        """Characters this plan takes inside a minified ``{"plans": {...}}``: ``"name":{...}``."""
        return len(minify({self.name: self.body})) - 2


def _region_plans(template: str, source: object, settings: Settings, params: PolicyParameters) -> list[_Plan]:
    """The template's plans for every backup Region, in Region order; a plan that is the same for every Region (a
    template that does not use ``{{region}}``) appears once."""
    plans: dict[str, _Plan] = {}
    for region in settings.backup_regions:
        document = fill_template(source, template_values(settings, params, region), name=template)
        if not isinstance(document, dict):
            raise ConfigurationError(f"policy template {template!r} is not a JSON object")
        rendered = document.get("plans")
        if set(document) != {"plans"} or not isinstance(rendered, dict):
            raise ConfigurationError(f"policy template {template!r} must be an object whose only key is plans")
        for name, body in rendered.items():
            if len(name) > MAX_PLAN_NAME:
                raise ConfigurationError(
                    f"{_parameter('policy_name_prefix')}={params.policy_name_prefix!r} is too long: the plan name "
                    f"{name!r} has {len(name)} characters and AWS Backup allows {MAX_PLAN_NAME}; shorten the prefix "
                    f"by {len(name) - MAX_PLAN_NAME}"
                )
            if name not in plans:
                plans[name] = _Plan(name, body, [region])
            elif plans[name].body == body:
                plans[name].regions.append(region)
            else:
                raise ConfigurationError(
                    f"policy template {template!r}: the plan {name!r} differs between Regions but keeps its name; "
                    "put {{region}} in the plan's name"
                )
    if not plans:
        raise ConfigurationError(f"policy template {template!r} has no plan: a backup policy needs at least one")
    return list(plans.values())


def _pack(plans: Sequence[_Plan]) -> list[list[_Plan]]:
    """Consecutive groups of plans, the same number in each (the last may hold fewer), as many as fit in one
    document of the largest plan's size. A fixed group size keeps each Region's plan in the same document when
    Regions are appended, so the policies change no more than they must."""
    largest = max(plan.entry_size for plan in plans)
    # {"plans":{ + entries + commas between them + }}
    per_document = max(1, (MAX_POLICY_CHARACTERS - len('{"plans":{}}') + 1) // (largest + 1))
    return [list(plans[index : index + per_document]) for index in range(0, len(plans), per_document)]


def render_policies(
    settings: Settings, params: PolicyParameters, *, templates_dir: Path | None = None
) -> list[RenderedPolicy]:
    """Every template rendered for this deployment, each document validated as a standalone backup policy.

    A template's plans (one per backup Region) go into documents named ``<prefix>-<template>``, then
    ``<prefix>-<template>-2``, ``-3``... when they do not fit in one: names stay the same from one deploy to the
    next, so the apply code updates the same policies (their IDs and attachments are kept).

    Raises ConfigurationError for parameters no valid policy can be made from, or when the documents would exceed
    the number of backup policies Organizations attaches to one target; PolicyValidationError when a rendered
    document breaks the backup policy language or its size limit.
    """
    check_parameters(params)
    policies: list[RenderedPolicy] = []
    for template, source in load_templates(templates_dir).items():
        values = template_values(settings, params)
        for index, group in enumerate(_pack(_region_plans(template, source, settings, params)), start=1):
            name = f"{params.policy_name_prefix}-{template}" + (f"-{index}" if index > 1 else "")
            document: dict[str, Any] = {"plans": {plan.name: plan.body for plan in group}}
            issues = validate_policy(document, standalone=True, extra_regions=settings.extra_regions)
            if issues:
                raise PolicyValidationError(name, [(issue.path, issue.message) for issue in issues])
            regions = tuple(dict.fromkeys(region for plan in group for region in plan.regions))
            policies.append(
                RenderedPolicy(
                    name=name,
                    description=_description(template, settings, params, values, regions),
                    document=document,
                    regions=regions,
                )
            )
    if len(policies) > MAX_POLICIES_PER_TARGET:
        sizes = ", ".join(f"{policy.name} ({policy.size:,})" for policy in policies)
        raise ConfigurationError(
            f"the backup policies need {len(policies)} documents ({sizes}) but AWS Organizations attaches at most "
            f"{MAX_POLICIES_PER_TARGET} backup policies to one target: use fewer BackupRegions or shorter names and "
            "tag values (each Region has its own plan of each template)"
        )
    return policies
