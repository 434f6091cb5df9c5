"""Step 4 of the onboarding workflow: the central backup vault's access policy, rendered and applied.

The policy is *computed* from the source of truth (the active, in-scope accounts that have a baseline; the caller
computes that set), never read-modify-written: identical inputs give byte-identical text (sorted account IDs,
stable Sids, minified JSON), so two executions that read the same source of truth write the same document, in
whichever order their writes land. The adapter writes a Region's policy only when it differs semantically from
the one in place. Callers: read the source of truth after your own baseline exists and just before rendering; an
execution that read it before another's baseline finished can still write the older set last (the next run, or
the daily reconcile, restores the account), so re-read it after applying and apply again if it grew. Once the
policy in place is the organization form (past the threshold: several hundred accounts), a batch keeps it without
reading the organization at all (``render_organization_form``; ``onboarding.refresh_vault_policy``): it allows no
account by name, so a batch's accounts are covered and its cost does not grow with the organization (issue 14).
The batch keeps it only when it is the form the current settings render (the same in-scope OU paths, the same
denied accounts); otherwise it recomputes like the reconcile run, the only run that always recomputes the form from
every in-scope account.

Shape of the document (every decision below is taken from AWS documentation):

- ``AllowCopyInto*``: ``backup:CopyIntoBackupVault`` is the one action a vault policy can grant to another account
  ("Regardless of the AWS Backup vault's access policy, cross-account access for any action other than
  backup:CopyIntoBackupVault will be rejected", AWS Backup Developer Guide, *Vault access policies*,
  https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault-access-policy.html).
  - mode ``accounts``: ``Principal {"AWS": ["arn:<partition>:iam::<id>:root", ...]}``. This is the form AWS
    documents for a destination vault in cross-account copy (Developer Guide, *Creating backup copies across AWS
    accounts*, https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html; AWS re:Post
    Knowledge Center, https://repost.aws/knowledge-center/backup-resolve-access-denied-error). An account root principal
    delegates to the source account's own IAM, so only its principals allowed to copy (the backup role) can.
    An ``aws:PrincipalAccount`` condition would be shorter, but it is not what AWS documents for vault policies.
  - mode ``org-paths``: ``Principal "*"`` with ``ForAnyValue:StringLike`` on ``aws:PrincipalOrgPaths``, one
    ``o-.../r-.../ou-.../*`` value per in-scope OU (same sources; IAM User Guide, *AWS global condition context
    keys*, aws:PrincipalOrgPaths, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html:
    the key is multivalued, hence ``ForAnyValue``, and a trailing ``*`` takes in the OU's child OUs).
  - mode ``org`` (every OU in scope, ``in_scope_ou_ids`` empty): ``StringEquals`` ``aws:PrincipalOrgID``.
- ``DenyCopyIntoFromExcludedAccounts`` (the two organization forms only): ``backup:CopyIntoBackupVault``, the one
  action the Allow grants and the one a copy into another account's vault needs from its policy (*Vault access
  policies*, https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault-access-policy.html), denied to
  every principal whose ``aws:PrincipalAccount`` (the account the requesting
  principal belongs to; always in the request context; IAM User Guide, *AWS global condition context keys*,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalaccount)
  is, with ``StringEquals``, one of ``ExcludedAccountIds`` or the management account. The account form never names
  them; the organization forms name no account, so without this statement an account excluded while it stays in an
  in-scope OU (or, in mode ``org``, anywhere in the organization, the management account included) could still copy
  in with the backup role its retained stack keeps. An explicit Deny wins over any Allow ("an explicit deny in any
  of these policies overrides the allow", IAM User Guide, *Policy evaluation logic*,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html; "the Deny statement
  trumps the Allow statement", *The difference between explicit and implicit denies*,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html).
  The central backup account is not listed, even when excluded: its copies into its own vault are same-account
  requests, which its own IAM policies decide in the account form too; a Deny would refuse them.
  The statement is rendered from the settings, so a batch that finds an organization form rendered under other
  ``ExcludedAccountIds`` no longer sees the same policy and recomputes it (``onboarding.refresh_vault_policy``).
  It grows by 15 bytes per excluded account. AWS lists no size for a vault access policy (AWS Backup endpoints and
  quotas, https://docs.aws.amazon.com/general/latest/gr/bk.html), so an organization form past the assumed limit
  (see Size) is refused before anything is written: a ConfigurationError naming the settings and what takes the
  bytes.
- ``DenyRecoveryPointDeletion``: ``backup:DeleteRecoveryPoint``, ``backup:UpdateRecoveryPointLifecycle``,
  ``backup:DisassociateRecoveryPoint``, ``backup:DeleteBackupVaultLockConfiguration`` and
  ``backup:DeleteBackupVaultAccessPolicy`` for every principal but the optional break-glass principal. The
  vault-policy role is NOT excepted (security review, issue 10, finding 4): the automation only ever writes the
  policy, so whoever holds that role can neither delete a recovery point nor remove the policy or a lock.
  ``backup:DeleteBackupVault`` is not denied (finding 5): AWS Backup refuses to delete a vault that still holds
  recovery points ("A vault can be deleted only if it is empty", DeleteBackupVault API reference,
  https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DeleteBackupVault.html; "you can delete a backup vault
  in AWS Backup only after you delete ... all the recovery points in your backup vault", *Deleting a backup vault*,
  https://docs.aws.amazon.com/aws-backup/latest/devguide/deleting-a-vault.html), so the recovery points stay
  protected by the statements here while an empty vault can go with its stack (``sam delete``).
- ``DenyVaultPolicyChanges``: ``backup:PutBackupVaultAccessPolicy`` with ``backup:DeleteRecoveryPoint`` and
  ``backup:UpdateRecoveryPointLifecycle`` for every principal but the central vault-policy role (the automation
  must write the policy) and the break-glass principal. These are exactly the three actions of the statement AWS
  Config's ``backup-recovery-point-manual-deletion-disabled`` rule looks for, in one Deny with ``"*"`` as
  Principal and Resource ("a suitable 'Deny' statement (statement with backup:DeleteRecoveryPoint,
  backup:UpdateRecoveryPointLifecycle, and backup:PutBackupVaultAccessPolicy permissions)"; "Wildcard required for
  "Resource" and "Principal" of the Deny statement",
  https://docs.aws.amazon.com/config/latest/developerguide/backup-recovery-point-manual-deletion-disabled.html).
  Its condition excepts the two principals above; the rule's ``principalArnList`` parameter takes "IAM ARNs for
  the rule to NOT check": give it the same two ARNs (``config_rule_exempt_principals``). The rule's page does not
  say how it treats a Condition; the unconditional deletion deny above is what keeps recovery points, whatever the
  rule reports. The role remains able to replace the whole policy: an administrator of the central account who can
  rewrite that role's trust could use it to drop the denies. No vault-policy condition can tell the automation
  from such an administrator; what stops it is the service control policy template.yaml attaches to the central
  account by default (CentralVaultPolicyRoleGuard), or Vault Lock in compliance mode (README, "Security").
  Both denies name each action: "AWS Backup access policies don't support a wildcard in the Action key"
  (*Vault access policies*). Exceptions use ``ArnNotEquals`` on ``aws:PrincipalArn``, which for a role session
  is the role's ARN, not the session's ("For IAM roles, the request context returns the ARN of the role, not the
  ARN of the user that assumed the role", IAM User Guide, *AWS global condition context keys*, aws:PrincipalArn,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html; an ARN key, hence the
  ARN operator). The break-glass ARN is taken from the settings as it is: ``Settings`` checked it at handler entry
  (an IAM role or user ARN of the deployment's partition, without wildcard characters).
- ``Resource "*"`` everywhere: a vault policy only ever applies to its own vault and recovery points, AWS's
  vault-policy examples all use ``"*"``, and the Config rule above requires it in its deny statement.

Size: AWS publishes no size quota for backup vault access policies (AWS Backup endpoints and quotas,
https://docs.aws.amazon.com/general/latest/gr/bk.html; PutBackupVaultAccessPolicy API reference,
https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultAccessPolicy.html: ``Policy`` is a string
without a length constraint). See ``ASSUMED_SIZE_LIMIT_BYTES``.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from botocore.exceptions import ClientError

from orgbackup import fields, retry
from orgbackup.aws import backup, sts
from orgbackup.aws.organizations import MAX_DEPTH, Organizations
from orgbackup.exceptions import CentralAccountAccessError, ConfigurationError, InvalidInputError
from orgbackup.observability import logger
from orgbackup.retry import Backoff
from orgbackup.settings import Settings

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_backup import BackupClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_sts import STSClient

Mode = Literal["accounts", "org-paths", "org"]

VERSION: Final = "2012-10-17"
COPY_ACTION: Final = "backup:CopyIntoBackupVault"
# Named one by one: vault access policies do not support wildcards in Action. Denied to all but break-glass.
PROTECTED_ACTIONS: Final = (
    "backup:DeleteBackupVaultAccessPolicy",
    "backup:DeleteBackupVaultLockConfiguration",
    "backup:DeleteRecoveryPoint",
    "backup:DisassociateRecoveryPoint",
    "backup:UpdateRecoveryPointLifecycle",
)
# The AWS Config rule's three actions; denied to all but the vault-policy role and break-glass.
POLICY_ACTIONS: Final = (
    "backup:DeleteRecoveryPoint",
    "backup:PutBackupVaultAccessPolicy",
    "backup:UpdateRecoveryPointLifecycle",
)

SID_ALLOW_ACCOUNTS: Final = "AllowCopyIntoFromOnboardedAccounts"
SID_ALLOW_ORG_PATHS: Final = "AllowCopyIntoFromInScopeOrgPaths"
SID_ALLOW_ORG: Final = "AllowCopyIntoFromOrganization"
SID_DENY_EXCLUDED: Final = "DenyCopyIntoFromExcludedAccounts"
SID_DENY_DELETION: Final = "DenyRecoveryPointDeletion"
SID_DENY_POLICY_CHANGES: Final = "DenyVaultPolicyChanges"

# AWS publishes no size quota for backup vault access policies (searched: the AWS Backup quotas page, the
# PutBackupVaultAccessPolicy API reference and the vault access policy guide name none). Other resource policies
# that AWS documents: S3 bucket policy 20 KB, DynamoDB and Lambda resource policies 20 KB (20,480 bytes, and
# DynamoDB counts whitespace), SNS topic policy 30 KB, KMS key policy 32 KB (SQS queue policies, 8 KB, are the
# outlier). We assume the smallest of the storage and data services', 20 KB, and count the UTF-8 bytes of the
# minified text we send, so whitespace cannot surprise us. Too low an assumption only switches to the org form
# earlier; too high would make AWS Backup refuse the put, which apply_central_vault_policy logs with the size.
ASSUMED_SIZE_LIMIT_BYTES: Final = 20 * 1024
# Switch to the org-path form a margin below the assumed limit: 4 KB, a fifth of the limit, covers a larger
# break-glass ARN or another deny statement added later without the account list ever reaching the limit.
SWITCH_MARGIN_BYTES: Final = 4 * 1024
DEFAULT_THRESHOLD_BYTES: Final = ASSUMED_SIZE_LIMIT_BYTES - SWITCH_MARGIN_BYTES

# An Organizations entity path down to an OU: organization ID, root ID, then each OU ID, "/"-separated (IAM User
# Guide, "Understand the AWS Organizations entity path",
# https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_last-accessed-view-data-orgs.html).
ORG_PATH: Final = re.compile(
    rf"(?P<org>{fields.ORGANIZATION_ID})/{fields.ROOT_ID}/(?:{fields.OU_ID}/)*{fields.OU_ID}/\*?", re.ASCII
)

# STS AssumeRole RoleSessionName: 2 to 64 characters of [\w+=,.@-] (STS API reference, AssumeRole,
# https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html; the same constraints are in botocore's
# service model). \w is ASCII here: STS rejects other letters.
SESSION_NAME_MIN: Final = 2
SESSION_NAME_MAX: Final = 64
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]+", re.ASCII)
_SESSION_DIGEST_CHARS: Final = 8
SESSION_NAME_FALLBACK: Final = "orgbackup"

ACCESS_DENIED_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "RegionDisabledException",
    }
)


@dataclass(frozen=True)
class VaultPolicy:
    """A rendered central vault access policy. ``text`` is what is sent; ``document`` is ``json.loads(text)``."""

    document: dict[str, Any]
    text: str
    mode: Mode
    # None for the organization form rendered without counting accounts (``render_organization_form``).
    account_count: int | None

    @property
    def size_bytes(self) -> int:
        return len(self.text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------------------
# Rendering (pure)


def account_root_arn(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:root"


def central_policy_role_arn(settings: Settings) -> str:
    """The role in the central backup account that the automation assumes to manage the vault's policy."""
    account, name = settings.central_backup_account_id, settings.central_vault_policy_role_name
    return f"arn:{settings.partition}:iam::{account}:role/{name}"


