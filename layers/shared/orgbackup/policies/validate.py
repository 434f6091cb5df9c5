"""Offline validator of AWS Organizations backup policies (policy type ``BACKUP_POLICY``).

The language is the one AWS documents in the Organizations User Guide, "Backup policy syntax and examples"
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_backup_syntax.html), with the
inheritance operators of "Inheritance operators" (.../userguide/policy-operators.html). The grammar is a table
(``_POLICY`` below): every object is a ``_Block`` (fixed keys), a ``_Named`` map (keys chosen by the author: plans,
rules, selections, copy actions, tags, conditions) or a ``_Setting`` (a leaf set with ``@@assign``, ``@@append`` or
``@@remove``). Every problem is a ``PolicyIssue`` naming the JSON path, the value and the rule (``RULES``).

A policy is usually one of several that merge into an account's effective policy, so a document may hold only the
settings it overrides (AWS's Example 5 child policy has no ``selections``). ``standalone=True`` adds the checks for
a policy that must form complete backup plans on its own, which is what ``orgbackup`` renders and attaches.

Where the page is ambiguous or contradicts itself, the validator follows AWS's published examples and says so.
"""

import difflib
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from orgbackup import fields
from orgbackup.fields import show_json
from orgbackup.regions import region_problem

MAX_POLICY_CHARACTERS = 10_000

ASSIGN, APPEND, REMOVE = "@@assign", "@@append", "@@remove"
VALUE_OPERATORS = (ASSIGN, APPEND, REMOVE)
CHILD_CONTROL = "@@operators_allowed_for_child_policies"
CHILD_CONTROL_VALUES = ("@@all", ASSIGN, APPEND, REMOVE, "@@none")

# Each rule a validation can break: its id (PolicyIssue.rule) and what it says.
RULES: Mapping[str, str] = {
    "json-syntax": "the policy must be valid JSON",
    "json-duplicate-key": "a JSON object must not repeat a key (Organizations rejects duplicate key names)",
    "document-type": "a policy is a JSON object whose only top-level key is plans",
    "unknown-key": "only the keys AWS documents for each element are allowed",
    "selection-kind": "tags selections hold tag_key/tag_value, resources selections hold resource_types",
    "required-key": "a standalone policy must contain every element AWS marks as required",
    "empty-collection": "a standalone policy needs at least one plan, rule, selection and Region",
    "name-format": "plan, rule and selection names are 1-50 letters, digits, hyphens, underscores or periods",
    "setting-operator": 'a setting is an object with an inheritance operator, such as {"@@assign": ...}',
    "operator-count": "a setting has exactly one value-setting operator (@@assign, @@append or @@remove)",
    "operator-unknown": "operators are @@assign, @@append, @@remove and @@operators_allowed_for_child_policies",
    "operator-placement": "value-setting operators belong to settings; child-control operators to elements below plans",
    "operator-multivalued": "@@append and @@remove work only on multi-valued (list) settings",
    "child-control": "@@operators_allowed_for_child_policies lists @@all, @@none or value-setting operators",
    "value-type": "each setting has the JSON type AWS documents for it",
    "list-duplicate": "a list setting names each value once",
    "region-name": "regions are AWS Region codes such as us-east-1, of Regions AWS publishes",
    "schedule-expression": "schedule_expression is cron(...) with six fields, or rate(...)",
    "schedule-frequency": "snapshot backups run at most hourly (AWS Backup: Backup plan options and configuration)",
    "timezone": "schedule_expression_timezone is an IANA time zone name",
    "start-window": "start_backup_window_minutes is at least 60",
    "whole-number": "windows are whole minutes and lifecycle values whole days, at least 1",
    "boolean": "switches are true or false",
    "allowed-value": "enumerated settings take only the values AWS documents",
    "vault-name": "vault names are 2-50 letters, digits, hyphens or underscores",
    "vault-arn": "copy targets are backup vault ARNs: arn:<partition>:backup:<Region>:<account>:backup-vault:<name>",
    "copy-key-mismatch": "a copy_actions key must equal its target_backup_vault_arn",
    "air-gapped-arn": "a logically air-gapped vault ARN uses $region and $account",
    "role-arn": "roles are IAM role ARNs: arn:<partition>:iam::<account>:role/<name>",
    "account-variable": "$account stands for the account ID field of an ARN, and $region only in air-gapped vault ARNs",
    "cold-storage-minimum": "delete_after_days is at least move_to_cold_storage_after_days + 90",
    "archive-transition": "opt_in_to_archive_for_supported_resources needs move_to_cold_storage_after_days",
    "continuous-backup-retention": "continuous (point-in-time) backups are kept at most 35 days",
    "resource-type": "resource_types and not_resource_types name the resource types AWS documents, or *",
    "condition-key": "a condition_key is aws:ResourceTag/<tag key>",
    "condition-limit": "a selection has at most 30 conditions",
    "tag-format": "tag keys are 1-128 characters and tag values at most 256",
    "scan-settings": "a plan whose rules have scan_actions needs scan_settings",
    "size-limit": f"the minified policy is at most {MAX_POLICY_CHARACTERS:,} characters",
}


