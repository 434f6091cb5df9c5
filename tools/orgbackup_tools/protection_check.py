"""`orgbackup protection check`: for every resource type AWS Backup supports and every backup Region, is it backed
up, copied to the central vault (and a disaster-recovery Region), and can it come back for a restore? And the same
for each resource of an inventory.

Everything is derived, nothing assumed: the plans, their Regions, tag selections, vaults and copy actions come from
the rendered backup policies (each copy action's target ARN gives its account and Region, compared with the
backup's own); the vault keys, the member vault's access policy, the central backup role and the central vault
key's policy come from the StackSet templates, resolved with the deployment parameters; the copy rules come from
``orgbackup/protection/copy_rules.json`` (each with its AWS page). Development-only (PyYAML, templates on disk).

A backup's source is any member account (``$account``) in the plan's Region. A copy action whose target names another
account is cross-account; one whose target Region differs is cross-Region. A copy into the central account is the
central copy; a copy within the account to another Region is the disaster-recovery copy.
"""

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from orgbackup import fields, settings_loader
from orgbackup.exceptions import ConfigurationError, InvalidInputError
from orgbackup.protection.access import Principal, policy_allows
from orgbackup.protection.rules import CopyVerdict, Reason, ResourceRule, RuleBook
from orgbackup.settings import Settings
from orgbackup_tools import deployment, intrinsics

MEMBER_TEMPLATE: Final = deployment.PROJECT_ROOT / "stacksets" / "member-account.yaml"
CENTRAL_TEMPLATE: Final = deployment.PROJECT_ROOT / "stacksets" / "central-backup-account.yaml"
# A member account ID to resolve the member template with (any account that is neither the central one nor the
# management account: the template's statements name the account only as AWS::AccountId).
MEMBER_STAND_IN: Final = "123456789012"
COPY_INTO: Final = "backup:CopyIntoBackupVault"
BACKUP_SERVICE_LINKED_ROLE: Final = "role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup"
STATUS_ORDER: Final = {"none": 0, "allowed": 1, "depends-on-key": 2, "refused": 3}
VAULT_ARN: Final = re.compile(
    r"arn:(?P<partition>[^:]+):backup:(?P<region>[^:]+):(?P<account>[^:]+):backup-vault:(?P<name>.+)"
)
POLICY_SYNTAX_PAGE: Final = (
    "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_backup_syntax.html"
)
MAX_INVENTORY_BYTES: Final = 10 * 1024 * 1024
INVENTORY_FIELDS: Final = ("arn", "kms_key_arn", "key_manager", "tags", "resource_type", "region")
RESOURCE_ARN: Final = re.compile(r"arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)")
KMS_ARN: Final = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)")


# ---------------------------------------------------------------------------------------------------------------
# The templates, resolved