def _minify(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def _size(statement: Mapping[str, Any]) -> int:
    return len(_minify(statement).encode("utf-8"))


def _account_ids(account_ids: Iterable[str]) -> list[str]:
    ids = sorted(set(account_ids))
    bad = [account_id for account_id in ids if not re.fullmatch(fields.ACCOUNT_ID, account_id)]
    if bad:
        raise InvalidInputError(f"account_ids: {bad[0]!r} is not a 12-digit AWS account ID")
    return ids


def _org_path_values(settings: Settings, org_paths: Iterable[str]) -> list[str]:
    values: set[str] = set()
    for path in org_paths:
        match = ORG_PATH.fullmatch(path)
        if match is None:
            raise InvalidInputError(
                f"org_paths: {path!r} is not an Organizations entity path like o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"
            )
        if match["org"] != settings.organization_id:
            raise InvalidInputError(
                f"org_paths: {path!r} belongs to organization {match['org']}, not {settings.organization_id}"
            )
        values.add(path if path.endswith("*") else f"{path}*")
    if not values:
        raise InvalidInputError("org_paths is empty: the org-path form needs the path of every in-scope OU")
    return sorted(values)


def config_rule_exempt_principals(settings: Settings) -> list[str]:
    """The principals ``DenyVaultPolicyChanges`` excepts: the ``principalArnList`` to give AWS Config's
    backup-recovery-point-manual-deletion-disabled rule for the central vault."""
    break_glass = settings.break_glass_principal_arn
    return sorted({central_policy_role_arn(settings), *([break_glass] if break_glass else [])})


def _deny_statements(settings: Settings) -> list[dict[str, Any]]:
    break_glass = settings.break_glass_principal_arn
    deletion: dict[str, Any] = {
        "Sid": SID_DENY_DELETION,
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(PROTECTED_ACTIONS),
        "Resource": "*",
    }
    if break_glass:
        deletion["Condition"] = {"ArnNotEquals": {"aws:PrincipalArn": [break_glass]}}
    exempt = config_rule_exempt_principals(settings)
    policy_changes: dict[str, Any] = {
        "Sid": SID_DENY_POLICY_CHANGES,
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(POLICY_ACTIONS),
        "Resource": "*",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": exempt}},
    }
    return [deletion, policy_changes]


def denied_copy_accounts(settings: Settings) -> list[str]:
    """The accounts the organization forms deny ``backup:CopyIntoBackupVault`` by ``aws:PrincipalAccount``: the
    management account and ``ExcludedAccountIds``, never the central backup account (same-account copies are its
    own IAM's to decide). Never empty: the management account is always there."""
    named = {settings.management_account_id, *settings.excluded_account_ids}
    return _account_ids(named - {settings.central_backup_account_id})


def _deny_copy_from(account_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "Sid": SID_DENY_EXCLUDED,
        "Effect": "Deny",
        "Principal": "*",
        "Action": COPY_ACTION,
        "Resource": "*",
        # aws:PrincipalAccount is single-valued: StringEquals against a list matches any one (no set operator).
        "Condition": {"StringEquals": {"aws:PrincipalAccount": list(account_ids)}},
    }


def _allow_accounts(settings: Settings, account_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not account_ids:
        # IAM rejects an empty principal list; with no account to allow, the policy holds only the denies.
        return []
    principals = [account_root_arn(settings.partition, account_id) for account_id in account_ids]
    return [
        {
            "Sid": SID_ALLOW_ACCOUNTS,
            "Effect": "Allow",
            "Principal": {"AWS": principals},
            "Action": COPY_ACTION,
            "Resource": "*",
        }
    ]


def _allow_org_paths(paths: Sequence[str]) -> dict[str, Any]:
    return {
        "Sid": SID_ALLOW_ORG_PATHS,
        "Effect": "Allow",
        "Principal": "*",
        "Action": COPY_ACTION,
        "Resource": "*",
        "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": list(paths)}},
    }


