"""Is everything protected? The organization's coverage, one cell per in-scope account and backup Region.

Pure domain: it takes data (accounts, StackSet instance states, effective backup policies, job listings) and
returns the report; what reads them: ``orgbackup.aws.organizations`` (Organizations),
``baseline.instance_states`` (StackSets) and ``backup_jobs`` (AWS Backup's cross-account job monitoring).

A cell is
- **silent**: no backup job at all (of any state) in the last ``WEEK``. Nothing ever alerts for it, which is why
  the report exists: the cause is named from the evidence (no baseline instance, no backup policy in force, the
  policies do not cover the Region, or a policy in force and still no job: no tagged resource, or a vault gone);
- **at risk**: jobs run, but backups or copies failed in the last ``DAY``, no backup completed in the ``WEEK``,
  copies into the central vault are missing though the policy in force asks for them, the baseline instance is
  not current, no backup policy covers the Region, or the latest restore test failed;
- **protected**: otherwise.
Every cell carries the reason, so a person reads why, not only a colour.

Job listings: AWS Backup keeps them for 30 days (ListBackupJobs: "a list of existing backup jobs for an
authenticated account for the last 30 days", https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListBackupJobs.html);
the report looks back one ``WEEK``. A job "completed with issues" is ``COMPLETED`` with a status message
(AWS Backup Developer Guide, https://docs.aws.amazon.com/aws-backup/latest/devguide/eventbridge.html; the job
listings carry the same fields). Restore *tests* are restore jobs
whose ``CreatedBy.RestoreTestingPlanArn`` is set (ListRestoreJobs response, RestoreJobCreator).
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, cast, get_args

from orgbackup.alerts import console_url, iso
from orgbackup.baseline import CURRENT, InstanceState
from orgbackup.exceptions import InvalidInputError

State = Literal["protected", "at_risk", "silent"]
JobKind = Literal["backup", "copy", "restore_test"]
Outcome = Literal["completed", "completed_with_issues", "failed", "in_progress"]

STATES: Final[tuple[State, ...]] = get_args(State)
# How bad a state is: a report "got worse" when a cell's rank rose (protected < at risk < silent).
RANK: Final[Mapping[State, int]] = {"protected": 0, "at_risk": 1, "silent": 2}
LABELS: Final[Mapping[State, str]] = {"protected": "Protected", "at_risk": "At risk", "silent": "Silent"}
DAY: Final = timedelta(hours=24)
WEEK: Final = timedelta(days=7)
REPORT_VERSION: Final = 1
# Backup job states that end without a recovery point (ListBackupJobs ByState values); copy and restore jobs end
# FAILED or ABORTED. PARTIAL (some resources of a composite job) also counts as a failure here: not all protected.
FAILED_STATES: Final = frozenset({"FAILED", "ABORTED", "EXPIRED", "PARTIAL"})
ENDED_OK: Final = "COMPLETED"


@dataclass(frozen=True, slots=True)
class Job:
    """One backup, copy or restore-test job from AWS Backup's job listings (the fields the report uses)."""

    kind: JobKind
    account_id: str
    region: str
    job_id: str
    state: str
    created: datetime
    completed: datetime | None = None
    status_message: str | None = None
    resource_arn: str | None = None
    destination_vault_arn: str | None = None
    restore_testing_plan_arn: str | None = None
    # The vault a backup job writes to (BackupVaultName of ListBackupJobs).
    vault_name: str | None = None

    @property
    def outcome(self) -> Outcome:
        if self.state == ENDED_OK:
            return "completed_with_issues" if self.status_message else "completed"
        if self.state in FAILED_STATES:
            return "failed"
        return "in_progress"

    @property
    def when(self) -> datetime:
        return self.completed or self.created


