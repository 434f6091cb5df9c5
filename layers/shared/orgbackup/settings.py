"""The deployment settings the onboarding, policy and coverage functions share, read once at handler entry (never
at import time, never in domain code) with ``settings_loader.from_environment``."""

from dataclasses import dataclass

from orgbackup import fields
from orgbackup.exceptions import ConfigurationError
from orgbackup.regions import partition_problem, region_problem
from orgbackup.settings_loader import pattern

# Policy targets: each protected account directly (ACCOUNTS), the organization root (ROOT, resolved at run time,
# or its r-... ID), OUs or accounts.
POLICY_TARGET = rf"ACCOUNTS|ROOT|{fields.ROOT_ID}|{fields.OU_ID}|{fields.ACCOUNT_ID}"


@dataclass(frozen=True)
class Settings:
    organization_id: str = pattern(fields.ORGANIZATION_ID, why="must be an organization ID like o-a1b2c3d4e5")
    management_account_id: str = pattern(fields.ACCOUNT_ID, why="must be a 12-digit account ID")
    central_backup_account_id: str = pattern(fields.ACCOUNT_ID, why="must be a 12-digit account ID")
    backup_regions: tuple[str, ...] = pattern(fields.REGION, why="must be a Region name like eu-west-1")
    member_vault_name: str = pattern(fields.VAULT_NAME, why="vault names are 2-50 letters, digits, - or _")
    central_vault_name: str = pattern(fields.VAULT_NAME, why="vault names are 2-50 letters, digits, - or _")
    backup_role_name: str = pattern(fields.IAM_ROLE_NAME, why="must be an IAM role name")
    member_stackset_name: str = pattern(fields.STACKSET_NAME, why="must be a StackSet name")
    central_vault_policy_role_name: str = pattern(fields.IAM_ROLE_NAME, why="must be an IAM role name")
    # Empty: every OU of the organization is in scope.
    in_scope_ou_ids: tuple[str, ...] = pattern(fields.OU_ID, default=(), why="must be an OU ID like ou-ab12-cdef3456")
    excluded_account_ids: tuple[str, ...] = pattern(fields.ACCOUNT_ID, default=(), why="must be a 12-digit ID")
    policy_target_ids: tuple[str, ...] = pattern(
        POLICY_TARGET,
        default=("ACCOUNTS",),
        why="must be ACCOUNTS, ROOT, a root ID (r-...), an OU ID (ou-...) or an account ID",
    )
    # The deployment's partition (template.yaml passes AWS::Partition); every backup Region and the break-glass
    # ARN must belong to it.
    partition: str = pattern(fields.PARTITION, default="aws", why="must be an AWS partition name")
    # Empty: nobody may delete recovery points or change vault policies outside this automation. The one check of
    # this ARN: the vault policy uses it as it is (``vault_policy``).
    break_glass_principal_arn: str | None = pattern(
        fields.IAM_PRINCIPAL_ARN,
        default=None,
        why=(
            "must be an IAM role or user ARN (arn:<partition>:iam::<12-digit account>:role/<path/><name>, the path "
            "and name of ASCII letters, digits and +=,.@_-), or empty"
        ),
    )
    # Empty: no disaster-recovery copy. Otherwise every backup made in another backup Region is also copied to the
    # same account's member vault in this Region (same account, cross-Region: see README "Copies and restores").
    disaster_recovery_region: str | None = pattern(
        fields.REGION, default=None, why="must be a Region name like eu-west-1, or empty"
    )
    # Regions newer than botocore's Region list, accepted in BackupRegions and DisasterRecoveryRegion.
    extra_regions: tuple[str, ...] = pattern(fields.REGION, default=(), why="must be a Region name like eu-west-1")

    def __post_init__(self) -> None:
        if not self.backup_regions:
            raise ConfigurationError("BACKUP_REGIONS is empty: name at least one Region to back up in")
        named = [("BACKUP_REGIONS", region) for region in self.backup_regions]
        if self.disaster_recovery_region:
            named.append(("DISASTER_RECOVERY_REGION", self.disaster_recovery_region))
        for key, region in named:
            why = region_problem(region, self.extra_regions) or partition_problem(region, self.partition)
            if why:
                raise ConfigurationError(f"{key}={region!r} is invalid: it is {why}")
        arn = self.break_glass_principal_arn
        arn_partition = (arn or "").split(":")[1:2]
        if arn and arn_partition != [self.partition]:
            # An ARN of another partition names no principal here: aws:PrincipalArn would never equal it.
            raise ConfigurationError(
                f"BREAK_GLASS_PRINCIPAL_ARN={arn!r} is invalid: it is in the {''.join(arn_partition)!r} partition, "
                f"but this deployment is in the {self.partition!r} partition"
            )
        if len(set(self.backup_regions)) != len(self.backup_regions):
            raise ConfigurationError(f"BACKUP_REGIONS={','.join(self.backup_regions)!r} names a Region twice")
        if self.central_backup_account_id == self.management_account_id:
            raise ConfigurationError(
                f"CENTRAL_BACKUP_ACCOUNT_ID={self.central_backup_account_id!r} is the management account: "
                "the central vault belongs in a separate account"
            )

    @property
    def primary_region(self) -> str:
        """The Region whose central vault receives the cross-account copies."""
        return self.backup_regions[0]

    @property
    def baseline_regions(self) -> tuple[str, ...]:
        """Where the member baseline (vault, key, role) goes: every backup Region, and the disaster-recovery
        Region, whose member vault receives the disaster-recovery copies."""
        extra = self.disaster_recovery_region
        return self.backup_regions + ((extra,) if extra and extra not in self.backup_regions else ())

    def disaster_recovery_copy_region(self, region: str) -> str | None:
        """Where backups made in ``region`` get their disaster-recovery copy: None without a DR Region, and for the
        DR Region itself (its backups already are there; a copy into the same vault would be no copy)."""
        target = self.disaster_recovery_region
        return target if target and target != region else None

    def member_vault_arn(self, region: str) -> str:
        """A member's own vault in ``region``: ``$account`` is AWS's variable for the account running the plan,
        allowed in same-account copy targets (Organizations, "Backup policy syntax and examples")."""
        return f"arn:{self.partition}:backup:{region}:$account:backup-vault:{self.member_vault_name}"

    def central_vault_arn(self, region: str | None = None) -> str:
        return (
            f"arn:{self.partition}:backup:{region or self.primary_region}:{self.central_backup_account_id}:"
            f"backup-vault:{self.central_vault_name}"
        )