def _allow_org(settings: Settings) -> dict[str, Any]:
    return {
        "Sid": SID_ALLOW_ORG,
        "Effect": "Allow",
        "Principal": "*",
        "Action": COPY_ACTION,
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": settings.organization_id}},
    }


def _policy(document: dict[str, Any], mode: Mode, account_count: int | None) -> VaultPolicy:
    text = _minify(document)
    return VaultPolicy(document=json.loads(text), text=text, mode=mode, account_count=account_count)


def render_central_vault_policy(
    settings: Settings,
    account_ids: Iterable[str],
    region: str,
    org_paths: Iterable[str] | None = None,
    threshold: int = DEFAULT_THRESHOLD_BYTES,
) -> VaultPolicy:
    """The central vault's access policy for ``region`` from the source of truth ``account_ids``.

    The account form is used while its text is at most ``threshold`` bytes; past it, the org form: an
    ``aws:PrincipalOrgPaths`` condition on ``org_paths`` (required then, when ``settings.in_scope_ou_ids`` is set),
    or ``aws:PrincipalOrgID`` when every OU is in scope, with an explicit Deny of the copy to the excluded
    accounts and the management account (``denied_copy_accounts``). The text is the same in every Region
    (Resource ``"*"``); ``region`` is validated so a caller's per-Region map cannot carry a typo. Raises
    InvalidInputError naming the bad argument, ConfigurationError when the settings make the org form too large.
    """
    if not re.fullmatch(fields.REGION, region):
        raise InvalidInputError(f"region: {region!r} is not a Region name like eu-west-1")
    if threshold <= 0 or threshold > ASSUMED_SIZE_LIMIT_BYTES:
        raise InvalidInputError(f"threshold: {threshold} must be between 1 and {ASSUMED_SIZE_LIMIT_BYTES} bytes")
    ids = _account_ids(account_ids)
    denies = _deny_statements(settings)

    accounts = _policy(
        {"Version": VERSION, "Statement": [*_allow_accounts(settings, ids), *denies]}, "accounts", len(ids)
    )
    if accounts.size_bytes <= threshold:
        return accounts

    if settings.in_scope_ou_ids and org_paths is None:
        raise InvalidInputError(
            f"org_paths is required: the account form for {len(ids)} accounts is {accounts.size_bytes} bytes, "
            f"past the {threshold}-byte threshold, and only some OUs are in scope"
        )
    policy = _organization_form(settings, denies, org_paths, len(ids))
    logger.info(
        "central vault policy switched to the organization form",
        extra={"region": region, "mode": policy.mode, "accounts": len(ids), "account_form_bytes": accounts.size_bytes},
    )
    return policy