@dataclass(frozen=True, slots=True)
class RegionPolicy:
    """What the account's effective backup policy asks for in one Region."""

    plans: tuple[str, ...]
    copy_targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Scope:
    """Who and where: the report's fixed inputs (from the deployment settings)."""

    organization_id: str
    management_account_id: str
    central_backup_account_id: str
    central_vault_name: str
    regions: tuple[str, ...]
    member_vault_name: str = "orgbackup-member"
    partition: str = "aws"


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the report is computed from; ``policies[account]`` is None when no backup policy is in force
    (Organizations answers EffectivePolicyNotFoundException)."""

    accounts: Sequence[Account]
    instances: Mapping[str, Mapping[str, InstanceState]]
    policies: Mapping[str, Mapping[str, RegionPolicy] | None]
    jobs: Sequence[Job]
    now: datetime


# ---------------------------------------------------------------------------------------------------------------
# Effective backup policy -> what it asks for per Region


def _assigned(node: Any) -> Any:
    """An effective policy holds plain values, but ``@@assign`` forms are read too (as attached policies spell
    them) so the same reader serves both."""
    return node.get("@@assign") if isinstance(node, dict) and "@@assign" in node else node


def region_policies(content: str) -> dict[str, RegionPolicy]:
    """Region -> plans and copy targets, from an effective backup policy document (Organizations User Guide,
    *Backup policy syntax*, https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_backup_syntax.html:
    ``plans.<name>.regions``, ``rules.<rule>.copy_actions.<arn>.target_backup_vault_arn``).
    Raises InvalidInputError for a document that is not a backup policy."""
    try:
        document = json.loads(content)
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"effective backup policy: not JSON ({error})") from None
    plans = document.get("plans") if isinstance(document, dict) else None
    if not isinstance(plans, dict):
        raise InvalidInputError("effective backup policy: no 'plans' object")
    by_region: dict[str, tuple[list[str], set[str]]] = {}
    for name, plan in sorted(plans.items()):
        if not isinstance(plan, dict):
            raise InvalidInputError(f"effective backup policy: plans.{name} must be an object")
        regions = _assigned(plan.get("regions", []))
        regions = [regions] if isinstance(regions, str) else regions
        if not isinstance(regions, list):
            raise InvalidInputError(f"effective backup policy: plans.{name}.regions must be a list of Regions")
        targets: set[str] = set()
        for rule in (_assigned(plan.get("rules")) or {}).values():
            for key, action in ((_assigned(rule.get("copy_actions")) or {}) if isinstance(rule, dict) else {}).items():
                target = _assigned(action.get("target_backup_vault_arn")) if isinstance(action, dict) else None
                targets.add(str(target or key))
        for region in regions:
            plan_names, copy_targets = by_region.setdefault(str(region), ([], set()))
            plan_names.append(name)
            copy_targets.update(targets)
    return {
        region: RegionPolicy(plans=tuple(names), copy_targets=tuple(sorted(targets)))
        for region, (names, targets) in by_region.items()
    }


# ---------------------------------------------------------------------------------------------------------------
# Cells


@dataclass(frozen=True, slots=True)
class Counts:
    completed: int = 0
    completed_with_issues: int = 0
    failed: int = 0
    in_progress: int = 0

    @property
    def total(self) -> int:
        return self.completed + self.completed_with_issues + self.failed + self.in_progress

    def to_dict(self) -> dict[str, int]:
        return {
            "completed": self.completed,
            "completed_with_issues": self.completed_with_issues,
            "failed": self.failed,
            "in_progress": self.in_progress,
        }


def count(jobs: Iterable[Job]) -> Counts:
    tally = {"completed": 0, "completed_with_issues": 0, "failed": 0, "in_progress": 0}
    for job in jobs:
        tally[job.outcome] += 1
    return Counts(**tally)


@dataclass(frozen=True, slots=True)
class Cell:
    account_id: str
    region: str
    state: State
    reason: str
    baseline: InstanceState | None
    policy: RegionPolicy | None
    day: Mapping[JobKind, Counts]
    week: Mapping[JobKind, Counts]
    last_backup: datetime | None
    last_central_copy: datetime | None
    last_restore_test: datetime | None
    console_url: str | None
    # The last time a completed backup wrote to the member vault: the management account cannot list a member
    # account's vaults (that would take a role in every account), so the baseline instance says the vault was
    # created and the jobs say it is still there.
    member_vault_written: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "label": LABELS[self.state],
            "reason": self.reason,
            "baseline": None
            if self.baseline is None
            else {
                "status": self.baseline.status,
                "detailed_status": self.baseline.detailed_status,
                "reason": self.baseline.reason,
            },
            "policy": None
            if self.policy is None
            else {"plans": list(self.policy.plans), "copy_targets": list(self.policy.copy_targets)},
            "jobs": {
                kind: {"24h": self.day[kind].to_dict(), "7d": self.week[kind].to_dict()} for kind in get_args(JobKind)
            },
            "last_backup_completed": _iso(self.last_backup),
            "last_central_copy_completed": _iso(self.last_central_copy),
            "last_restore_test_succeeded": _iso(self.last_restore_test),
            "member_vault_written": _iso(self.member_vault_written),
            "console_url": self.console_url,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _latest(jobs: Iterable[Job]) -> datetime | None:
    return max((job.when for job in jobs), default=None)


def _ago(now: datetime, moment: datetime) -> str:
    hours = (now - moment).total_seconds() / 3600
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def _plural(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _is_central(arn: str | None, scope: Scope) -> bool:
    # arn:<partition>:backup:<region>:<account>:backup-vault:<name>
    parts = (arn or "").split(":")
    return len(parts) == 7 and parts[4] == scope.central_backup_account_id and parts[6] == scope.central_vault_name


def _silent_cause(baseline: InstanceState | None, policy_known: bool, policy: RegionPolicy | None, region: str) -> str:
    if baseline is None:
        return f"no baseline stack instance in {region} (the account is not onboarded here)"
    if baseline.status != CURRENT:
        return f"baseline stack instance {baseline.status}/{baseline.detailed_status}: {baseline.reason or 'no reason'}"
    if not policy_known:
        return "no backup policy in force for the account"
    if policy is None:
        return f"the backup policies in force do not cover {region}"
    return (
        f"backup policy in force ({', '.join(policy.plans)}) but nothing ran: no resource carries the backup tag, "
        "or the member vault or backup role is gone"
    )


def assess_cell(account: Account, region: str, inputs: Inputs, scope: Scope) -> Cell:
    """One account x Region: its state and the reason, from the jobs of the last ``WEEK``."""
    now = inputs.now
    mine = [job for job in inputs.jobs if job.account_id == account.account_id and job.region == region]
    week = [job for job in mine if now - job.created <= WEEK]
    day = [job for job in week if now - job.when <= DAY]
    by_kind = {kind: [job for job in week if job.kind == kind] for kind in get_args(JobKind)}
    day_by_kind = {kind: [job for job in day if job.kind == kind] for kind in get_args(JobKind)}
    baseline = inputs.instances.get(account.account_id, {}).get(region)
    account_policy = inputs.policies.get(account.account_id)
    policy = None if account_policy is None else account_policy.get(region)

    backups_ok = [job for job in by_kind["backup"] if job.outcome in ("completed", "completed_with_issues")]
    central_copies = [
        job
        for job in by_kind["copy"]
        if job.outcome in ("completed", "completed_with_issues") and _is_central(job.destination_vault_arn, scope)
    ]
    restore_tests = sorted(
        (job for job in mine if job.kind == "restore_test" and job.outcome != "in_progress"), key=lambda job: job.when
    )
    last_restore_ok = _latest(job for job in restore_tests if job.outcome != "failed")

    state: State
    reasons: list[str] = []
    if not by_kind["backup"]:
        state = "silent"
        reasons = [
            f"no backup job in {WEEK.days} days",
            _silent_cause(baseline, account_policy is not None, policy, region),
        ]
    else:
        failed_backups = [job for job in day_by_kind["backup"] if job.outcome == "failed"]
        failed_copies = [job for job in day_by_kind["copy"] if job.outcome == "failed"]
        if failed_backups:
            reasons.append(f"{_plural(len(failed_backups), 'backup job')} failed in 24 h ({_example(failed_backups)})")
        if failed_copies:
            reasons.append(f"{_plural(len(failed_copies), 'copy job')} failed in 24 h ({_example(failed_copies)})")
        if not backups_ok:
            reasons.append(f"no backup completed in {WEEK.days} days")
        expects_central_copy = policy is not None and any(_is_central(target, scope) for target in policy.copy_targets)
        if expects_central_copy and backups_ok and not central_copies:
            reasons.append(f"copies missing: no copy into the central vault completed in {WEEK.days} days")
        if baseline is None or baseline.status != CURRENT:
            reasons.append(_silent_cause(baseline, True, policy, region))
        elif policy is None:
            reasons.append(
                "no backup policy in force for the account"
                if account_policy is None
                else f"the backup policies in force do not cover {region}"
            )
        if restore_tests and restore_tests[-1].outcome == "failed":
            reasons.append(f"the latest restore test failed ({_example(restore_tests[-1:])})")
        state = "at_risk" if reasons else "protected"
        if not reasons:
            reasons.append(_protected_summary(now, backups_ok, by_kind, central_copies, last_restore_ok))
    url, _ = console_url("backup", None, region, scope.partition)
    return Cell(
        account_id=account.account_id,
        region=region,
        state=state,
        reason="; ".join(reasons),
        baseline=baseline,
        policy=policy,
        day={kind: count(jobs) for kind, jobs in day_by_kind.items()},
        week={kind: count(jobs) for kind, jobs in by_kind.items()},
        last_backup=_latest(backups_ok),
        last_central_copy=_latest(central_copies),
        last_restore_test=last_restore_ok,
        console_url=url,
        member_vault_written=_latest(job for job in backups_ok if job.vault_name == scope.member_vault_name),
    )


def _example(jobs: Sequence[Job]) -> str:
    job = max(jobs, key=lambda item: item.when)
    message = " ".join((job.status_message or "no status message").split())
    return f"{job.state}: {message[:160]}"


def _protected_summary(
    now: datetime,
    backups_ok: Sequence[Job],
    by_kind: Mapping[JobKind, Sequence[Job]],
    central_copies: Sequence[Job],
    last_restore_ok: datetime | None,
) -> str:
    latest = max(job.when for job in backups_ok)
    parts = [f"{_plural(len(backups_ok), 'backup')} completed in {WEEK.days} days, the last {_ago(now, latest)}"]
    issues = sum(1 for job in by_kind["backup"] if job.outcome == "completed_with_issues")
    if issues:
        parts.append(f"{issues} of them with issues")
    if central_copies:
        parts.append(f"last copy into the central vault {_ago(now, max(job.when for job in central_copies))}")
    if last_restore_ok:
        parts.append(f"last restore test passed {_ago(now, last_restore_ok)}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True, slots=True)
class Report:
    scope: Scope
    generated_at: datetime
    accounts: Sequence[Account]
    cells: Sequence[Cell]
    totals: Mapping[State, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        by_account: dict[str, list[Cell]] = {}
        for cell in self.cells:
            by_account.setdefault(cell.account_id, []).append(cell)
        return {
            "version": REPORT_VERSION,
            "generated_at": iso(self.generated_at),
            "organization_id": self.scope.organization_id,
            "management_account_id": self.scope.management_account_id,
            "central_backup_account_id": self.scope.central_backup_account_id,
            "regions": list(self.scope.regions),
            "windows": {"recent_hours": int(DAY.total_seconds() // 3600), "silent_after_days": WEEK.days},
            "totals": {**{state: self.totals.get(state, 0) for state in STATES}, "cells": len(self.cells)},
            "accounts": [
                {
                    "account_id": account.account_id,
                    "name": account.name,
                    "last_restore_test_succeeded": _iso(
                        max(
                            (
                                cell.last_restore_test
                                for cell in by_account.get(account.account_id, [])
                                if cell.last_restore_test
                            ),
                            default=None,
                        )
                    ),
                    "cells": {cell.region: cell.to_dict() for cell in by_account.get(account.account_id, [])},
                }
                for account in self.accounts
            ],
        }


def build_report(inputs: Inputs, scope: Scope) -> Report:
    accounts = sorted(inputs.accounts, key=lambda account: (account.name.lower(), account.account_id))
    cells = [assess_cell(account, region, inputs, scope) for account in accounts for region in scope.regions]
    totals = {state: sum(1 for cell in cells if cell.state == state) for state in STATES}
    return Report(scope=scope, generated_at=inputs.now, accounts=accounts, cells=cells, totals=totals)


# ---------------------------------------------------------------------------------------------------------------
# What got worse since the last report


@dataclass(frozen=True, slots=True)
class Change:
    account_id: str
    name: str
    region: str
    before: State | None
    now: State
    reason: str


def cell_states(report: Mapping[str, Any]) -> dict[tuple[str, str], State]:
    """(account, Region) -> state from a report's JSON form; raises InvalidInputError naming the bad field."""
    states: dict[tuple[str, str], State] = {}
    accounts = report.get("accounts")
    if not isinstance(accounts, list):
        raise InvalidInputError("previous report: 'accounts' must be a list")
    for i, account in enumerate(accounts):
        cells = account.get("cells") if isinstance(account, dict) else None
        if not isinstance(cells, dict):
            raise InvalidInputError(f"previous report: accounts[{i}].cells must be an object")
        for region, cell in cells.items():
            state = cell.get("state") if isinstance(cell, dict) else None
            if state not in RANK:
                raise InvalidInputError(f"previous report: accounts[{i}].cells.{region}.state: {state!r} is no state")
            states[(str(account.get("account_id")), region)] = cast(State, state)
    return states