class _Resolver:
    """Fills a template's intrinsic functions with the deployment's values: Ref, Fn::Sub, Fn::If (its Condition
    evaluated), Fn::Select/Fn::Split of resolved text. Anything else stays as it is (and matches nothing)."""

    def __init__(self, template: Mapping[str, Any], values: Mapping[str, str]) -> None:
        self.template = template
        self.values = values

    def condition(self, name: str) -> bool:
        return intrinsics.evaluate_condition(name, self.template, self.values)

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self(item) for item in node) if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((name, argument),) = node.items()
            if name == "Ref":
                return _NO_VALUE if argument == "AWS::NoValue" else self.values.get(argument, node)
            if name == "Fn::Sub":
                text, extra = (argument, {}) if isinstance(argument, str) else (argument[0], self(argument[1]))
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(extra.get(m[1], self.values.get(m[1], m[0]))), text)
            if name == "Fn::If":
                chosen = argument[1] if self.condition(argument[0]) else argument[2]
                return self(chosen)
        resolved = {key: self(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}


_NO_VALUE: Final = object()


def _template_values(
    template: Mapping[str, Any], given: Mapping[str, str], account_id: str, region: str
) -> dict[str, str]:
    values = {
        name: str(spec["Default"]) for name, spec in (template.get("Parameters") or {}).items() if "Default" in spec
    }
    values.update({key: value for key, value in given.items() if key in (template.get("Parameters") or {})})
    values.update(
        {"AWS::AccountId": account_id, "AWS::Region": region, "AWS::Partition": given.get("Partition", "aws")}
    )
    return values


@dataclass(frozen=True)
class Baselines:
    """What the StackSet templates put in place, for these deployment values."""

    member_vault_policy: Any
    member_key_policy: Any
    central_key_policy: Any
    central_role_name: str | None
    central_role_trusts_backup: bool
    central_role_copies_into: tuple[str, ...]
    member_key_alias: str
    central_key_alias: str

    @classmethod
    def load(
        cls,
        settings: Settings,
        stackset_values: Mapping[str, Mapping[str, str]],
        member_template: Path = MEMBER_TEMPLATE,
        central_template: Path = CENTRAL_TEMPLATE,
    ) -> "Baselines":
        region = settings.primary_region
        member = deployment.load_template(member_template)
        central = deployment.load_template(central_template)
        member_values = _template_values(member, stackset_values.get("member", {}), MEMBER_STAND_IN, region)
        central_values = _template_values(
            central, stackset_values.get("central", {}), settings.central_backup_account_id, region
        )
        resolve_member, resolve_central = _Resolver(member, member_values), _Resolver(central, central_values)
        resources_m, resources_c = member.get("Resources") or {}, central.get("Resources") or {}
        vault = _first(resources_m, "AWS::Backup::BackupVault")
        member_key = _first(resources_m, "AWS::KMS::Key")
        central_key = _first(resources_c, "AWS::KMS::Key")
        role_name: str | None = None
        trusts = False
        copies: tuple[str, ...] = ()
        for resource in resources_c.values():
            if resource.get("Type") != "AWS::IAM::Role":
                continue
            properties = resolve_central(resource.get("Properties") or {})
            trust = json.dumps(properties.get("AssumeRolePolicyDocument", {}))
            targets = _allowed_resources(properties.get("Policies") or [], COPY_INTO)
            if "backup.amazonaws.com" in trust and targets:
                role_name, trusts, copies = str(properties.get("RoleName")), True, tuple(targets)
        return cls(
            member_vault_policy=resolve_member((vault.get("Properties") or {}).get("AccessPolicy")),
            member_key_policy=resolve_member((member_key.get("Properties") or {}).get("KeyPolicy")),
            central_key_policy=resolve_central((central_key.get("Properties") or {}).get("KeyPolicy")),
            central_role_name=role_name,
            central_role_trusts_backup=trusts,
            central_role_copies_into=copies,
            member_key_alias=member_values.get("MemberKeyAlias", "?"),
            central_key_alias=central_values.get("CentralKeyAlias", "?"),
        )


def _first(resources: Mapping[str, Any], kind: str) -> dict[str, Any]:
    for resource in resources.values():
        if isinstance(resource, dict) and resource.get("Type") == kind:
            return resource
    return {}


def _allowed_resources(policies: Iterable[Any], action: str) -> list[str]:
    found: list[str] = []
    for policy in policies:
        document = policy.get("PolicyDocument", {}) if isinstance(policy, dict) else {}
        for statement in document.get("Statement", []):
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if statement.get("Effect") == "Allow" and action in actions:
                resources = statement.get("Resource", [])
                found.extend([resources] if isinstance(resources, str) else resources)
    return [str(item) for item in found]


def stackset_values(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The parameters template.yaml passes to each StackSet (Ref/If/Select of deployment values resolved)."""
    resolve = _Resolver(template, {**parameters, "AWS::Partition": "aws"})
    out: dict[str, dict[str, str]] = {}
    for logical_id, key in (("MemberStackSet", "member"), ("CentralStackSet", "central")):
        items = ((template.get("Resources") or {}).get(logical_id) or {}).get("Properties", {}).get("Parameters", [])
        values: dict[str, str] = {}
        for item in items:
            value = item.get("ParameterValue")
            if isinstance(value, dict) and "Fn::Select" in value:
                index, listed = value["Fn::Select"]
                listed = resolve(listed)
                value = settings_loader.split_list(listed)[int(index)] if isinstance(listed, str) else value
            value = resolve(value)
            if isinstance(value, str):
                values[item["ParameterKey"]] = value
        out[key] = values
    return out


# ---------------------------------------------------------------------------------------------------------------
# The policies, read


@dataclass(frozen=True)
class CopyAction:
    target: str
    account: str  # "$account" or an account ID
    region: str


@dataclass(frozen=True)
class PlanRule:
    policy: str
    plan: str
    rule: str
    regions: tuple[str, ...]
    vault: str
    tag_selections: tuple[tuple[str, tuple[str, ...]], ...]
    resource_patterns: tuple[str, ...]
    copies: tuple[CopyAction, ...]

    def label(self) -> str:
        return f"{self.plan}/{self.rule}"


def _assigned(node: Any, key: str) -> Any:
    value = node.get(key) if isinstance(node, dict) else None
    return value.get("@@assign") if isinstance(value, dict) else value


def plan_rules(policies: Sequence[tuple[str, Mapping[str, Any]]]) -> list[PlanRule]:
    """Every rule of every plan of the (rendered) policies, with what decides its backups and copies."""
    found: list[PlanRule] = []
    for policy_name, document in policies:
        for plan_name, plan in (document.get("plans") or {}).items():
            regions = tuple(_assigned(plan, "regions") or ())
            selections = plan.get("selections") or {}
            tags = tuple(
                (str(_assigned(item, "tag_key")), tuple(_as_list(_assigned(item, "tag_value"))))
                for item in (selections.get("tags") or {}).values()
            )
            patterns = tuple(
                str(pattern)
                for item in (selections.get("resources") or {}).values()
                for pattern in _as_list(_assigned(item, "resource_types"))
            )
            for rule_name, rule in (plan.get("rules") or {}).items():
                copies = []
                for key, action in (rule.get("copy_actions") or {}).items():
                    target = str(_assigned(action, "target_backup_vault_arn") or key)
                    match = VAULT_ARN.fullmatch(target)
                    if match:
                        copies.append(CopyAction(target, match["account"], match["region"]))
                found.append(
                    PlanRule(
                        policy=policy_name,
                        plan=plan_name,
                        rule=rule_name,
                        regions=regions,
                        vault=str(_assigned(rule, "target_backup_vault_name")),
                        tag_selections=tags,
                        resource_patterns=patterns,
                        copies=tuple(copies),
                    )
                )
    return found


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------------------------
# The judgement


@dataclass
class Copy:
    status: str = "none"
    targets: list[str] = field(default_factory=list)
    cross_account: bool = False
    cross_region: bool = False

    def merge(self, action: CopyAction, verdict: CopyVerdict, cross_account: bool, cross_region: bool) -> None:
        if STATUS_ORDER[verdict.status] > STATUS_ORDER[self.status]:
            self.status = verdict.status
        if action.target not in self.targets:
            self.targets.append(action.target)
        self.cross_account |= cross_account
        self.cross_region |= cross_region

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "targets": self.targets,
            "cross_account": self.cross_account,
            "cross_region": self.cross_region,
        }


@dataclass
class Verdict:
    resource_type: str
    region: str
    backup: dict[str, Any]
    central_copy: Copy
    dr_copy: Copy
    restore_path: dict[str, Any]
    reasons: list[Reason]

    def add(self, *reasons: Reason) -> None:
        for reason in reasons:
            if reason not in self.reasons:
                self.reasons.append(reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource_type": self.resource_type,
            "region": self.region,
            "backup": self.backup,
            "central_copy": self.central_copy.as_dict(),
            "dr_copy": self.dr_copy.as_dict(),
            "restore_path": self.restore_path,
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


class Checker:
    def __init__(
        self,
        settings: Settings,
        rules: RuleBook,
        policies: Sequence[tuple[str, Mapping[str, Any]]],
        baselines: Baselines,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.plan_rules = plan_rules(policies)
        self.baselines = baselines
        self.central = settings.central_backup_account_id

    # -- the way back (the same for every type and Region, apart from the type's own rules) -------------------
    def way_back(self, rule: ResourceRule, region: str) -> tuple[list[str], list[Reason]]:
        """What blocks a copy from the central vault back into a member vault in ``region`` (empty: nothing)."""
        blockers: list[str] = []
        cross_account = self.rules.rules["copy_back"]
        base = self.baselines
        if not (base.central_role_name and base.central_role_trusts_backup):
            blockers.append("the central baseline has no backup role AWS Backup can assume to copy back")
        elif not any(
            _arn_matches(pattern, self._member_vault_arn(region)) for pattern in base.central_role_copies_into
        ):
            blockers.append(f"the central backup role may not {COPY_INTO} the member vaults")
        role = f"arn:aws:iam::{self.central}:role/{base.central_role_name}"
        allowed, why = policy_allows(base.member_vault_policy, COPY_INTO, Principal(self.central, role, region))
        if not allowed:
            blockers.append(
                f"the member vault's access policy does not allow {COPY_INTO} from the central account ({why})"
            )
        member_backup = Principal(
            MEMBER_STAND_IN,
            f"arn:aws:iam::{MEMBER_STAND_IN}:{BACKUP_SERVICE_LINKED_ROLE}",
            region,
            self.settings.organization_id,
        )
        for action in ("kms:Decrypt", "kms:CreateGrant"):
            allowed, why = policy_allows(base.central_key_policy, action, member_backup)
            if not allowed:
                blockers.append(f"the central vault key's policy does not allow {action} to a member account ({why})")
        verdict = self.rules.judge_copy(
            rule.resource_type, cross_account=True, cross_region=False, key_manager="CUSTOMER"
        )
        if verdict.status == "refused":
            blockers.extend(reason.text for reason in verdict.reasons)
        if not rule.restore:
            blockers.append(f"AWS Backup does not restore {rule.name}")
        return blockers, [cross_account]

    def _member_vault_arn(self, region: str) -> str:
        return f"arn:aws:backup:{region}:{MEMBER_STAND_IN}:backup-vault:{self.settings.member_vault_name}"

    # -- one type in one Region -------------------------------------------------------------------------------
    def judge(
        self,
        rule: ResourceRule,
        region: str,
        rules_in_force: Sequence[PlanRule],
        key_manager: str | None = None,
        selected_by: Sequence[str] | None = None,
        not_selected: str | None = None,
    ) -> Verdict:
        verdict = Verdict(rule.resource_type, region, {}, Copy(), Copy(), {}, [])
        labels = list(selected_by) if selected_by is not None else [item.label() for item in rules_in_force]
        key = (
            f"the member vault key ({self.baselines.member_key_alias})"
            if rule.fully_managed
            else "the resource's own KMS key"
        )
        verdict.backup = {
            "selected": bool(rules_in_force),
            "plans": labels,
            "vaults": sorted({item.vault for item in rules_in_force}),
            "key": key,
            "key_source": rule.sources["backup_key"],
        }
        if not rules_in_force:
            verdict.add(Reason(not_selected or f"no backup plan selects it in {region}", POLICY_SYNTAX_PAGE))
        typed_key = key_manager if key_manager in ("AWS", "CUSTOMER") else None
        for item in rules_in_force:
            for action in item.copies:
                cross_account = action.account not in ("$account",)
                cross_region = action.region != region
                target_account = (
                    "the central account" if action.account == self.central else f"account {action.account}"
                )
                judged = self.rules.judge_copy(
                    rule.resource_type,
                    cross_account=cross_account,
                    cross_region=cross_region,
                    key_manager=typed_key,  # type: ignore[arg-type]
                    target_account=f"{target_account} ({action.account})" if cross_account else target_account,
                )
                if action.region not in self.settings.backup_regions and action.account == self.central:
                    judged = CopyVerdict(
                        "refused",
                        (
                            Reason(
                                f"the central baseline has no vault in {action.region} (not a backup Region)",
                                rule.sources["cross_region_copy"],
                            ),
                        ),
                    )
                if action.account == self.central:
                    verdict.central_copy.merge(action, judged, cross_account, cross_region)
                elif not cross_account and cross_region:
                    verdict.dr_copy.merge(action, judged, cross_account, cross_region)
                # Other copies (another account, or the same vault's Region) are neither; their rules still show.
                verdict.add(*judged.reasons)
        if rule.fully_managed and verdict.central_copy.status in ("allowed",):
            allowed, why = policy_allows(
                self.baselines.member_key_policy,
                "kms:Decrypt",
                Principal(
                    self.central,
                    f"arn:aws:iam::{self.central}:{BACKUP_SERVICE_LINKED_ROLE}",
                    region,
                    self.settings.organization_id,
                ),
            )
            if not allowed:
                verdict.central_copy.status = "refused"
                verdict.add(
                    Reason(
                        f"the member vault key's policy does not let the central account use it ({why})",
                        self.rules.rules["customer_key_shared"].source,
                    )
                )
        if rule.notes:
            verdict.add(Reason(rule.notes, rule.notes_source))
        verdict.restore_path = self._restore_path(rule, region, verdict)
        return verdict

    def _restore_path(self, rule: ResourceRule, region: str, verdict: Verdict) -> dict[str, Any]:
        if not verdict.backup["selected"]:
            return {"status": "none", "how": "nothing is backed up"}
        if verdict.central_copy.status in ("none", "refused"):
            how = f"restore from the member vault in {region} (no central copy)"
            return {"status": "member-vault-only", "how": how}
        blockers, reasons = self.way_back(rule, region)
        verdict.add(*reasons)
        if blockers:
            verdict.add(*(Reason(text, reasons[0].source) for text in blockers))
            return {"status": "blocked", "how": "; ".join(blockers)}
        return {
            "status": "available",
            "how": "orgbackup recover --recovery-point <central ARN> --to-account <account> copies it back into the "
            "member vault (same Region), then restore it there",
        }

    # -- every type, every Region -----------------------------------------------------------------------------
    def types(self) -> list[Verdict]:
        verdicts = []
        for rule in sorted(self.rules.types.values(), key=lambda item: item.resource_type):
            for region in self.settings.backup_regions:
                in_force = [
                    item for item in self.plan_rules if region in item.regions and self._selects_type(item, rule)
                ]
                verdicts.append(self.judge(rule, region, in_force))
        return verdicts

    def _selects_type(self, item: PlanRule, rule: ResourceRule) -> bool:
        if item.tag_selections:
            return True
        return any(
            pattern == "*" or self.rules.resource_type_for_arn(pattern.replace("*", "x")) == rule.resource_type
            for pattern in item.resource_patterns
        )

    # -- resources of an inventory ----------------------------------------------------------------------------
    def resource(self, entry: "InventoryEntry") -> dict[str, Any]:
        out: dict[str, Any] = {"arn": entry.arn, "resource_type": entry.resource_type, "region": entry.region}
        if entry.resource_type is None:
            out.update(
                supported=False,
                reasons=[
                    {
                        "text": "not a resource type AWS Backup supports (by its ARN); give resource_type if it is one",
                        "source": self.rules.pages["feature-availability"],
                    }
                ],
            )
            return out
        rule = self.rules.rule(entry.resource_type)
        selecting = [
            item for item in self.plan_rules if entry.region in item.regions and self._selects_resource(item, entry)
        ]
        labels = [f"{item.label()} ({self._why_selected(item, entry)})" for item in selecting]
        verdict = self.judge(
            rule,
            entry.region,
            selecting,
            key_manager=entry.key_manager,
            selected_by=labels,
            not_selected=self._why_not_selected(entry),
        )
        if not rule.fully_managed and entry.key_manager is None and entry.kms_key_arn is None:
            verdict.add(
                Reason(
                    "the resource's key is not given: give kms_key_arn or key_manager to know whether its central "
                    "copy can work",
                    self.rules.rules["aws_managed_key"].source,
                )
            )
        out.update(
            supported=True, **{k: v for k, v in verdict.as_dict().items() if k not in ("resource_type", "region")}
        )
        return out

    def _selects_resource(self, item: PlanRule, entry: "InventoryEntry") -> bool:
        import fnmatch  # noqa: PLC0415

        by_tag = any(entry.tags.get(key) in values for key, values in item.tag_selections)
        by_pattern = any(fnmatch.fnmatchcase(entry.arn, pattern) for pattern in item.resource_patterns)
        return by_tag or by_pattern

    def _why_selected(self, item: PlanRule, entry: "InventoryEntry") -> str:
        for key, values in item.tag_selections:
            if entry.tags.get(key) in values:
                return f"tag {key}={entry.tags[key]}"
        return "resource selection"

    def _why_not_selected(self, entry: "InventoryEntry") -> str:
        wanted = sorted(
            {f"{key}={value}" for item in self.plan_rules for key, values in item.tag_selections for value in values}
        )
        covered = sorted({region for item in self.plan_rules for region in item.regions})
        if entry.region not in covered:
            return f"no plan covers {entry.region} (plans cover {', '.join(covered) or 'no Region'})"
        return f"not selected: tag it {' or '.join(wanted) or '(no tag selections)'}"


def _arn_matches(pattern: str, arn: str) -> bool:
    import fnmatch  # noqa: PLC0415

    return fnmatch.fnmatchcase(arn, pattern)


# ---------------------------------------------------------------------------------------------------------------
# The inventory


@dataclass(frozen=True)
class InventoryEntry:
    arn: str
    region: str
    resource_type: str | None
    kms_key_arn: str | None
    key_manager: str | None
    tags: dict[str, str]


def read_inventory(path: Path) -> Any:
    """The inventory file's JSON; ConfigurationError (an unusable file) when it cannot be read as JSON text."""
    try:
        if path.stat().st_size > MAX_INVENTORY_BYTES:
            raise ConfigurationError(f"{path}: larger than {MAX_INVENTORY_BYTES:,} bytes")
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot read the inventory: {error.strerror or error}") from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigurationError(
            f"{path}: not UTF-8 text (byte {error.start}): the inventory is a JSON file"
        ) from error
    try:
        return json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"{path}: not JSON: {error}") from error
    except RecursionError as error:
        raise ConfigurationError(f"{path}: nested too deeply to be an inventory") from error