def render_organization_form(
    settings: Settings,
    region: str,
    org_paths: Iterable[str] | None = None,
) -> VaultPolicy:
    """The organization form of the central vault's policy (``org-paths`` when only some OUs are in scope, else
    ``org``), which allows no account by name and denies the copy to ``denied_copy_accounts``: what
    ``render_central_vault_policy`` gives past its threshold. Its ``account_count`` is None: no account was
    counted to render it."""
    if not re.fullmatch(fields.REGION, region):
        raise InvalidInputError(f"region: {region!r} is not a Region name like eu-west-1")
    if settings.in_scope_ou_ids and org_paths is None:
        raise InvalidInputError("org_paths is required: only some OUs are in scope")
    denies = _deny_statements(settings)
    return _organization_form(settings, denies, org_paths, None)


def _organization_form(
    settings: Settings, denies: list[dict[str, Any]], org_paths: Iterable[str] | None, account_count: int | None
) -> VaultPolicy:
    mode: Mode
    if settings.in_scope_ou_ids:
        allow, mode = _allow_org_paths(_org_path_values(settings, org_paths or ())), "org-paths"
    else:
        allow, mode = _allow_org(settings), "org"
    denied = denied_copy_accounts(settings)
    deny_copy = _deny_copy_from(denied)
    policy = _policy({"Version": VERSION, "Statement": [allow, deny_copy, *denies]}, mode, account_count)
    if policy.size_bytes > ASSUMED_SIZE_LIMIT_BYTES:
        scope = f"{len(settings.in_scope_ou_ids)} in-scope OUs" if settings.in_scope_ou_ids else "the organization"
        raise ConfigurationError(
            f"EXCLUDED_ACCOUNT_IDS and IN_SCOPE_OU_IDS make the {mode} form of the central vault policy "
            f"{policy.size_bytes} bytes, past the assumed {ASSUMED_SIZE_LIMIT_BYTES}-byte limit for vault access "
            f"policies (nothing was written): the deny of {len(denied)} accounts ({len(denied) - 1} excluded and "
            f"the management account) takes {_size(deny_copy)} bytes, the allow for {scope} {_size(allow)} bytes; "
            "exclude fewer accounts (move them to an OU out of scope instead) or name fewer, higher OUs"
        )
    return policy


