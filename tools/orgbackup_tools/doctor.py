"""`orgbackup doctor`: read-only checks of what a deployment relies on, before the first `sam deploy` and after it.

Each check says what was checked, the result (ok, missing, wrong, cannot tell), what was found, the failure it
would cause, and the command or console step that fixes it. Nothing here changes anything: every AWS call is one
of ``READ_ONLY_ACTIONS`` (tests/integration/test_doctor.py records the calls and holds them to that list), and the
README lists them for the IAM policy of whoever runs it.

Run with the management account's credentials in the home Region. Development tooling (reads `template.yaml`);
never shipped to Lambda.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orgbackup import aws, fields, retry, settings_loader
from orgbackup.accounts import account_state, in_scope_active_account_ids
from orgbackup.aws.organizations import Organizations
from orgbackup.baseline import current_accounts, instance_states
from orgbackup.exceptions import ConfigurationError, OrgBackupError
from orgbackup.policies.apply import ACCOUNTS_TOKEN, ROOT_TOKEN, existing_policies
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.render import render_policies
from orgbackup.settings import Settings

OK, MISSING, WRONG, CANNOT_TELL = "ok", "missing", "wrong", "cannot tell"
BEFORE, AFTER = "before deploy", "after deploy"

# Every AWS action the doctor calls; all read-only (IAM service authorization reference: each is a List, Read or
# no-permission action). The README's "Before you deploy" section lists the same.
READ_ONLY_ACTIONS = (
    "sts:GetCallerIdentity",
    "organizations:DescribeOrganization",
    "organizations:ListAWSServiceAccessForOrganization",
    "organizations:ListRoots",
    "organizations:DescribeAccount",
    "organizations:DescribeOrganizationalUnit",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListParents",
    "organizations:ListPolicies",
    "organizations:ListTargetsForPolicy",
    "backup:DescribeGlobalSettings",
    "iam:GetRole",
    "account:GetRegionOptStatus",
    "controltower:ListEnabledBaselines",
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackSet",
    "cloudformation:ListStackInstances",
)

BACKUP_PRINCIPAL = "backup.amazonaws.com"
ACCOUNT_PRINCIPAL = "account.amazonaws.com"
# KMS CreateAlias: AliasName is alias/ followed by letters, digits, /, _ or -, and may not begin with alias/aws/
# (reserved for AWS managed keys). https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
KMS_ALIAS = r"alias/(?!aws/)[a-zA-Z0-9/_-]{1,250}"
# IAM role path and name: path segments and the name of IAM's name characters (``fields.IAM_NAME_CHAR``).
ROLE_WITH_PATH = rf"(?:{fields.IAM_NAME_CHAR}+/)*{fields.IAM_ROLE_NAME}"
VAULT_LOCK_MODES = ("NONE", "GOVERNANCE", "COMPLIANCE")


@dataclass(frozen=True)
class Check:
    name: str
    phase: str
    checked: str  # what was checked
    result: str  # ok | missing | wrong | cannot tell
    found: str  # what the doctor saw
    why: str  # the failure it would cause
    fix: str  # the exact command or console step

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Report:
    organization_id: str = ""
    management_account_id: str = ""
    stack_name: str = ""
    region: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.result == OK for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "organization_id": self.organization_id,
            "management_account_id": self.management_account_id,
            "stack_name": self.stack_name,
            "region": self.region,
            "checks": [check.as_dict() for check in self.checks],
        }


def _code(error: Exception) -> str:
    return retry.error_code(error) if isinstance(error, ClientError) else type(error).__name__


def _unreadable(error: Exception, action: str) -> str:
    return f"could not read it ({_code(error)}: {error}); the caller needs {action}"


class Doctor:
    """Runs every check with clients from ``session`` (boto3) in ``region``; ``parameters`` as `sam deploy` would
    pass them (template defaults, samconfig.toml, overrides)."""

    def __init__(
        self,
        session: Any,
        parameters: Mapping[str, str],
        *,
        stack_name: str,
        region: str,
        template_outputs: Sequence[str] = (),
    ) -> None:
        self.session = session
        self.parameters = dict(parameters)
        self.region = region
        self.template_outputs = tuple(template_outputs)
        self.report = Report(stack_name=stack_name, region=region)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config  # noqa: PLC0415

            from orgbackup.aws import RETRY_CONFIG  # noqa: PLC0415

            self._clients[service] = self.session.client(
                service, region_name=self.region, config=Config(**RETRY_CONFIG)
            )
        return self._clients[service]

    def add(self, name: str, phase: str, checked: str, result: str, found: str, why: str, fix: str) -> None:
        self.report.checks.append(Check(name, phase, checked, result, found, why, fix))

    def guarded(self, name: str, checked: str, why: str, action: str, fix: str, step: Callable[[], None]) -> None:
        """Run one check; an AWS error it did not expect makes it 'cannot tell' (with the permission it needs)."""
        before = len(self.report.checks)
        try:
            step()
        except (ClientError, BotoCoreError, OrgBackupError) as error:
            del self.report.checks[before:]
            self.add(name, BEFORE, checked, CANNOT_TELL, _unreadable(error, action), why, fix)

    # -- the run ----------------------------------------------------------------------------------------------
    def run(self) -> Report:
        organization = self.check_organization()
        management = organization.get("MasterAccountId", "") if organization else ""
        self.report.organization_id = organization.get("Id", "") if organization else ""
        self.report.management_account_id = management
        settings, params = self.check_parameters(management)
        self.check_vault_lock()
        if organization is None:
            return self.report  # nothing else can be read without the organization
        self.check_trusted_access()
        self.check_backup_policy_type()
        self.check_service_control_policy_type()
        self.check_cross_account_backup()
        self.check_stackset_administration_role()
        if settings is not None:
            self.check_central_account(settings)
            self.check_central_account_enrolled(settings)
            self.check_in_scope_ous(settings)
            self.check_excluded_accounts(settings)
            self.check_policy_targets(settings)
            self.check_backup_regions(settings)
        self.check_after_deploy(settings, params)
        return self.report

    # -- the organization and the caller ----------------------------------------------------------------------
    def check_organization(self) -> dict[str, Any] | None:
        why = "Everything the product does is organization-wide: it is deployed once, in the management account."
        try:
            organization: dict[str, Any] = self.client("organizations").describe_organization()["Organization"]
        except ClientError as error:
            if _code(error) == "AWSOrganizationsNotInUseException":
                self.add(
                    "organization",
                    BEFORE,
                    "An AWS Organization exists",
                    MISSING,
                    "this account is not in an organization",
                    why,
                    "Set up an AWS Control Tower landing zone (it creates the organization): "
                    "https://console.aws.amazon.com/controltower",
                )
            else:
                self.add(
                    "organization",
                    BEFORE,
                    "The organization can be read",
                    CANNOT_TELL,
                    _unreadable(error, "organizations:DescribeOrganization"),
                    why,
                    "Run with credentials of the management account that may call organizations:DescribeOrganization",
                )
            return None
        caller = self.client("sts").get_caller_identity()["Account"]
        management = organization["MasterAccountId"]
        self.add(
            "management-account",
            BEFORE,
            "The credentials are the management account's",
            OK if caller == management else WRONG,
            f"caller account {caller}, management account {management}",
            "Backup policies, trusted access and the StackSets' administration are the management account's alone: "
            "deployed elsewhere, the stack fails to create them.",
            "Run `orgbackup doctor` and `sam deploy` with credentials of the management account",
        )
        # Organizations user guide, "Enabling all features": policies such as backup policies need all features.
        # https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_org_support-all-features.html
        feature_set = organization.get("FeatureSet", "")
        self.add(
            "all-features",
            BEFORE,
            "The organization has all features enabled",
            OK if feature_set == "ALL" else WRONG,
            f"feature set {feature_set or 'unknown'}",
            "Backup policies and trusted access need all features; with consolidated billing only, the stack's "
            "backup policies cannot be created.",
            "aws organizations enable-all-features (then every account accepts the handshake)",
        )
        wanted = self.parameters.get("OrganizationId", "")
        self.add(
            "organization-id",
            BEFORE,
            "OrganizationId is this organization",
            OK if wanted == organization["Id"] else WRONG,
            f"OrganizationId={wanted!r}, the organization is {organization['Id']}",
            "Key and vault policies grant by aws:PrincipalOrgID: with another ID, no account of the organization can "
            "copy into the central vault or use the keys.",
            f'sam deploy --parameter-overrides OrganizationId="{organization["Id"]}" (or set it in samconfig.toml)',
        )
        return organization

    # -- the parameters ---------------------------------------------------------------------------------------
    def check_parameters(self, management: str) -> tuple[Settings | None, PolicyParameters | None]:
        values = {**self.parameters, "ManagementAccountId": management or "000000000000"}
        why = "CloudFormation refuses a parameter outside its pattern, and a name AWS refuses fails the stack midway."
        problems: list[str] = []
        settings: Settings | None = None
        params: PolicyParameters | None = None
        try:
            settings = settings_loader.load(Settings, values, naming="cfn")
        except ConfigurationError as error:
            problems.append(str(error))
        try:
            params = settings_loader.load(PolicyParameters, values, naming="cfn")
        except ConfigurationError as error:
            problems.append(str(error))
        for key, regex, rule in (
            ("MemberKeyAlias", KMS_ALIAS, "a KMS alias is alias/<letters, digits, /, _ or -> and not alias/aws/..."),
            ("CentralKeyAlias", KMS_ALIAS, "a KMS alias is alias/<letters, digits, /, _ or -> and not alias/aws/..."),
            ("CentralStacksetName", fields.STACKSET_NAME, "a StackSet name starts with a letter: letters, digits, -"),
            ("StackSetAdministrationRoleName", ROLE_WITH_PATH, "an IAM role name, with its path (service-role/...)"),
            ("StackSetExecutionRoleName", fields.IAM_ROLE_NAME, "an IAM role name"),
        ):
            value = self.parameters.get(key, "")
            if not re.fullmatch(regex, value):
                problems.append(f"{key}={value!r} is invalid: {rule}")
        self.add(
            "parameter-names",
            BEFORE,
            "Every parameter fits AWS's patterns (IDs, Regions, vault, role, alias and StackSet names)",
            OK if not problems else WRONG,
            "; ".join(problems) or "all parameters fit",
            why,
            "Correct the named parameters in samconfig.toml (parameter_overrides) or pass --parameter-overrides",
        )
        if settings is not None and params is not None:
            try:
                rendered = render_policies(settings, params)
            except OrgBackupError as error:
                self.add(
                    "backup-policy-parameters",
                    BEFORE,
                    "The backup policies render and validate from the parameters",
                    WRONG,
                    str(error),
                    "The BackupPolicies custom resource would fail the stack (Organizations refuses the policy).",
                    "Correct the named parameters; check with: orgbackup policy render",
                )
            else:
                self.add(
                    "backup-policy-parameters",
                    BEFORE,
                    "The backup policies render and validate from the parameters",
                    OK,
                    ", ".join(f"{policy.name} ({policy.size:,} characters)" for policy in rendered),
                    "The BackupPolicies custom resource would fail the stack (Organizations refuses the policy).",
                    "Correct the named parameters; check with: orgbackup policy render",
                )
        return settings, params

    def check_vault_lock(self) -> None:
        """Vault Lock's retention bounds against what is copied into the central vault. AWS Backup fails a backup or
        copy job whose retention is shorter than MinRetentionDays or longer than MaxRetentionDays, and
        ChangeableForDays must be at least 3 (72-hour cooling-off).
        https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultLockConfiguration.html
        https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-backup-backupvault-lockconfigurationtype.html
        """
        mode = self.parameters.get("VaultLockMode", "NONE")
        problems: list[str] = []
        numbers: dict[str, int] = {}
        for key in (
            "VaultLockMinRetentionDays",
            "VaultLockMaxRetentionDays",
            "VaultLockChangeableForDays",
            "CentralCopyRetentionDays",
        ):
            raw = self.parameters.get(key, "")
            try:
                numbers[key] = int(raw)
            except ValueError:
                problems.append(f"{key}={raw!r} is not a whole number")
        if mode not in VAULT_LOCK_MODES:
            problems.append(f"VaultLockMode={mode!r} must be one of {', '.join(VAULT_LOCK_MODES)}")
        elif mode != "NONE" and not problems:
            low, high = numbers["VaultLockMinRetentionDays"], numbers["VaultLockMaxRetentionDays"]
            copy_days = numbers["CentralCopyRetentionDays"]
            if low < 1:
                problems.append(f"VaultLockMinRetentionDays={low} must be at least 1")
            if high and high < low:
                problems.append(f"VaultLockMaxRetentionDays={high} is below VaultLockMinRetentionDays={low}")
            if copy_days < low:
                problems.append(
                    f"CentralCopyRetentionDays={copy_days} is below VaultLockMinRetentionDays={low}: the central "
                    "vault would refuse every copy"
                )
            if high and copy_days > high:
                problems.append(
                    f"CentralCopyRetentionDays={copy_days} is above VaultLockMaxRetentionDays={high}: the central "
                    "vault would refuse every copy"
                )
            if mode == "COMPLIANCE" and numbers["VaultLockChangeableForDays"] < 3:
                problems.append(
                    f"VaultLockChangeableForDays={numbers['VaultLockChangeableForDays']} must be at least 3 (AWS "
                    "Backup's 72-hour cooling-off period)"
                )
        found = "; ".join(problems) or (
            "no Vault Lock"
            if mode == "NONE"
            else f"{mode} lock; copies kept {numbers['CentralCopyRetentionDays']} days"
        )
        self.add(
            "vault-lock",
            BEFORE,
            "Vault Lock and the retention of the copies into the central vault agree",
            OK if not problems else WRONG,
            found,
            "A locked vault fails every copy job whose retention is outside its bounds, so nothing reaches the central "
            "vault; a COMPLIANCE lock cannot be changed after its cooling-off period.",
            "Change CentralCopyRetentionDays or the VaultLock* parameters so that min <= copy retention <= max",
        )

    # -- the organization's settings --------------------------------------------------------------------------
    def check_trusted_access(self) -> None:
        # Organizations user guide, "AWS Backup and AWS Organizations": trusted access lets AWS Backup monitor the
        # jobs of every account (cross-account monitoring) and is needed for organization-wide backup.
        # https://docs.aws.amazon.com/organizations/latest/userguide/services-that-can-integrate-backup.html
        checked = "Trusted access for AWS Backup (organization-wide backup and cross-account monitoring)"
        why = (
            "Without it AWS Backup does not act on the organization's backup policies' cross-account features and "
            "the management account cannot monitor the member accounts' jobs."
        )
        fix = f"aws organizations enable-aws-service-access --service-principal {BACKUP_PRINCIPAL}"

        def step() -> None:
            principals = self.trusted_principals()
            self.add(
                "backup-trusted-access",
                BEFORE,
                checked,
                OK if BACKUP_PRINCIPAL in principals else MISSING,
                f"{BACKUP_PRINCIPAL} is {'' if BACKUP_PRINCIPAL in principals else 'not '}a trusted service",
                why,
                fix,
            )

        self.guarded(
            "backup-trusted-access",
            checked,
            why,
            "organizations:ListAWSServiceAccessForOrganization",
            fix,
            step,
        )

    def trusted_principals(self) -> set[str]:
        pages = aws.pages(self.client("organizations").list_aws_service_access_for_organization)
        return {item["ServicePrincipal"] for page in pages for item in page.get("EnabledServicePrincipals", [])}

    def check_backup_policy_type(self) -> None:
        self._check_policy_type(
            "backup-policy-type",
            "BACKUP_POLICY",
            "The stack's BackupPolicies custom resource cannot attach any backup policy: the deploy fails.",
        )

    def check_service_control_policy_type(self) -> None:
        # ProtectCentralVaultPolicyRole (default "true") makes the stack create and attach a service control policy
        # (CentralVaultPolicyRoleGuard); with "false" no SCP is needed and nothing is checked.
        if self.parameters.get("ProtectCentralVaultPolicyRole", "true") != "true":
            return
        self._check_policy_type(
            "scp-policy-type",
            "SERVICE_CONTROL_POLICY",
            "ProtectCentralVaultPolicyRole=true attaches a service control policy to the central backup account: "
            "without SCPs enabled the deploy fails (or deploy with ProtectCentralVaultPolicyRole=false).",
        )

    def _check_policy_type(self, name: str, policy_type: str, why: str) -> None:
        # Organizations user guide, "Enabling and disabling policy types"; AttachPolicy fails with
        # PolicyTypeNotEnabledException while the type is not enabled on the root.
        # https://docs.aws.amazon.com/organizations/latest/userguide/enable-policy-type.html
        checked = f"The policy type {policy_type} is enabled on the root"
        fix = (
            f"aws organizations enable-policy-type --policy-type {policy_type} --root-id "
            "$(aws organizations list-roots --query 'Roots[0].Id' --output text)"
        )

        def step() -> None:
            root = self.client("organizations").list_roots()["Roots"][0]
            status = next(
                (item["Status"] for item in root.get("PolicyTypes", []) if item["Type"] == policy_type), "DISABLED"
            )
            self.add(
                name,
                BEFORE,
                checked,
                OK if status == "ENABLED" else MISSING,
                f"{policy_type} on {root['Id']}: {status}",
                why,
                fix,
            )

        self.guarded(name, checked, why, "organizations:ListRoots", fix, step)

    def check_cross_account_backup(self) -> None:
        # AWS Backup API reference, DescribeGlobalSettings: isCrossAccountBackupEnabled "allow accounts in your
        # organization to copy backups to other accounts". https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeGlobalSettings.html
        checked = "Cross-account backup is enabled (AWS Backup global setting isCrossAccountBackupEnabled)"
        why = "Every copy into the central vault fails: the backups stay only in the account they protect."
        fix = "aws backup update-global-settings --global-settings isCrossAccountBackupEnabled=true"
        fix += f" --region {self.region}"

        def step() -> None:
            settings = self.client("backup").describe_global_settings().get("GlobalSettings", {})
            value = settings.get("isCrossAccountBackupEnabled", "false")
            self.add(
                "cross-account-backup",
                BEFORE,
                checked,
                OK if value == "true" else MISSING,
                f"isCrossAccountBackupEnabled={value}",
                why,
                fix,
            )

        self.guarded("cross-account-backup", checked, why, "backup:DescribeGlobalSettings", fix, step)

    def check_stackset_administration_role(self) -> None:
        # Control Tower creates service-role/AWSControlTowerStackSetRole in the management account; the StackSets use
        # it as their administration role. https://docs.aws.amazon.com/controltower/latest/userguide/roles-how.html
        wanted = self.parameters.get("StackSetAdministrationRoleName", "")
        path, _, name = wanted.rpartition("/")
        checked = f"The StackSet administration role {wanted} exists in the management account"
        why = "Both StackSets fail to create: CloudFormation cannot assume the administration role."
        fix = (
            "Set up or repair the Control Tower landing zone (it creates service-role/AWSControlTowerStackSetRole), "
            "or set StackSetAdministrationRoleName to your StackSet administration role (with its path)"
        )

        def step() -> None:
            try:
                role = self.client("iam").get_role(RoleName=name)["Role"]
            except ClientError as error:
                if _code(error) != "NoSuchEntity":
                    raise
                self.add("stackset-administration-role", BEFORE, checked, MISSING, f"no role {name}", why, fix)
                return
            expected_path = f"/{path}/" if path else "/"
            self.add(
                "stackset-administration-role",
                BEFORE,
                checked,
                OK if role.get("Path", "/") == expected_path else WRONG,
                f"{role['Arn']}",
                why,
                fix,
            )

        self.guarded("stackset-administration-role", checked, why, "iam:GetRole", fix, step)

    # -- accounts and OUs the parameters name -----------------------------------------------------------------
    def view(self) -> Organizations:
        if "view" not in self._clients:
            self._clients["view"] = Organizations(self.client("organizations"))
        view: Organizations = self._clients["view"]
        return view

    def check_central_account(self, settings: Settings) -> None:
        central = settings.central_backup_account_id
        checked = f"The central backup account {central} is an active account of the organization"
        why = "The central StackSet instance fails and no copy has anywhere to go."
        fix = "Set CentralBackupAccountId to an active member account (e.g. a dedicated backup account)"

        def step() -> None:
            account = self.view().describe_account(central)
            if account is None:
                self.add("central-account", BEFORE, checked, MISSING, f"{central} is not in the organization", why, fix)
                return
            state = account_state(account)
            self.add(
                "central-account",
                BEFORE,
                checked,
                OK if state == "ACTIVE" else WRONG,
                f"{account.get('Name', '')} ({central}): {state}",
                why,
                fix,
            )

        self.guarded("central-account", checked, why, "organizations:DescribeAccount", fix, step)

    def check_central_account_enrolled(self, settings: Settings) -> None:
        """Enrolled in Control Tower: its OU is registered (AWSControlTowerBaseline enabled on it) and, where the
        landing zone reports it, the account's own child enabled baseline succeeded. Control Tower API reference,
        ListEnabledBaselines (https://docs.aws.amazon.com/controltower/latest/APIReference/API_ListEnabledBaselines.html);
        user guide, "Types of baselines": an OU is registered by enabling AWSControlTowerBaseline on it, and an OU can
        hold unenrolled accounts (https://docs.aws.amazon.com/controltower/latest/userguide/types-of-baselines.html).
        When the OU is registered but the API lists nothing for the account, the docs do not say it is enrolled:
        cannot tell, with the console step."""
        central = settings.central_backup_account_id
        checked = f"The central backup account {central} is enrolled in Control Tower"
        why = (
            "The central StackSet deploys through AWSControlTowerExecution, which Control Tower puts only in enrolled "
            "accounts: the stack's central instance fails."
        )
        console = (
            "Control Tower console > Organization: enrol the account (or register its OU); its state must be Enrolled"
        )

        def step() -> None:
            account = self.view().describe_account(central)
            parent = self.view().parent(central)
            if account is None or parent is None:
                self.add("central-account-enrolled", BEFORE, checked, MISSING, "not in the organization", why, console)
                return
            controltower = self.client("controltower")
            own = controltower.list_enabled_baselines(
                filter={"targetIdentifiers": [account["Arn"]]}, includeChildren=True
            ).get("enabledBaselines", [])
            statuses = sorted({item.get("statusSummary", {}).get("status", "") for item in own})
            if "SUCCEEDED" in statuses:
                self.add("central-account-enrolled", BEFORE, checked, OK, "enrolled (baseline SUCCEEDED)", why, console)
                return
            if statuses:
                found = f"its Control Tower baseline is {', '.join(statuses)}"
                self.add("central-account-enrolled", BEFORE, checked, WRONG, found, why, console)
                return
            if parent.startswith("r-"):
                found = "it sits directly under the root, which Control Tower does not govern"
                self.add("central-account-enrolled", BEFORE, checked, MISSING, found, why, console)
                return
            parent_arn = self.client("organizations").describe_organizational_unit(OrganizationalUnitId=parent)[
                "OrganizationalUnit"
            ]["Arn"]
            registered = controltower.list_enabled_baselines(filter={"targetIdentifiers": [parent_arn]}).get(
                "enabledBaselines", []
            )
            if not any(item.get("statusSummary", {}).get("status") == "SUCCEEDED" for item in registered):
                found = f"its OU {parent} is not registered with Control Tower"
                self.add("central-account-enrolled", BEFORE, checked, MISSING, found, why, console)
                return
            found = f"its OU {parent} is registered, but Control Tower lists no baseline for the account itself"
            self.add("central-account-enrolled", BEFORE, checked, CANNOT_TELL, found, why, console)

        self.guarded(
            "central-account-enrolled",
            checked,
            why,
            "controltower:ListEnabledBaselines and organizations:DescribeOrganizationalUnit",
            console,
            step,
        )

    def check_in_scope_ous(self, settings: Settings) -> None:
        checked = "Every OU in InScopeOuIds exists"
        why = "The accounts meant to be protected are silently never onboarded (an unknown OU holds no account)."
        fix = "Correct InScopeOuIds: aws organizations list-organizational-units-for-parent --parent-id <root or OU>"

        def step() -> None:
            if not settings.in_scope_ou_ids:
                self.add("in-scope-ous", BEFORE, checked, OK, "empty: every OU is in scope", why, fix)
                return
            unknown = [ou for ou in settings.in_scope_ou_ids if not self.view().ou_exists(ou)]
            found = f"unknown: {', '.join(unknown)}" if unknown else ", ".join(settings.in_scope_ou_ids)
            self.add("in-scope-ous", BEFORE, checked, WRONG if unknown else OK, found, why, fix)

        self.guarded("in-scope-ous", checked, why, "organizations:DescribeOrganizationalUnit", fix, step)

    def check_excluded_accounts(self, settings: Settings) -> None:
        checked = "Every account in ExcludedAccountIds is in the organization"
        why = "A mistyped ID excludes nobody: the account meant to be left out is onboarded and backed up."
        fix = "Correct ExcludedAccountIds: aws organizations list-accounts --query 'Accounts[].[Id,Name]'"

        def step() -> None:
            unknown = [item for item in settings.excluded_account_ids if self.view().describe_account(item) is None]
            found = (
                f"not in the organization: {', '.join(unknown)}"
                if unknown
                else (", ".join(settings.excluded_account_ids) or "empty: none excluded")
            )
            self.add("excluded-accounts", BEFORE, checked, WRONG if unknown else OK, found, why, fix)

        self.guarded("excluded-accounts", checked, why, "organizations:DescribeAccount", fix, step)

    def check_policy_targets(self, settings: Settings) -> None:
        checked = "Every PolicyTargetIds entry names this organization's root, an OU or an account"
        why = "The BackupPolicies custom resource fails to attach the policies: the deploy fails."
        fix = "Correct PolicyTargetIds (ACCOUNTS, ROOT, the root ID, OU IDs or account IDs)"

        def step() -> None:
            root = self.client("organizations").list_roots()["Roots"][0]["Id"]
            unknown: list[str] = []
            for target in settings.policy_target_ids:
                if target in (ACCOUNTS_TOKEN, ROOT_TOKEN):
                    continue
                if target.startswith("r-"):
                    known = target == root
                elif target.startswith("ou-"):
                    known = self.view().ou_exists(target)
                else:
                    known = self.view().describe_account(target) is not None
                if not known:
                    unknown.append(target)
            found = f"unknown: {', '.join(unknown)}" if unknown else ", ".join(settings.policy_target_ids)
            self.add("policy-targets", BEFORE, checked, WRONG if unknown else OK, found, why, fix)

        self.guarded("policy-targets", checked, why, "organizations:ListRoots and DescribeAccount", fix, step)

    def check_backup_regions(self, settings: Settings) -> None:
        """Opt-in Regions (launched after March 20, 2019) are disabled until enabled per account; default Regions cannot
        be disabled (https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html). GetRegionOptStatus
        with AccountId needs the management account and trusted access for account.amazonaws.com
        (https://docs.aws.amazon.com/accounts/latest/reference/API_GetRegionOptStatus.html)."""
        why = "StackSet instances in a disabled Region fail, and the backups and copies planned there never run."
        accounts_cache: list[str] = []

        def accounts() -> list[str]:
            if not accounts_cache:
                ids = in_scope_active_account_ids(self.client("organizations"), settings)
                accounts_cache.extend(sorted({settings.central_backup_account_id, *ids}))
            return accounts_cache

        for region in settings.backup_regions:
            checked = f"Backup Region {region} is enabled for every account that needs it"
            fix = f"aws account enable-region --region-name {region} --account-id <each account listed>"

            def step(region: str = region, checked: str = checked, fix: str = fix) -> None:
                account_client = self.client("account")
                status = account_client.get_region_opt_status(RegionName=region)["RegionOptStatus"]
                if status == "ENABLED_BY_DEFAULT":
                    self.add(f"region:{region}", BEFORE, checked, OK, "enabled by default", why, fix)
                    return
                disabled: list[str] = []
                for account_id in accounts():
                    try:
                        state = account_client.get_region_opt_status(RegionName=region, AccountId=account_id)[
                            "RegionOptStatus"
                        ]
                    except ClientError as error:
                        if _code(error) != "AccessDeniedException":
                            raise
                        found = (
                            f"opt-in Region; the member accounts' status is not readable ({error}): trusted access "
                            f"for AWS Account Management ({ACCOUNT_PRINCIPAL}) is needed to read it"
                        )
                        step_fix = (
                            f"aws organizations enable-aws-service-access --service-principal {ACCOUNT_PRINCIPAL}, "
                            f"then run the doctor again; or check Account > AWS Regions in each account's console"
                        )
                        self.add(f"region:{region}", BEFORE, checked, CANNOT_TELL, found, why, step_fix)
                        return
                    if state != "ENABLED":
                        disabled.append(f"{account_id} ({state})")
                found = (
                    f"opt-in Region, not enabled in: {', '.join(disabled)}" if disabled else "opt-in Region, enabled"
                )
                self.add(f"region:{region}", BEFORE, checked, WRONG if disabled else OK, found, why, fix)

            self.guarded(f"region:{region}", checked, why, "account:GetRegionOptStatus", fix, step)

    # -- after the deploy -------------------------------------------------------------------------------------
    def check_after_deploy(self, settings: Settings | None, params: PolicyParameters | None) -> None:
        stack_name = self.report.stack_name
        checked = f"The stack {stack_name} is deployed and complete, with every output"
        why = "The onboarding workflow, alerts and policies exist only once the stack is complete."
        fix = "sam build && sam deploy (then run the doctor again)"
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as error:
            if "does not exist" not in str(error):
                found = _unreadable(error, "cloudformation:DescribeStacks")
                self.add("stack", AFTER, checked, CANNOT_TELL, found, why, fix)
                return
            stacks = []
        status = stacks[0]["StackStatus"] if stacks else ""
        if not stacks or status == "REVIEW_IN_PROGRESS":
            found = "not deployed yet: the after-deploy checks run once it is"
            self.add("stack", AFTER, f"The stack {stack_name}", OK, found, why, fix)
            return
        outputs = {item["OutputKey"] for item in stacks[0].get("Outputs", [])}
        missing = [name for name in self.template_outputs if name not in outputs]
        complete = status.endswith("_COMPLETE") and "ROLLBACK" not in status and not status.startswith("DELETE")
        found = f"{status}" + (f"; outputs missing: {', '.join(missing)}" if missing else f"; {len(outputs)} outputs")
        self.add("stack", AFTER, checked, OK if complete and not missing else WRONG, found, why, fix)
        if settings is None:
            return
        self.check_stacksets(settings)
        self.check_central_instances(settings)
        if params is not None:
            self.check_policies(settings, params)

    def _after(self, name: str, checked: str, why: str, action: str, fix: str, step: Callable[[], None]) -> None:
        before = len(self.report.checks)
        try:
            step()
        except (ClientError, BotoCoreError, OrgBackupError) as error:
            del self.report.checks[before:]
            self.add(name, AFTER, checked, CANNOT_TELL, _unreadable(error, action), why, fix)

    def check_stacksets(self, settings: Settings) -> None:
        names = {
            "member-stackset": settings.member_stackset_name,
            "central-stackset": self.parameters.get("CentralStacksetName", ""),
        }
        why = "Without it no account gets its vault, key and backup role: backup jobs fail in every account."
        fix = "sam deploy (the stack creates both StackSets); see the stack's events for why it did not"
        for check_name, stackset in names.items():
            checked = f"The StackSet {stackset} exists and is ACTIVE"

            def step(check_name: str = check_name, stackset: str = stackset, checked: str = checked) -> None:
                try:
                    described = self.client("cloudformation").describe_stack_set(StackSetName=stackset)["StackSet"]
                except ClientError as error:
                    if _code(error) != "StackSetNotFoundException":
                        raise
                    self.add(check_name, AFTER, checked, MISSING, "not found", why, fix)
                    return
                status = described.get("Status", "")
                self.add(check_name, AFTER, checked, OK if status == "ACTIVE" else WRONG, status, why, fix)

            self._after(check_name, checked, why, "cloudformation:DescribeStackSet", fix, step)

    def check_central_instances(self, settings: Settings) -> None:
        stackset = self.parameters.get("CentralStacksetName", "")
        central = settings.central_backup_account_id
        checked = f"The central baseline is CURRENT in {central} in every backup Region"
        why = "Without the central vault (and its policy role) no copy lands and the vault policy cannot be refreshed."
        fix = (
            f"aws cloudformation list-stack-instances --stack-set-name {stackset} (read StatusReason), fix the cause, "
            "then sam deploy"
        )

        def step() -> None:
            states = instance_states(self.client("cloudformation"), stackset).get(central, {})
            problems = []
            for region in settings.backup_regions:
                state = states.get(region)
                if state is None:
                    problems.append(f"{region}: no instance")
                elif state.status != "CURRENT":
                    problems.append(f"{region}: {state.status} {state.reason}".strip())
            found = "; ".join(problems) or f"CURRENT in {', '.join(settings.backup_regions)}"
            result = OK if not problems else (MISSING if all("no instance" in p for p in problems) else WRONG)
            self.add("central-instances", AFTER, checked, result, found, why, fix)

        self._after("central-instances", checked, why, "cloudformation:ListStackInstances", fix, step)

    def check_policies(self, settings: Settings, params: PolicyParameters) -> None:
        organizations = self.client("organizations")
        checked = "The backup policies exist"
        why = "No backup plan reaches any account: nothing is backed up."
        fix = "sam deploy (the BackupPolicies custom resource creates them); see the stack's events if it failed"
        wanted = [policy.name for policy in render_policies(settings, params)]
        existing: dict[str, str] = {}

        def exist() -> None:
            existing.update(existing_policies(organizations))
            missing = [name for name in wanted if name not in existing]
            found = f"missing: {', '.join(missing)}" if missing else ", ".join(wanted)
            self.add("backup-policies", AFTER, checked, MISSING if missing else OK, found, why, fix)

        self._after("backup-policies", checked, why, "organizations:ListPolicies", fix, exist)
        if not existing:
            return
        attach_checked = "Each backup policy is attached where PolicyTargetIds says"
        attach_why = "Accounts without the policies get no backup plan: their resources are not backed up."
        member = settings.member_stackset_name
        state_machine = "<OnboardingStateMachineArn output>"
        attach_fix = (
            f"aws stepfunctions start-execution --state-machine-arn {state_machine} --input "
            '\'{"mode": "reconcile"}\' (attaches them to every account with a baseline)'
        )

        def attached() -> None:
            targets: list[str] = []
            for target in settings.policy_target_ids:
                if target == ROOT_TOKEN:
                    targets.append(organizations.list_roots()["Roots"][0]["Id"])
                elif target == ACCOUNTS_TOKEN:
                    # Each account with a baseline (its vault and role) in every Region gets the policies directly.
                    states = instance_states(self.client("cloudformation"), member)
                    targets.extend(sorted(current_accounts(states, settings.backup_regions)))
                else:
                    targets.append(target)
            gaps: list[str] = []
            for name in wanted:
                if name not in existing:
                    continue
                on = set(Organizations.of(organizations).targets_of(existing[name]))
                gaps.extend(f"{name} -> {target}" for target in targets if target not in on)
            found = (
                f"not attached: {', '.join(gaps)}"
                if gaps
                else f"attached to {len(set(targets))} target(s)"
                + ("" if targets else " (no account has a baseline yet)")
            )
            self.add("policy-attachments", AFTER, attach_checked, WRONG if gaps else OK, found, attach_why, attach_fix)

        self._after(
            "policy-attachments",
            attach_checked,
            attach_why,
            "organizations:ListTargetsForPolicy and cloudformation:ListStackInstances",
            attach_fix,
            attached,
        )


def render_text(report: Report) -> str:
    lines = [
        f"orgbackup doctor - organization {report.organization_id or '?'}, management account "
        f"{report.management_account_id or '?'}, stack {report.stack_name} in {report.region}",
    ]
    for phase in (BEFORE, AFTER):
        checks = [check for check in report.checks if check.phase == phase]
        if not checks:
            continue
        lines.append("")
        lines.append(phase.capitalize())
        for check in checks:
            lines.append(f"  {check.result:<12} {check.checked}: {check.found}")
            if check.result != OK:
                lines.append(f"  {'':<12} why: {check.why}")
                lines.append(f"  {'':<12} fix: {check.fix}")
    failing = [check for check in report.checks if check.result != OK]
    lines.append("")
    lines.append(
        "Everything holds." if not failing else f"{len(failing)} of {len(report.checks)} checks need attention."
    )
    return "\n".join(lines)