def parse_inventory(document: Any, rules: RuleBook, settings: Settings) -> list[InventoryEntry]:
    """The inventory's entries; InvalidInputError naming the entry index and field of the first problems."""
    if not isinstance(document, list):
        raise InvalidInputError(f"inventory: must be a JSON list of resources, not {type(document).__name__}")
    problems: list[str] = []
    entries: list[InventoryEntry] = []
    for index, item in enumerate(document):
        where = f"inventory[{index}]"
        if not isinstance(item, dict):
            problems.append(f'{where}: must be an object like {{"arn": ...}}, not {type(item).__name__}')
            continue
        unknown = sorted(set(item) - set(INVENTORY_FIELDS))
        if unknown:
            problems.append(f"{where}.{unknown[0]}: unknown field (fields: {', '.join(INVENTORY_FIELDS)})")
            continue
        entry, why = _entry(item, where, rules, settings)
        if why:
            problems.append(why)
        elif entry is not None:
            entries.append(entry)
        if len(problems) >= 10:
            break
    if problems:
        raise InvalidInputError("invalid inventory: " + "; ".join(problems))
    return entries


def _text(item: Mapping[str, Any], name: str, where: str, *, required: bool = False) -> tuple[str | None, str | None]:
    value = item.get(name)
    if value is None:
        return None, (f"{where}.{name}: missing" if required else None)
    if not isinstance(value, str) or not value:
        return None, f"{where}.{name}: must be a non-empty string, not {json.dumps(value)[:60]}"
    return value, None