# ---------------------------------------------------------------------------------------------------------------
# Organizations: the entity path of each in-scope OU


def org_paths_for(
    org_client: "Organizations | OrganizationsClient",
    organization_id: str,
    ou_ids: Iterable[str],
    *,
    backoff: Backoff | None = None,
) -> list[str]:
    """``o-.../r-.../ou-.../`` for each OU (in the given order, without repeats), from the OU's path up to the
    root (``Organizations.path``). Raises ConfigurationError for an OU that is not in the organization."""
    organizations = Organizations.of(org_client, backoff)
    paths: list[str] = []
    for ou_id in dict.fromkeys(ou_ids):
        chain = organizations.path(ou_id)
        if not chain:
            raise ConfigurationError(
                f"IN_SCOPE_OU_IDS={ou_id!r} is invalid: no such OU in organization {organization_id}"
            )
        if not chain[-1].startswith("r-"):
            raise ConfigurationError(f"IN_SCOPE_OU_IDS={ou_id!r}: no root within {MAX_DEPTH} levels")
        paths.append("/".join([organization_id, *reversed((ou_id, *chain))]) + "/")
    return paths


# ---------------------------------------------------------------------------------------------------------------
# STS: the central account's vault-policy role


def role_session_name(execution_name: str) -> str:
    """A RoleSessionName that names the execution: characters outside ``[\\w+=,.@-]`` become ``-``; a name longer
    than 64 characters keeps its head and ends with a digest of the whole name, so two long names stay distinct."""
    cleaned = _SESSION_NAME_BAD.sub("-", execution_name).strip("-")
    if len(cleaned) > SESSION_NAME_MAX:
        digest = hashlib.sha256(execution_name.encode("utf-8")).hexdigest()[:_SESSION_DIGEST_CHARS]
        cleaned = f"{cleaned[: SESSION_NAME_MAX - _SESSION_DIGEST_CHARS - 1]}-{digest}"
    if len(cleaned) < SESSION_NAME_MIN:
        cleaned = f"{SESSION_NAME_FALLBACK}-{cleaned}" if cleaned else SESSION_NAME_FALLBACK
    return cleaned