@dataclass(frozen=True)
class PolicyIssue:
    """One problem: where (a JSONPath such as ``$.plans.P.rules.R.lifecycle``), what and which rule."""

    path: str
    message: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def minify(document: object) -> str:
    """The form to send to Organizations: it counts every character and does not strip whitespace."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


# ----------------------------------------------------------------------------------------------------------------
# Value checks. Each returns None, or (rule, why) where why completes "<setting> is <value>: ...".
# ----------------------------------------------------------------------------------------------------------------

Problem = tuple[str, str]
Check = Callable[[object], Problem | None]

_PARTITIONS = frozenset(fields.PARTITION.split("|"))
_REGION = re.compile(fields.REGION)
_ACCOUNT = re.compile(fields.ACCOUNT_ID)
_VAULT_NAME = re.compile(fields.VAULT_NAME)
# BackupPlanName, RuleName and SelectionName: "Must contain 1 to 50 alphanumeric or '-_.' characters" (AWS Backup API
# reference, e.g. https://docs.aws.amazon.com/aws-backup/latest/devguide/API_BackupRuleInput.html).
_PLAN_ITEM_NAME = re.compile(r"[a-zA-Z0-9\-_.]{1,50}")
# An IAM role resource with its path, in IAM's name characters (``fields.IAM_NAME_CHAR``, ASCII only).
_ROLE_RESOURCE = re.compile(rf"role/(?:{fields.IAM_NAME_CHAR}+/)*{fields.IAM_ROLE_NAME}")
_ACCOUNT_VARIABLE = "$account"
_REGION_VARIABLE = "$region"


def _text(check: Callable[[str], Problem | None]) -> Check:
    def run(value: object) -> Problem | None:
        if not isinstance(value, str):
            return "value-type", "it must be a string"
        return check(value)

    return run


def _whole_number(minimum: int, rule: str, unit: str) -> Check:
    """A count of minutes or days: AWS's examples write them as strings ("60"); JSON numbers work as well."""

    def run(value: object) -> Problem | None:
        number = as_whole_number(value)
        if number is None:
            return "value-type", f'it must be a whole number of {unit} (AWS\'s examples write it as a string, "60")'
        if number < minimum:
            return rule, f"it must be at least {minimum} {unit if minimum != 1 else unit.removesuffix('s')}"
        return None

    return run


def as_whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,9}", value):
        return int(value)
    return None


def as_boolean(value: object) -> bool | None:
    # Example 5 writes {"@@assign": false}; the other examples write "false": both are accepted.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def _boolean(value: object) -> Problem | None:
    if as_boolean(value) is None:
        return "boolean", "it must be true or false"
    return None


def _one_of(*allowed: str) -> Check:
    def check(value: str) -> Problem | None:
        if value not in allowed:
            return "allowed-value", f"it must be one of {', '.join(allowed)}"
        return None

    return _text(check)


# Regions newer than the pinned botocore that the caller allows (validate_policy's extra_regions).
_EXTRA_REGIONS: ContextVar[frozenset[str]] = ContextVar("extra_regions", default=frozenset())


def _region(value: str) -> Problem | None:
    if not _REGION.fullmatch(value):
        return "region-name", "it is not an AWS Region code such as us-east-1 or eu-north-1"
    if why := region_problem(value, _EXTRA_REGIONS.get()):
        return "region-name", f"it is {why}"
    return None


def _vault_name(value: str) -> Problem | None:
    if not _VAULT_NAME.fullmatch(value):
        return "vault-name", "it is not a backup vault name (2-50 letters, digits, hyphens or underscores)"
    return None


def _tag_key(value: str) -> Problem | None:
    if not 1 <= len(value) <= 128:
        return "tag-format", "it must be 1-128 characters long"
    return None


def _tag_value(value: str) -> Problem | None:
    if len(value) > 256:
        return "tag-format", "it must be at most 256 characters long"
    return None


def _timezone(value: str) -> Problem | None:
    if value not in _timezones():
        return "timezone", "it is not an IANA time zone name such as Europe/Paris or UTC"
    return None


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    names = zoneinfo.available_timezones()
    return frozenset(names) if names else _ZoneNamePattern()