def _entry(  # noqa: PLR0912 - one check per field, in field order
    item: Mapping[str, Any], where: str, rules: RuleBook, settings: Settings
) -> tuple[InventoryEntry | None, str | None]:
    arn, why = _text(item, "arn", where, required=True)
    if why or arn is None:
        return None, why
    match = RESOURCE_ARN.fullmatch(arn)
    if not match:
        return None, f"{where}.arn: {arn[:80]!r} is not an ARN (arn:partition:service:region:account:resource)"
    kms_key_arn, why = _text(item, "kms_key_arn", where)
    if why:
        return None, why
    if kms_key_arn is not None and not KMS_ARN.fullmatch(kms_key_arn):
        return None, f"{where}.kms_key_arn: {kms_key_arn[:80]!r} is not a KMS key or alias ARN"
    key_manager, why = _text(item, "key_manager", where)
    if why:
        return None, why
    if key_manager is not None and key_manager not in ("AWS", "CUSTOMER"):
        return None, f"{where}.key_manager: {key_manager!r} must be AWS or CUSTOMER"
    if key_manager is None and kms_key_arn is not None and ":alias/aws/" in kms_key_arn:
        key_manager = "AWS"
    tags = item.get("tags", {})
    if not isinstance(tags, dict):
        return None, f"{where}.tags: must be an object of tag keys to string values"
    for key, value in tags.items():
        if not isinstance(value, str):
            return None, f"{where}.tags.{key}: must be a string, not {json.dumps(value)[:60]}"
        if len(key) > 128 or len(value) > 256:
            return None, f"{where}.tags.{key[:40]}: tag keys are at most 128 characters and values 256"
    resource_type, why = _text(item, "resource_type", where)
    if why:
        return None, why
    if resource_type is not None and resource_type not in rules.types:
        return None, f"{where}.resource_type: {resource_type!r} is not one of {', '.join(sorted(rules.types))}"
    region, why = _text(item, "region", where)
    if why:
        return None, why
    region = region or match[3] or None
    if region is not None and not re.fullmatch(fields.REGION, region):
        return None, f"{where}.region: {region!r} is not a Region name like eu-west-1"
    if region is None:
        return None, f"{where}.region: the ARN names no Region (an S3 bucket); give the bucket's region"
    return (
        InventoryEntry(
            arn=arn,
            region=region,
            resource_type=resource_type or rules.resource_type_for_arn(arn),
            kms_key_arn=kms_key_arn,
            key_manager=key_manager,
            tags=dict(tags),
        ),
        None,
    )