def worsened(previous: Mapping[str, Any] | None, report: Mapping[str, Any]) -> list[Change]:
    """Cells newly silent or at risk: their state's rank rose, or they are new and not protected. With no previous
    report every cell is new."""
    before = cell_states(previous) if previous is not None else {}
    changes = []
    for account in report["accounts"]:
        for region, cell in account["cells"].items():
            state: State = cell["state"]
            earlier = before.get((account["account_id"], region))
            rose = RANK[state] > RANK[earlier] if earlier is not None else state != "protected"
            if rose:
                changes.append(Change(account["account_id"], account["name"], region, earlier, state, cell["reason"]))
    return changes


def notification(changes: Sequence[Change], report: Mapping[str, Any], location: str | None) -> tuple[str, str]:
    """The SNS subject (under 100 ASCII characters) and message naming the accounts whose protection got worse."""
    names = sorted({change.name for change in changes})
    totals = report["totals"]
    subject = f"orgbackup coverage: {_plural(len(names), 'account')} got worse"
    lines = [
        f"Coverage report of {report['generated_at']}: protection got worse in {len(changes)} of "
        f"{totals['cells']} account x Region cells ({', '.join(names)}).",
        "",
    ]
    for change in sorted(changes, key=lambda item: (item.name, item.region)):
        was = LABELS[change.before] if change.before else "not in the last report"
        lines.append(f"- {change.name} ({change.account_id}) {change.region}: {LABELS[change.now]} (was {was})")
        lines.append(f"    {change.reason}")
    lines += [
        "",
        f"Totals: {totals['protected']} protected, {totals['at_risk']} at risk, {totals['silent']} silent.",
    ]
    if location:
        lines.append(f"Full report: {location}")
    return subject, "\n".join(lines) + "\n"


def now_utc() -> datetime:
    return datetime.now(UTC)