def _aws_error(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Unknown')}: {details.get('Message', '')}".rstrip(": ")


def assume_central_role(
    sts_client: "STSClient", settings: Settings, session_name: str, *, backoff: Backoff | None = None
) -> "boto3.session.Session":
    """A session in the central backup account, as its vault-policy role, named after the execution (CloudTrail
    shows the session name in the assumed-role ARN). Throttling is retried; any other refusal becomes a
    CentralAccountAccessError naming the role and the AWS error."""
    role_arn = central_policy_role_arn(settings)
    name = role_session_name(session_name)
    try:
        session = sts.assumed_session(sts_client, role_arn, name, settings.primary_region, backoff=backoff)
    except ClientError as error:
        raise CentralAccountAccessError(
            f"cannot assume the central vault-policy role {role_arn} (session {name}): {_aws_error(error)}"
        ) from error
    logger.info("assumed the central vault-policy role", extra={"role_arn": role_arn, "session_name": name})
    return session


# ---------------------------------------------------------------------------------------------------------------
# AWS Backup: write each Region's policy only when it changed


def _canonical(value: Any) -> Any:
    """What IAM treats as equal compares equal: a one-element list and its element, and list order."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


def same_policy(current: str | None, desired: str) -> bool:
    """Whether the policy in place means the same as ``desired`` (parsed JSON, not text, is compared)."""
    if current is None:
        return False
    try:
        return bool(_canonical(json.loads(current)) == _canonical(json.loads(desired)))
    except json.JSONDecodeError:
        return False


def _central_error(settings: Settings, region: str, operation: str, error: ClientError) -> CentralAccountAccessError:
    where = f"central vault {settings.central_vault_name!r} in {settings.central_backup_account_id}/{region}"
    # On a put, ResourceNotFoundException means the vault is not there (PutBackupVaultAccessPolicy API reference,
    # https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultAccessPolicy.html).
    if retry.error_code(error) == "ResourceNotFoundException":
        why = "the vault does not exist (is the central StackSet instance deployed in this Region?)"
        return CentralAccountAccessError(f"{operation} failed for {where}: {why}: {_aws_error(error)}")
    return CentralAccountAccessError(
        f"{operation} was refused for {where} to {central_policy_role_arn(settings)}: {_aws_error(error)}"
    )


def _current_policy(client: "BackupClient", settings: Settings, region: str, backoff: Backoff | None) -> str | None:
    try:
        return backup.vault_access_policy(client, settings.central_vault_name, backoff=backoff)
    except ClientError as error:
        if retry.error_code(error) in ACCESS_DENIED_CODES:
            raise _central_error(settings, region, "GetBackupVaultAccessPolicy", error) from error
        raise


def policy_in_place(
    client: "BackupClient", settings: Settings, region: str, *, backoff: Backoff | None = None
) -> str | None:
    """The central vault's access policy text in ``region``, or None when it has none."""
    return _current_policy(client, settings, region, backoff)


def accounts_named(current: str | None) -> set[str]:
    """The account IDs a policy text lets copy in by name (none in the org-path and org forms, which name no
    account)."""
    if not current:
        return set()
    allowed: set[str] = set()
    for statement in json.loads(current).get("Statement", []):
        if statement.get("Sid") != SID_ALLOW_ACCOUNTS:
            continue
        principals = statement.get("Principal", {}).get("AWS", [])
        for arn in [principals] if isinstance(principals, str) else principals:
            account_id = str(arn).split(":")[4] if str(arn).startswith("arn:") else str(arn)
            if re.fullmatch(fields.ACCOUNT_ID, account_id):
                allowed.add(account_id)
    return allowed


def apply_central_vault_policy(
    backup_client_for_region: Callable[[str], "BackupClient"],
    settings: Settings,
    policies_by_region: Mapping[str, VaultPolicy],
    *,
    backoff: Backoff | None = None,
) -> dict[str, bool]:
    """Put each Region's policy on the central vault when it differs from the one in place. Returns Region ->
    written. Access refused, or a vault that does not exist, raises CentralAccountAccessError naming the Region
    and the vault; throttling and conflicts are retried (``retry.call``)."""
    written: dict[str, bool] = {}
    for region in sorted(policies_by_region):
        policy = policies_by_region[region]
        client = backup_client_for_region(region)
        current = _current_policy(client, settings, region, backoff)
        if same_policy(current, policy.text):
            written[region] = False
            continue
        try:
            backup.put_vault_access_policy(client, settings.central_vault_name, policy.text, backoff=backoff)
        except ClientError as error:
            if retry.error_code(error) in ACCESS_DENIED_CODES | {"ResourceNotFoundException"}:
                raise _central_error(settings, region, "PutBackupVaultAccessPolicy", error) from error
            logger.error(
                "AWS Backup refused the central vault policy",
                extra={"region": region, "mode": policy.mode, "bytes": policy.size_bytes, "error": _aws_error(error)},
            )
            raise
        written[region] = True
    logger.info(
        "central vault policy refreshed",
        extra={
            "written": written,
            "modes": {region: policies_by_region[region].mode for region in sorted(policies_by_region)},
        },
    )
    return written