class _ZoneNamePattern(frozenset[str]):
    """Stands in for the zone list where no time zone database is installed: checks the name's shape only."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and bool(re.fullmatch(r"UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+\-]+){1,2}", item))


def _split_arn(value: str) -> list[str] | None:
    parts = value.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


def _account_field_problem(account: str, rule: str, shape: str) -> Problem | None:
    if account == _ACCOUNT_VARIABLE or _ACCOUNT.fullmatch(account):
        return None
    if _ACCOUNT_VARIABLE in account:
        return "account-variable", "$account may only stand for the whole account ID field of the ARN"
    return rule, f"its account {account!r} is neither a 12-digit account ID nor $account; expected {shape}"


def _stray_variables(parts: Iterable[str], allowed_in: str) -> Problem | None:
    for part in parts:
        if _ACCOUNT_VARIABLE in part:
            return "account-variable", "$account may only stand for the whole account ID field of the ARN"
        if _REGION_VARIABLE in part:
            return "account-variable", f"$region may only appear in {allowed_in}"
    return None


_ROLE_SHAPE = "arn:<partition>:iam::<account ID or $account>:role/<role name>"
_VAULT_SHAPE = "arn:<partition>:backup:<Region>:<account ID or $account>:backup-vault:<vault name>"
_AIR_GAPPED_SHAPE = "arn:<partition>:backup:$region:$account:backup-vault:<vault name>"


def _role_arn(value: str) -> Problem | None:
    parts = _split_arn(value)
    if parts is None:
        return "role-arn", f"it is not an ARN; expected {_ROLE_SHAPE}"
    _, partition, service, region, account, resource = parts
    stray = _stray_variables((partition, service, region, resource), "target_logically_air_gapped_backup_vault_arn")
    if stray:
        return stray
    if partition not in _PARTITIONS or service != "iam" or region != "" or not _ROLE_RESOURCE.fullmatch(resource):
        return "role-arn", f"it is not an IAM role ARN; expected {_ROLE_SHAPE}"
    return _account_field_problem(account, "role-arn", _ROLE_SHAPE)


def _vault_arn_problem(value: str) -> Problem | None:
    """Copy targets: AWS documents $account for same-account copies and the literal ID for cross-account ones
    (Organizations User Guide, *Backup policy syntax*, https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_backup_syntax.html)."""
    parts = _split_arn(value)
    if parts is None:
        return "vault-arn", f"it is not an ARN; expected {_VAULT_SHAPE}"
    _, partition, service, region, account, resource = parts
    stray = _stray_variables((partition, service, region, resource), "target_logically_air_gapped_backup_vault_arn")
    if stray:
        return stray
    kind, _, name = resource.partition(":")
    if partition not in _PARTITIONS or service != "backup":
        return "vault-arn", f"it is not a backup vault ARN; expected {_VAULT_SHAPE}"
    if not _REGION.fullmatch(region):
        return "vault-arn", f"its Region {region!r} is not a Region code; expected {_VAULT_SHAPE}"
    if why := region_problem(region, _EXTRA_REGIONS.get()):
        return "region-name", f"its Region {region!r} is {why}"
    if kind != "backup-vault" or not _VAULT_NAME.fullmatch(name):
        # Older revisions of the page wrote ":vault:"; the ARN resource type is backup-vault.
        return "vault-arn", f"its resource {resource!r} is not backup-vault:<vault name>; expected {_VAULT_SHAPE}"
    return _account_field_problem(account, "vault-arn", _VAULT_SHAPE)


def _air_gapped_arn(value: str) -> Problem | None:
    parts = _split_arn(value)
    if parts is None:
        return "air-gapped-arn", f"it is not an ARN; expected {_AIR_GAPPED_SHAPE}"
    _, partition, service, region, account, resource = parts
    kind, _, name = resource.partition(":")
    if partition not in _PARTITIONS or service != "backup" or kind != "backup-vault" or not _VAULT_NAME.fullmatch(name):
        return "air-gapped-arn", f"it is not a backup vault ARN; expected {_AIR_GAPPED_SHAPE}"
    if region != _REGION_VARIABLE or account != _ACCOUNT_VARIABLE:
        return (
            "air-gapped-arn",
            f"it must use the placeholders $region and $account, as AWS requires: {_AIR_GAPPED_SHAPE}",
        )
    return None


def _condition_key(value: str) -> Problem | None:
    # Every AWS example selects on resource tags this way; AWS Backup's Conditions use the same key form.
    prefix = "aws:ResourceTag/"
    if not value.startswith(prefix) or not 1 <= len(value) - len(prefix) <= 128:
        return "condition-key", "it must be aws:ResourceTag/<tag key>, e.g. aws:ResourceTag/backup"
    return None


# The resource types the page lists for resource_types and not_resource_types, written for the aws partition;
# in other partitions (GovCloud, China) AWS asks for the partition's own name in the ARN.
RESOURCE_TYPES = frozenset(
    {
        "arn:aws:backup-gateway:*:*:vm/*",
        "arn:aws:cloudformation:*:*:stack/*",
        "arn:aws:dsql:*:*:cluster/*",
        "arn:aws:dynamodb:*:*:table/*",
        "arn:aws:ec2:*:*:instance/*",
        "arn:aws:ec2:*:*:volume/*",
        "arn:aws:elasticfilesystem:*:*:file-system/*",
        "arn:aws:rds:*:*:cluster:*",
        "arn:aws:rds:*:*:db:*",
        "arn:aws:redshift:*:*:cluster:*",
        "arn:aws:redshift-serverless:*:*:namespace/*",
        "arn:aws:s3:::*",
        "arn:aws:ssm-sap:*:*:HANA/*",
        "arn:aws:storagegateway:*:*:gateway/*",
        "arn:aws:timestream:*:*:database/*",
        "arn:aws:fsx:*:*:file-system/*",
        "arn:aws:fsx:*:*:volume/*",
        "arn:aws:eks:*:*:cluster/*",
    }
)


def _resource_type(value: str) -> Problem | None:
    if value == "*":
        return None
    parts = value.split(":", 2)
    if len(parts) == 3 and parts[0] == "arn" and parts[1] in _PARTITIONS and f"arn:aws:{parts[2]}" in RESOURCE_TYPES:
        return None
    return (
        "resource-type",
        "it is not a resource type AWS documents for backup policies (e.g. arn:aws:ec2:*:*:volume/*, or *)",
    )


# --- schedule expressions (EventBridge syntax, which AWS Backup uses) ------------------------------------------


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)
    special: str = ""  # regex of the extra forms this field allows (?, L, W, #)


_MONTHS = {
    m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_CRON_FIELDS = (
    _CronField("minutes", 0, 59),
    _CronField("hours", 0, 23),
    _CronField("day-of-month", 1, 31, special=r"\?|L|LW|([1-9]|[12]\d|3[01])W"),
    _CronField("month", 1, 12, _MONTHS),
    _CronField("day-of-week", 1, 7, _DAYS, special=r"\?|L|([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)(L|#[1-5])"),
    _CronField("year", 1970, 2199),
)


def _cron_value(spec: _CronField, token: str) -> str | None:
    if token.upper() in spec.names:
        return None
    if not token.isdigit():
        return f"{spec.name} value {token!r} is not a number" + (" or a name" if spec.names else "")
    if not spec.low <= int(token) <= spec.high:
        return f"{spec.name} value {token} is outside {spec.low}-{spec.high}"
    return None


def _cron_field(spec: _CronField, text: str) -> str | None:
    if spec.special and re.fullmatch(spec.special, text, flags=re.IGNORECASE):
        return None
    for part in text.split(","):
        base, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return f"{spec.name} step {step!r} in {part!r} is not a positive number"
        if base == "*":
            continue
        for token in base.split("-", 1):
            if problem := _cron_value(spec, token):
                return problem
    return None


# AWS Backup Developer Guide, "Backup plan options and configuration": "You can also create a cron expression that
# creates snapshot backups as frequently as hourly" (console and CLI alike). A schedule that starts more often is
# refused here, whatever its form.
SCHEDULE_FREQUENCY_SOURCE = (
    'AWS Backup runs snapshot backups at most hourly (AWS Backup Developer Guide, "Backup plan options and '
    'configuration", https://docs.aws.amazon.com/aws-backup/latest/devguide/plan-options-and-configuration.html)'
)


def schedule_problem(expression: str) -> Problem | None:
    """None when ``expression`` is a valid schedule AWS Backup can run, else (rule, why)."""
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1].split(" ")
        if why := _check_cron(fields):
            return "schedule-expression", why
        minutes = _cron_minutes(fields[0])
        if len(minutes) > 1:
            return (
                "schedule-frequency",
                f"its minutes field {fields[0]!r} starts a backup {len(minutes)} times an hour; "
                f"{SCHEDULE_FREQUENCY_SOURCE}",
            )
        return None
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if match:
        number, unit = int(match[1]), match[2]
        if why := _check_rate(number, unit):
            return "schedule-expression", why
        if unit.startswith("minute") and number < 60:
            return "schedule-frequency", f"it starts a backup every {number} minute(s); {SCHEDULE_FREQUENCY_SOURCE}"
        return None
    return (
        "schedule-expression",
        "it must be cron(minutes hours day-of-month month day-of-week year) or rate(value unit)",
    )


def check_schedule_expression(expression: str) -> str | None:
    """None when ``expression`` is a valid schedule AWS Backup can run, else why it is not."""
    problem = schedule_problem(expression)
    return problem[1] if problem else None


def _cron_minutes(text: str) -> set[int]:
    """The minutes of the hour a valid cron minutes field fires at (``0/15`` -> 0, 15, 30, 45)."""
    minutes: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = 0, 59
        elif "-" in base:
            low, high = (int(token) for token in base.split("-", 1))
            start, end = low, high if high >= low else high + 60  # a range may wrap past the hour
        else:
            start = int(base)
            end = 59 if step_text else start
        minutes.update(minute % 60 for minute in range(start, end + 1, step))
    return minutes


def _check_cron(fields: list[str]) -> str | None:
    if len(fields) != 6 or "" in fields:
        return "cron takes 6 fields separated by single spaces (minutes hours day-of-month month day-of-week year)"
    for spec, text in zip(_CRON_FIELDS, fields, strict=True):
        if problem := _cron_field(spec, text):
            return problem
    if (fields[2] == "?") == (fields[4] == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    return None


def _check_rate(number: int, unit: str) -> str | None:
    if number == 0:
        return "a rate must be positive"
    if (number == 1) != (not unit.endswith("s")):
        return "a rate of 1 takes a singular unit (rate(1 day)), larger rates a plural one (rate(2 days))"
    return None


def _schedule(value: str) -> Problem | None:
    return schedule_problem(value)


# ----------------------------------------------------------------------------------------------------------------
# The grammar.
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    """A leaf: {"@@assign": value} for single-valued settings; lists also take @@append and @@remove."""

    kind: Literal["single", "list"]
    check: Check
    # Settings that hold ARNs run their own variable checks; every other setting refuses $account and $region.
    holds_arn: bool = False


@dataclass(frozen=True)
class _Block:
    """An element with fixed keys."""

    what: str
    keys: Mapping[str, "_Spec"]
    required: tuple[str, ...] = ()  # checked for standalone policies only
    misplaced: Mapping[str, str] = field(default_factory=dict)  # key -> why it does not belong here
    checks: tuple["_CrossCheck", ...] = ()


@dataclass(frozen=True)
class _Named:
    """A map whose keys the author chooses (plan names, rule names, copy target ARNs, tag identifiers)."""

    what: str
    name_check: Callable[[str], Problem | None]
    item: "_Spec"
    nonempty: bool = False  # checked for standalone policies only
    key_word: str = "name"  # how messages call the key ("key" for copy actions, whose keys are ARNs)


_Spec = _Setting | _Block | _Named
_CrossCheck = Callable[["_Validator", Mapping[str, Any], str, str], None]


def _plan_item_name(kind: str) -> Callable[[str], Problem | None]:
    def check(name: str) -> Problem | None:
        if not _PLAN_ITEM_NAME.fullmatch(name):
            return (
                "name-format",
                f"it is not a valid {kind} name (1-50 letters, digits, hyphens, underscores or periods)",
            )
        return None

    return check


def _identifier(name: str) -> Problem | None:
    if not name or len(name) > 128:
        return "name-format", "it must be 1-128 characters long"
    if _ACCOUNT_VARIABLE in name or _REGION_VARIABLE in name:
        return "account-variable", "$account and $region may not appear in element names"
    return None


def _scanner(name: str) -> Problem | None:
    # The page documents one scanner, used as the key of scan_actions and scan_settings.
    if name != "GUARDDUTY":
        return "allowed-value", "it must be GUARDDUTY, the only scanner AWS documents"
    return None


def _assigned(node: Mapping[str, Any], key: str) -> object:
    setting = node.get(key)
    if isinstance(setting, Mapping):
        return setting.get(ASSIGN)
    return None


def _cold_storage_minimum(v: "_Validator", node: Mapping[str, Any], path: str, name: str) -> None:
    cold = as_whole_number(_assigned(node, "move_to_cold_storage_after_days"))
    delete = as_whole_number(_assigned(node, "delete_after_days"))
    if cold is not None and delete is not None and delete < cold + 90:
        v.add(
            join_path(path, "delete_after_days"),
            "cold-storage-minimum",
            f"delete_after_days is {delete} but move_to_cold_storage_after_days is {cold}: a recovery point stays "
            f"in cold storage at least 90 days, so delete_after_days must be at least {cold + 90}",
        )


def _archive_needs_a_transition(v: "_Validator", node: Mapping[str, Any], path: str, name: str) -> None:
    # AWS Backup API, Lifecycle (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_Lifecycle.html): with
    # OptInToArchiveForSupportedResources true, the plan "transitions supported resources to archive (cold) storage
    # tier in accordance with your lifecycle settings", i.e. MoveToColdStorageAfterDays: without it the opt-in moves
    # nothing. Only for standalone policies: an inherited lifecycle may set the transition.
    opted_in = as_boolean(_assigned(node, "opt_in_to_archive_for_supported_resources")) is True
    if v.standalone and opted_in and "move_to_cold_storage_after_days" not in node:
        v.add(
            join_path(path, "opt_in_to_archive_for_supported_resources"),
            "archive-transition",
            "opt_in_to_archive_for_supported_resources is true but this lifecycle has no "
            "move_to_cold_storage_after_days: AWS Backup moves recovery points to the archive tier only at that "
            "transition, so nothing would be archived",
        )


def _copy_target_matches_key(v: "_Validator", node: Mapping[str, Any], path: str, name: str) -> None:
    target = _assigned(node, "target_backup_vault_arn")
    if isinstance(target, str) and target != name:
        v.add(
            join_path(path, "target_backup_vault_arn"),
            "copy-key-mismatch",
            f"target_backup_vault_arn is {json.dumps(target)} but its copy_actions key is {json.dumps(name)}: "
            "the key of a copy action must be exactly the ARN of its target vault",
        )
    elif "target_backup_vault_arn" not in node and v.standalone:
        v.add(
            join_path(path, "target_backup_vault_arn"),
            "required-key",
            "target_backup_vault_arn is missing: without it AWS Backup uses the key in lower case, which may not "
            "match the vault's ARN, so AWS recommends always setting it",
        )


def _continuous_backup_retention(v: "_Validator", node: Mapping[str, Any], path: str, name: str) -> None:
    if as_boolean(_assigned(node, "enable_continuous_backup")) is not True:
        return
    lifecycle = node.get("lifecycle")
    delete = as_whole_number(_assigned(lifecycle, "delete_after_days")) if isinstance(lifecycle, Mapping) else None
    if delete is not None and delete > 35:
        v.add(
            join_path(join_path(path, "lifecycle"), "delete_after_days"),
            "continuous-backup-retention",
            f"delete_after_days is {delete} but enable_continuous_backup is true: "
            "continuous (point-in-time) backups are kept at most 35 days",
        )


def _condition_limit(v: "_Validator", node: Mapping[str, Any], path: str, name: str) -> None:
    conditions = node.get("conditions")
    if not isinstance(conditions, Mapping):
        return
    count = sum(
        len([key for key in group if not key.startswith("@@")])
        for group in conditions.values()
        if isinstance(group, Mapping)
    )
    if count > 30:
        v.add(join_path(path, "conditions"), "condition-limit", f"conditions holds {count} conditions: AWS allows 30")


def _plan_completeness(v: "_Validator", node: Mapping[str, Any], path: str, name: str) -> None:
    if not v.standalone:
        return
    selections = node.get("selections")
    if isinstance(selections, Mapping):
        found = sum(
            len([key for key in selections.get(kind) or {} if not key.startswith("@@")])
            for kind in ("tags", "resources")
            if isinstance(selections.get(kind), Mapping)
        )
        if not found:
            v.add(
                join_path(path, "selections"),
                "empty-collection",
                "selections has no tags or resources selection: a plan must select the resources it backs up",
            )
    regions = _assigned(node, "regions")
    if isinstance(regions, list) and not regions:
        v.add(
            join_path(path, "regions"), "empty-collection", "regions is empty: a plan must name the Regions it covers"
        )
    rules = node.get("rules")
    uses_scan = isinstance(rules, Mapping) and any(
        isinstance(rule, Mapping) and "scan_actions" in rule for rule in rules.values()
    )
    if uses_scan and "scan_settings" not in node:
        v.add(
            join_path(path, "scan_settings"),
            "scan-settings",
            "scan_settings is missing but a rule has scan_actions: scanning jobs start only with both",
        )


def _enabled_disabled() -> _Setting:
    return _Setting("single", _one_of("enabled", "disabled"))


_TAG = _Block(
    "a tag",
    {"tag_key": _Setting("single", _text(_tag_key)), "tag_value": _Setting("single", _text(_tag_value))},
    required=("tag_key", "tag_value"),
)

_LIFECYCLE = _Block(
    "a lifecycle",
    {
        "move_to_cold_storage_after_days": _Setting("single", _whole_number(1, "whole-number", "days")),
        "delete_after_days": _Setting("single", _whole_number(1, "whole-number", "days")),
        "opt_in_to_archive_for_supported_resources": _Setting("single", _boolean),
    },
    checks=(_cold_storage_minimum, _archive_needs_a_transition),
)

_COPY_ACTION = _Block(
    "a copy action",
    {
        "target_backup_vault_arn": _Setting("single", _text(_vault_arn_problem), holds_arn=True),
        "lifecycle": _LIFECYCLE,
    },
    checks=(_copy_target_matches_key,),
)

_CONDITION = _Block(
    "a condition",
    {
        "condition_key": _Setting("single", _text(_condition_key)),
        "condition_value": _Setting("single", _text(_tag_value)),
    },
    required=("condition_key", "condition_value"),
)

_CONDITIONS = _Block(
    "conditions",
    {
        operator: _Named("condition", _identifier, _CONDITION)
        for operator in ("string_equals", "string_not_equals", "string_like", "string_not_like")
    },
)

_ROLE = _Setting("single", _text(_role_arn), holds_arn=True)

_TAGS_SELECTION = _Block(
    "a tags selection",
    {
        "iam_role_arn": _ROLE,
        "tag_key": _Setting("single", _text(_tag_key)),
        "tag_value": _Setting("list", _text(_tag_value)),
        "conditions": _CONDITIONS,
    },
    required=("iam_role_arn", "tag_key", "tag_value"),
    misplaced={
        key: f"{key} belongs in a resources selection (selections.resources), not in a tags selection"
        for key in ("resource_types", "not_resource_types")
    },
    checks=(_condition_limit,),
)

_RESOURCES_SELECTION = _Block(
    "a resources selection",
    {
        "iam_role_arn": _ROLE,
        "resource_types": _Setting("list", _text(_resource_type)),
        "not_resource_types": _Setting("list", _text(_resource_type)),
        "conditions": _CONDITIONS,
    },
    required=("iam_role_arn", "resource_types"),
    misplaced={
        key: f"{key} belongs in a tags selection (selections.tags); a resources selection filters tags with conditions"
        for key in ("tag_key", "tag_value")
    },
    checks=(_condition_limit,),
)

_RULE = _Block(
    "a rule",
    {
        "schedule_expression": _Setting("single", _text(_schedule)),
        # Not in the page's rule table; it is AWS Backup's ScheduleExpressionTimezone (CreateBackupPlan).
        "schedule_expression_timezone": _Setting("single", _text(_timezone)),
        "target_backup_vault_name": _Setting("single", _text(_vault_name)),
        "target_logically_air_gapped_backup_vault_arn": _Setting("single", _text(_air_gapped_arn), holds_arn=True),
        "start_backup_window_minutes": _Setting("single", _whole_number(60, "start-window", "minutes")),
        "complete_backup_window_minutes": _Setting("single", _whole_number(1, "whole-number", "minutes")),
        "enable_continuous_backup": _Setting("single", _boolean),
        "lifecycle": _LIFECYCLE,
        "copy_actions": _Named("copy action", _vault_arn_problem, _COPY_ACTION, key_word="key"),
        "recovery_point_tags": _Named("tag", _identifier, _TAG),
        # AWS Backup's IndexActions takes one resource type per rule, but every example on the page lists
        # ["EBS", "S3"]: the examples win.
        "index_actions": _Block("index_actions", {"resource_types": _Setting("list", _one_of("EBS", "S3"))}),
        "scan_actions": _Named(
            "scanner",
            _scanner,
            _Block(
                "a scan action",
                {"scan_mode": _Setting("single", _one_of("INCREMENTAL_SCAN", "FULL_SCAN"))},
                required=("scan_mode",),
            ),
        ),
    },
    required=("schedule_expression", "target_backup_vault_name"),
    checks=(_continuous_backup_retention,),
)

_PLAN = _Block(
    "a plan",
    {
        "regions": _Setting("list", _text(_region)),
        "rules": _Named("rule", _plan_item_name("rule"), _RULE, nonempty=True),
        # The page calls tags and resources "mutually exclusive": each selection is one kind or the other (a
        # resources selection filters tags with conditions). A plan may hold both kinds of selection.
        "selections": _Block(
            "selections",
            {
                "tags": _Named("tags selection", _plan_item_name("selection"), _TAGS_SELECTION),
                "resources": _Named("resources selection", _plan_item_name("selection"), _RESOURCES_SELECTION),
            },
        ),
        "advanced_backup_settings": _Block(
            "advanced_backup_settings",
            {
                # The page wrote "WindowsVSS" until 2024 and "windows_vss" since; both are accepted.
                "ec2": _Block("ec2 settings", {"windows_vss": _enabled_disabled(), "WindowsVSS": _enabled_disabled()}),
                "s3": _Block(
                    "s3 settings", {"backup_acls": _enabled_disabled(), "backup_object_tags": _enabled_disabled()}
                ),
            },
        ),
        "backup_plan_tags": _Named("tag", _identifier, _TAG),
        "scan_settings": _Named(
            "scanner",
            _scanner,
            _Block(
                "scan settings",
                {
                    "resource_types": _Setting("list", _one_of("EBS", "EC2", "S3", "ALL")),
                    "scanner_role_arn": _ROLE,
                },
                required=("resource_types", "scanner_role_arn"),
            ),
        ),
    },
    required=("regions", "rules", "selections"),
    checks=(_plan_completeness,),
)

_POLICY = _Block(
    "the policy",
    {"plans": _Named("plan", _plan_item_name("plan"), _PLAN, nonempty=True)},
    required=("plans",),
)


# ----------------------------------------------------------------------------------------------------------------
# The walk.
# ----------------------------------------------------------------------------------------------------------------

_IDENTIFIER_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def join_path(path: str, key: str | int) -> str:
    """``path`` extended by an object key or list index, in JSONPath (``$.plans['my-plan'].rules``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER_KEY.fullmatch(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


class _Validator:
    def __init__(self, *, standalone: bool) -> None:
        self.standalone = standalone
        self.issues: list[PolicyIssue] = []

    def add(self, path: str, rule: str, message: str) -> None:
        self.issues.append(PolicyIssue(path=path, message=message, rule=rule))

    def problem(self, path: str, label: str, value: object, problem: Problem) -> None:
        rule, why = problem
        self.add(path, rule, f"{label} is {show_json(value)}: {why}")

    # --- operators -----------------------------------------------------------------------------------------------

    def child_control(self, path: str, value: object) -> None:
        where = join_path(path, CHILD_CONTROL)
        if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
            self.add(
                where,
                "child-control",
                f"{CHILD_CONTROL} is {show_json(value)}: it must be a non-empty list of operators",
            )
            return
        unknown = [item for item in value if item not in CHILD_CONTROL_VALUES]
        if unknown:
            self.add(
                where,
                "child-control",
                f"{CHILD_CONTROL} is {show_json(value)}: {show_json(unknown[0])} is not one of "
                f"{', '.join(CHILD_CONTROL_VALUES)}",
            )
        elif len(value) > 1 and ({"@@all", "@@none"} & set(value)):
            self.add(
                where, "child-control", f"{CHILD_CONTROL} is {show_json(value)}: @@all and @@none must stand alone"
            )
        elif len(set(value)) != len(value):
            self.add(where, "list-duplicate", f"{CHILD_CONTROL} is {show_json(value)}: it names an operator twice")

    def operator_key(self, path: str, key: str, value: object, *, container: str) -> None:
        """An @@ key in a block or named map (not a setting)."""
        if key == CHILD_CONTROL:
            self.child_control(path, value)
        elif key in VALUE_OPERATORS:
            # AWS's examples put value-setting operators on settings only, never on the elements holding them.
            self.add(
                join_path(path, key),
                "operator-placement",
                f"{key} cannot set {container} as a whole: put it on each setting inside (as AWS's examples do)",
            )
        else:
            self.add(join_path(path, key), "operator-unknown", f"{key} is not an inheritance operator")

    # --- elements ------------------------------------------------------------------------------------------------

    def node(self, spec: _Spec, value: object, path: str, label: str, name: str) -> None:
        if isinstance(spec, _Setting):
            self.setting(spec, value, path, label)
        elif isinstance(spec, _Block):
            self.block(spec, value, path, label, name)
        else:
            self.named(spec, value, path, label)

    def block(self, spec: _Block, value: object, path: str, label: str, name: str) -> None:
        if not isinstance(value, Mapping):
            self.add(path, "value-type", f"{label} is {show_json(value)}: it must be an object holding {spec.what}")
            return
        for key, child in value.items():
            if not isinstance(key, str):
                self.add(path, "value-type", f"{label} has the key {key!r}: JSON object keys are strings")
            elif key.startswith("@@"):
                self.operator_key(path, key, child, container=label)
            elif key in spec.keys:
                self.node(spec.keys[key], child, join_path(path, key), key, key)
            elif key in spec.misplaced:
                self.add(join_path(path, key), "selection-kind", spec.misplaced[key])
            else:
                self.unknown_key(path, key, spec)
        if self.standalone:
            for key in spec.required:
                if key not in value:
                    self.add(join_path(path, key), "required-key", f"{key} is missing: {spec.what} must have it")
        for check in spec.checks:
            check(self, value, path, name)

    def unknown_key(self, path: str, key: str, spec: _Block) -> None:
        close = difflib.get_close_matches(key, list(spec.keys), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        allowed = ", ".join(spec.keys)
        self.add(join_path(path, key), "unknown-key", f"{key!r} is not a key of {spec.what}{hint}: expected {allowed}")

    def named(self, spec: _Named, value: object, path: str, label: str) -> None:
        if not isinstance(value, Mapping):
            self.add(path, "value-type", f"{label} is {show_json(value)}: it must be an object of named {spec.what}s")
            return
        names = [key for key in value if isinstance(key, str) and not key.startswith("@@")]
        for key, child in value.items():
            if not isinstance(key, str):
                self.add(path, "value-type", f"{label} has the key {key!r}: JSON object keys are strings")
                continue
            if key.startswith("@@"):
                self.operator_key(path, key, child, container=label)
                continue
            where = join_path(path, key)
            if problem := spec.name_check(key):
                rule, why = problem
                self.add(where, rule, f"{spec.what} {spec.key_word} {show_json(key)}: {why}")
            self.node(spec.item, child, where, f"{spec.what} {key}", key)
        if self.standalone and spec.nonempty and not names:
            self.add(path, "empty-collection", f"{label} is empty: it needs at least one {spec.what}")

    def setting(self, spec: _Setting, value: object, path: str, label: str) -> None:
        if not isinstance(value, Mapping):
            self.add(
                path,
                "setting-operator",
                f"{label} is {show_json(value)}: set it with an inheritance operator, "
                f'e.g. {{"@@assign": {show_json(value)}}} '
                "(plain values appear only in displayed effective policies, which AWS says cannot be used as policies)",
            )
            return
        operators = [key for key in value if key in VALUE_OPERATORS]
        for key, child in value.items():
            if key == CHILD_CONTROL:
                self.child_control(path, child)
            elif key not in VALUE_OPERATORS:
                rule = "operator-unknown" if key.startswith("@@") else "unknown-key"
                self.add(
                    join_path(path, key),
                    rule,
                    f"{key!r} is not allowed in the setting {label}: a setting holds one of "
                    f"{', '.join(VALUE_OPERATORS)} and optionally {CHILD_CONTROL}",
                )
        if len(operators) != 1:
            found = ", ".join(operators) or "none"
            self.add(
                path,
                "operator-count",
                f"{label} has {found}: a setting needs exactly one of {', '.join(VALUE_OPERATORS)}",
            )
        for operator in operators:
            self.operand(spec, value[operator], path, label, operator)

    def operand(self, spec: _Setting, value: object, path: str, label: str, operator: str) -> None:
        if spec.kind == "single":
            if operator != ASSIGN:
                self.add(
                    path,
                    "operator-multivalued",
                    f"{label} uses {operator}: {operator} works only on multi-valued settings; use @@assign",
                )
                return
            self.value(spec, value, path, label)
            return
        if not isinstance(value, list):
            self.add(path, "value-type", f"{label} is {show_json(value)}: {operator} takes a list of values")
            return
        seen: set[str] = set()
        for index, item in enumerate(value):
            self.value(spec, item, join_path(path, index), label)
            key = json.dumps(item, sort_keys=True)
            if key in seen:
                self.add(join_path(path, index), "list-duplicate", f"{label} lists {show_json(item)} more than once")
            seen.add(key)

    def value(self, spec: _Setting, value: object, path: str, label: str) -> None:
        if not spec.holds_arn and isinstance(value, str):
            for variable in (_ACCOUNT_VARIABLE, _REGION_VARIABLE):
                if variable in value:
                    self.add(
                        path,
                        "account-variable",
                        f"{label} is {show_json(value)}: {variable} may appear only in ARNs "
                        "(iam_role_arn, copy targets, scanner_role_arn, air-gapped vault ARNs)",
                    )
                    return
        if problem := spec.check(value):
            self.problem(path, label, value, problem)


# ----------------------------------------------------------------------------------------------------------------
# Public API.
# ----------------------------------------------------------------------------------------------------------------


def validate_policy(
    document: object, *, standalone: bool = False, extra_regions: Iterable[str] = ()
) -> list[PolicyIssue]:
    """Every problem of ``document`` (a parsed backup policy); empty when it is valid.

    ``standalone``: the policy must form complete backup plans by itself, not only override inherited settings.
    ``extra_regions``: Region names to accept besides the ones botocore knows (Regions newer than botocore).
    """
    token = _EXTRA_REGIONS.set(frozenset(extra_regions))
    try:
        return _validate(document, standalone=standalone)
    finally:
        _EXTRA_REGIONS.reset(token)


def _validate(document: object, *, standalone: bool) -> list[PolicyIssue]:
    validator = _Validator(standalone=standalone)
    if not isinstance(document, Mapping):
        validator.add("$", "document-type", f"the policy is {show_json(document)}: it must be a JSON object with plans")
        return validator.issues
    body: dict[object, object] = {}
    for key, value in document.items():
        if isinstance(key, str) and key.startswith("@@"):
            # The page: a backup policy "must always start with" plans; operators go below it (as in Example 3).
            validator.add(
                join_path("$", key), "operator-placement", f"{key} cannot stand at the top level: only plans can"
            )
        else:
            body[key] = value
    validator.block(_POLICY, body, "$", "the policy", "$")
    try:
        size = len(minify(document))
    except (TypeError, ValueError) as error:
        validator.add("$", "document-type", f"the policy holds a value that is not JSON: {error}")
        return validator.issues
    if size > MAX_POLICY_CHARACTERS:
        validator.add(
            "$",
            "size-limit",
            f"the minified policy is {size:,} characters: AWS Organizations accepts at most "
            f"{MAX_POLICY_CHARACTERS:,} characters per backup policy",
        )
    return validator.issues


class _ParsedObject(dict[str, Any]):
    """A JSON object that remembers the keys its text repeated."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _ParsedObject:
    result = _ParsedObject()
    result.duplicates = []
    for key, value in pairs:
        if key in result:
            result.duplicates.append(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _duplicate_issues(node: object, path: str) -> Iterable[PolicyIssue]:
    if isinstance(node, _ParsedObject):
        for key in node.duplicates:
            yield PolicyIssue(
                join_path(path, key),
                f"the key {key!r} appears more than once in this object: Organizations rejects duplicate key names",
                "json-duplicate-key",
            )
        for key, child in node.items():
            yield from _duplicate_issues(child, join_path(path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _duplicate_issues(child, join_path(path, index))


def parse_policy_text(text: str) -> tuple[object, list[PolicyIssue]]:
    """The parsed document and the JSON-level issues (syntax, repeated keys). The document is None on bad JSON."""
    try:
        document = json.loads(text, object_pairs_hook=_pairs, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        message = f"the policy is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        return None, [PolicyIssue("$", message, "json-syntax")]
    except ValueError as error:
        return None, [PolicyIssue("$", f"the policy is not valid JSON: {error}", "json-syntax")]
    return document, list(_duplicate_issues(document, "$"))


def validate_policy_text(
    text: str, *, standalone: bool = False, extra_regions: Iterable[str] = ()
) -> list[PolicyIssue]:
    """Every problem of a policy given as JSON text (as in a file or the Organizations API's Content)."""
    try:
        document, issues = parse_policy_text(text)
        if issues and document is None:
            return issues
        return issues + validate_policy(document, standalone=standalone, extra_regions=extra_regions)
    except RecursionError:
        # Parsing and the checks walk the document recursively; no backup policy is nested anywhere near this deep.
        return [PolicyIssue("$", "the policy is nested too deeply to be a backup policy", "json-syntax")]
