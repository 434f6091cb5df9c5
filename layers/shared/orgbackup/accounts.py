"""Step 1 of the onboarding workflow, "Resolve": which requested accounts to onboard, skip, or reject, and why.

Organizations is read through its adapter (``orgbackup.aws.organizations``, one per run). Organizations is the
source of truth: an account's current state and OU placement
decide, not what an event said when it was emitted.

Classification, first match wins:
- skipped ``management-account``: the product runs there, and AWS recommends keeping workloads (and so their
  backups) out of the management account (Organizations user guide, "Best practices for the management account":
  https://docs.aws.amazon.com/organizations/latest/userguide/orgs_best-practices_mgmt-acct.html);
- skipped ``central-account``: the central backup account has its own baseline (the central StackSet: the central
  vault, its key and role, and its own backup-event forwarder). The member baseline does not belong there, and
  cannot coexist with it: both templates create the forwarder role under one name, so the member instance would
  fail there (EntityAlreadyExists) and every run that asked for it would end failed;
- skipped ``excluded``: listed in the ``excluded_account_ids`` setting;
- invalid ``unknown-account``: ``DescribeAccount`` answers ``AccountNotFoundException``;
- skipped ``not-active``: the account's ``State`` (or, where absent, the older ``Status``) is not ACTIVE:
  SUSPENDED, PENDING_CLOSURE, CLOSED or PENDING_ACTIVATION;
- invalid ``unknown-ou``: the event names an OU that does not exist in the organization (an account that moved
  since the event is fine: its current OU counts);
- skipped ``out-of-scope``: ``in_scope_ou_ids`` is set and no OU on the account's path to the root is in it
  (so accounts in nested OUs count); an empty setting puts the whole organization in scope;
- skipped ``baseline-in-progress``: the caller says a StackSet operation is deploying the account's baseline right
  now (an instance is PENDING or RUNNING): the run that started it finishes the onboarding, and starting another
  operation for the same account would only queue behind it and do the work twice;
- skipped ``baseline-current``: the caller says the account's StackSet baseline is already current.
  A reconcile counts these two (``Resolution.baseline_current``, ``baseline_in_progress``) instead of listing them;
- otherwise to onboard. Both StackSets are self-managed (template.yaml, ``PermissionModel: SELF_MANAGED``): their
  instances are created for account IDs, so no parent is looked up for an account to onboard; an account's OUs are
  read only to check the event's OU or a restricted scope.
"""

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args

from botocore.exceptions import ClientError

from orgbackup import retry
from orgbackup.aws.organizations import Organizations
from orgbackup.exceptions import InvalidInputError
from orgbackup.fields import Fields, got
from orgbackup.observability import logger
from orgbackup.retry import Backoff
from orgbackup.settings import Settings
from orgbackup.workflow_input import AccountRequest, InvalidRecord, Mode, RecordCode, WorkflowInput

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_organizations.type_defs import AccountTypeDef

SkipCode = Literal[
    "management-account",
    "central-account",
    "excluded",
    "not-active",
    "out-of-scope",
    "baseline-in-progress",
    "baseline-current",
]
InvalidCode = RecordCode | Literal["unknown-account", "unknown-ou"]
OutcomeCode = SkipCode | InvalidCode

NOT_ACTIVE_WHY: Final[Mapping[str, str]] = {
    "SUSPENDED": "the account is suspended; nothing can be deployed into it",
    "PENDING_CLOSURE": "the account is being closed",
    "CLOSED": "the account is closed",
    "PENDING_ACTIVATION": "the account is not active yet; the daily reconcile run onboards it once it is ACTIVE",
}
BASELINE_CURRENT: Final = "baseline already current"
BASELINE_IN_PROGRESS: Final = (
    "baseline in progress: a StackSet operation is deploying it now; the run that started that operation finishes "
    "the onboarding (or, if that run fails, its notification says how to re-run)"
)
MANAGEMENT_ACCOUNT_WHY: Final = (
    "management account: never onboarded (the product runs there; AWS recommends keeping workloads out of it)"
)
CENTRAL_ACCOUNT_WHY: Final = (
    "central backup account: it holds the central vault and has its own baseline (the central StackSet), "
    "never the member one"
)
EXCLUDED_WHY: Final = "excluded: listed in the excluded_account_ids setting"
# The skips whose reason is always the same text: the state carries the code only (a batch of 1,000 accounts all in
# progress would otherwise repeat 1,000 copies of a 200-character reason, over Step Functions' 262,144-byte state;
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html), and ``reason_of`` gives the text back.
FIXED_REASONS: Final[Mapping[str, str]] = {
    "management-account": MANAGEMENT_ACCOUNT_WHY,
    "central-account": CENTRAL_ACCOUNT_WHY,
    "excluded": EXCLUDED_WHY,
    "baseline-in-progress": BASELINE_IN_PROGRESS,
    "baseline-current": BASELINE_CURRENT,
}
_MODES: Final = frozenset(get_args(Mode))
_SKIP_CODES: Final = frozenset(get_args(SkipCode))
_CODES: Final = _SKIP_CODES | frozenset(get_args(RecordCode)) | {"unknown-account", "unknown-ou"}


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account to onboard; ``sources`` are the records that asked for it (none in reconcile)."""

    account_id: str
    name: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountOutcome:
    """A skipped or invalid request. ``account_id`` is None for a record that named no valid account."""

    account_id: str | None
    code: OutcomeCode
    reason: str
    name: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    mode: Mode
    to_onboard: list[AccountRef] = field(default_factory=list)
    skipped: list[AccountOutcome] = field(default_factory=list)
    invalid: list[AccountOutcome] = field(default_factory=list)
    # The manual input's note, carried to the notification.
    reason: str | None = None
    # Reconcile only: accounts whose baseline is already current, and those a StackSet operation is deploying now,
    # counted, not listed (a reconcile of a large organization must fit in the state: during a member-template
    # update every account is in progress), and the accounts to onboard left for the next chunk of the run.
    baseline_current: int = 0
    baseline_in_progress: int = 0
    remaining: int = 0

    @property
    def account_ids(self) -> list[str]:
        return [ref.account_id for ref in self.to_onboard]

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-ready form: it travels in Step Functions state (256 KiB limit), so empty fields are left out.
        ``counts`` lets a Choice state branch without intrinsic functions."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "counts": {"to_onboard": len(self.to_onboard), "skipped": len(self.skipped), "invalid": len(self.invalid)},
            "to_onboard": [
                _compact(account_id=ref.account_id, name=ref.name, sources=ref.sources) for ref in self.to_onboard
            ],
            "skipped": [_outcome_dict(item) for item in self.skipped],
            "invalid": [_outcome_dict(item) for item in self.invalid],
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.baseline_current:
            out["baseline_current"] = self.baseline_current
        if self.baseline_in_progress:
            out["baseline_in_progress"] = self.baseline_in_progress
        if self.remaining:
            out["remaining"] = self.remaining
        return out

    @classmethod
    def from_dict(cls, data: object) -> "Resolution":
        """The inverse of ``to_dict``; raises InvalidInputError naming the bad field."""
        if not isinstance(data, dict):
            raise InvalidInputError(f"resolution: must be an object, got {got(data)}")
        fields = Fields(data, "resolution.")
        mode = data.get("mode")
        if not isinstance(mode, str) or mode not in _MODES:
            raise fields.fail("mode", f"{mode!r} is not one of {', '.join(sorted(_MODES))}")
        return cls(
            mode=cast(Mode, mode),
            to_onboard=[_ref_from(item) for item in _items(fields, "to_onboard")],
            skipped=[_outcome_from(item) for item in _items(fields, "skipped")],
            invalid=[_outcome_from(item) for item in _items(fields, "invalid")],
            reason=fields.string("reason"),
            baseline_current=_count(fields, "baseline_current"),
            baseline_in_progress=_count(fields, "baseline_in_progress"),
            remaining=_count(fields, "remaining"),
        )


def _count(fields: Fields, key: str) -> int:
    value = fields.data.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise fields.fail(key, f"must be a count (an integer of 0 or more), got {got(value)}")
    return value


def _compact(**fields: object) -> dict[str, Any]:
    """Fields with a value: None and empty sources are left out of the JSON."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in fields.items() if value}


def _outcome_dict(item: AccountOutcome) -> dict[str, Any]:
    reason = None if FIXED_REASONS.get(item.code) == item.reason else item.reason  # the code says it (reason_of)
    return _compact(account_id=item.account_id, code=item.code, reason=reason, name=item.name, sources=item.sources)


def reason_of(entry: Mapping[str, Any]) -> str:
    """A skipped or invalid entry's reason as the state carries it: its own, else its code's fixed one."""
    reason = entry.get("reason")
    return reason if isinstance(reason, str) else FIXED_REASONS.get(str(entry.get("code")), "")


def _items(fields: Fields, key: str) -> list[Fields]:
    """The objects of the list ``key``, each as its fields (``resolution.skipped[2].``)."""
    items = []
    for index, item in enumerate(fields.list(key)):
        path = f"{fields.path(key)}[{index}]"
        if not isinstance(item, dict):
            raise InvalidInputError(f"{path}: must be an object, got {got(item)}")
        items.append(Fields(item, f"{path}."))
    return items


def _ref_from(item: Fields) -> AccountRef:
    return AccountRef(
        account_id=item.account_id("account_id"),
        name=item.string("name"),
        sources=item.string_list("sources"),
    )


def _outcome_from(item: Fields) -> AccountOutcome:
    code = item.data.get("code")
    if not isinstance(code, str) or code not in _CODES:
        raise item.fail("code", f"{code!r} is not an outcome code")
    account_id = item.string("account_id")
    return AccountOutcome(
        account_id=account_id,
        code=cast(OutcomeCode, code),
        reason=(
            item.string("reason") or FIXED_REASONS[code]
            if code in FIXED_REASONS
            else item.required_string("reason", allow_empty=True)
        ),
        name=item.string("name"),
        sources=item.string_list("sources"),
    )


def account_state(account: "AccountTypeDef") -> str:
    """Organizations' newer ``State`` (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED, PENDING_ACTIVATION) when
    present, else the older ``Status`` (ACTIVE, SUSPENDED, PENDING_CLOSURE)."""
    return str(account.get("State") or account.get("Status") or "UNKNOWN")


def _show_path(path: Sequence[str]) -> str:
    return " > ".join(reversed(path)) if path else "(no parent found)"


def _scope_reason(path: Sequence[str], settings: Settings) -> str | None:
    if not settings.in_scope_ou_ids or any(ou_id in path for ou_id in settings.in_scope_ou_ids):
        return None
    # The in-scope OUs are configuration the operator has; repeating them per account would bloat the state.
    return f"out of scope: {_show_path(path)} is not under any OU in in_scope_ou_ids"


# ---------------------------------------------------------------------------------------------------------------
# Resolution


@dataclass
class _Group:
    """All requests for one account, merged: the first name/OU seen wins, every source is kept."""

    account_id: str
    name: str | None = None
    ou_id: str | None = None
    ou_name: str | None = None
    sources: list[str] = field(default_factory=list)

    def add(self, request: AccountRequest) -> None:
        self.name = self.name or request.account_name
        self.ou_id = self.ou_id or request.ou_id
        self.ou_name = self.ou_name or request.ou_name
        if request.source not in self.sources:
            self.sources.append(request.source)


def dedupe(requests: Iterable[AccountRequest]) -> list[_Group]:
    """Requests merged by account ID, in first-seen order."""
    groups: dict[str, _Group] = {}
    for request in requests:
        groups.setdefault(request.account_id, _Group(request.account_id)).add(request)
    return list(groups.values())


def _invalid_from_records(records: Iterable[InvalidRecord]) -> list[AccountOutcome]:
    """Parse failures as outcomes; replays of the same failure for the same account are merged."""
    merged: dict[tuple[str | None, str, str], list[str]] = {}
    for record in records:
        # Records that name no account are never merged: each is its own problem.
        key = (record.account_id, record.reason, record.source if record.account_id is None else "")
        merged.setdefault(key, []).append(record.source)
    codes = {(record.account_id, record.reason): record.code for record in records}
    return [
        AccountOutcome(account_id=account_id, code=codes[(account_id, reason)], reason=reason, sources=tuple(sources))
        for (account_id, reason, _), sources in merged.items()
    ]


class _Classifier:
    def __init__(
        self,
        view: Organizations,
        settings: Settings,
        current: Collection[str],
        in_progress: Collection[str] = frozenset(),
    ) -> None:
        self.view = view
        self.settings = settings
        self.current = current
        self.in_progress = in_progress

    def classify(self, group: _Group) -> AccountRef | AccountOutcome:
        verdict = self._configured(group.account_id)
        name = group.name
        path: tuple[str, ...] = ()
        if verdict is None:
            account = self.view.describe_account(group.account_id)
            if account is None:
                verdict = (
                    "unknown-account",
                    f"unknown account: {group.account_id} is not an account of organization "
                    f"{self.settings.organization_id}",
                )
            else:
                name = account.get("Name") or name
                # The path is needed to check the event's OU or the scope; with neither, it costs calls for nothing.
                if group.ou_id or self.settings.in_scope_ou_ids:
                    path = self.view.path(group.account_id)
                verdict = self._organization(group, account, path)
        if verdict is not None:
            code, reason = verdict
            return AccountOutcome(group.account_id, code, reason, name=name, sources=tuple(group.sources))
        return AccountRef(group.account_id, name=name, sources=tuple(group.sources))

    def _configured(self, account_id: str) -> tuple[OutcomeCode, str] | None:
        """Skips decided by configuration alone, before any call."""
        if account_id == self.settings.management_account_id:
            return "management-account", MANAGEMENT_ACCOUNT_WHY
        if account_id == self.settings.central_backup_account_id:
            return "central-account", CENTRAL_ACCOUNT_WHY
        if account_id in self.settings.excluded_account_ids:
            return "excluded", EXCLUDED_WHY
        return None

    def _organization(
        self, group: _Group, account: "AccountTypeDef", path: tuple[str, ...]
    ) -> tuple[OutcomeCode, str] | None:
        """Verdicts decided by what Organizations says about an account it knows."""
        state = account_state(account)
        if state != "ACTIVE":
            return (
                "not-active",
                f"account state {state}: {NOT_ACTIVE_WHY.get(state, 'only ACTIVE accounts are onboarded')}",
            )
        if group.ou_id and group.ou_id not in path and not self.view.ou_exists(group.ou_id):
            return (
                "unknown-ou",
                f"unknown OU: the event places the account in {group.ou_id} ({group.ou_name}), which is not an OU "
                f"of this organization; Organizations has it at {_show_path(path)}",
            )
        scope = _scope_reason(path, self.settings)
        if scope is not None:
            return "out-of-scope", scope
        if group.account_id in self.in_progress:
            return "baseline-in-progress", BASELINE_IN_PROGRESS
        if group.account_id in self.current:
            return "baseline-current", BASELINE_CURRENT
        return None


def resolve(
    client: "Organizations | OrganizationsClient",
    settings: Settings,
    requests: Iterable[AccountRequest],
    *,
    invalid_records: Iterable[InvalidRecord] = (),
    current_baseline_ids: Collection[str] = frozenset(),
    in_progress_baseline_ids: Collection[str] = frozenset(),
    mode: Mode = "events",
    reason: str | None = None,
    backoff: Backoff | None = None,
) -> Resolution:
    """Dedupe ``requests`` by account, look each account up, and classify it (see the module docstring).

    ``invalid_records`` (from parsing) are carried into ``Resolution.invalid``; ``current_baseline_ids`` are the
    accounts whose StackSet baseline the caller found current, ``in_progress_baseline_ids`` those a StackSet
    operation is deploying now.
    """
    view = Organizations.of(client, backoff)
    classifier = _Classifier(view, settings, current_baseline_ids, in_progress_baseline_ids)
    resolution = Resolution(mode=mode, reason=reason, invalid=_invalid_from_records(list(invalid_records)))
    groups = dedupe(requests)
    _list_busy_ous(view, groups)
    for group in groups:
        result = classifier.classify(group)
        if isinstance(result, AccountRef):
            resolution.to_onboard.append(result)
        elif result.code in _SKIP_CODES:
            resolution.skipped.append(result)
        else:
            resolution.invalid.append(result)
    _log(resolution)
    return resolution


# An OU named by at least this many requests of a batch is listed (ListAccountsForParent, 20 accounts a page)
# instead of describing its accounts one by one (DescribeAccount and ListParents each): a whole OU enrolled at once
# (issue 14: 1,000 accounts in a batch) costs a page per 20 accounts, not two calls per account.
LIST_OU_FROM_REQUESTS: Final = 20
# Listing stops after this many accounts per requested one, found or not (an OU holding many other accounts must
# not cost more than describing the requested ones would): the rest are described one by one.
LIST_OU_ACCOUNTS_PER_REQUEST: Final = 2


def _list_busy_ous(view: Organizations, groups: Sequence[_Group]) -> None:
    """Teach ``view`` the accounts (and their parent) of each OU many of ``groups`` name, by listing the OU."""
    wanted: dict[str, set[str]] = {}
    for group in groups:
        if group.ou_id:
            wanted.setdefault(group.ou_id, set()).add(group.account_id)
    for ou_id, account_ids in wanted.items():
        if len(account_ids) < LIST_OU_FROM_REQUESTS:
            continue
        missing, budget = set(account_ids), LIST_OU_ACCOUNTS_PER_REQUEST * len(account_ids)
        try:
            for seen, account in enumerate(view.accounts_for_parent(ou_id), start=1):
                missing.discard(account["Id"])
                if not missing or seen >= budget:
                    break
        except ClientError as error:
            # An OU that does not exist: each account is described on its own, which says what is wrong.
            if retry.error_code(error) not in {"ParentNotFoundException", "OrganizationalUnitNotFoundException"}:
                raise


def _eligible(account: "AccountTypeDef", settings: Settings) -> bool:
    account_id = account["Id"]
    return not (
        account_id in (settings.management_account_id, settings.central_backup_account_id)
        or account_id in settings.excluded_account_ids
        or account_state(account) != "ACTIVE"
    )


def _in_scope_active(view: Organizations, settings: Settings) -> Iterator["AccountTypeDef"]:
    """Each ACTIVE, in-scope, non-excluded member account. Never the management account nor the central backup
    account (see the module docstring).

    The whole organization is listed (ListAccounts); a restricted scope is walked down from the in-scope OUs
    (``Organizations.walk_down``): its cost grows with the number of OUs, not with the number of accounts in the
    organization, as looking each account's parents up would. No call is made per account."""
    listed = (account for account, _ in view.walk_down(settings.in_scope_ou_ids)) if settings.in_scope_ou_ids else None
    for account in view.accounts() if listed is None else listed:
        if _eligible(account, settings):
            yield account


def _ref(account: "AccountTypeDef") -> AccountRef:
    # No source records: the resolution's mode says these came from listing the organization.
    return AccountRef(account_id=account["Id"], name=account.get("Name"))


def list_in_scope_active_accounts(
    client: "Organizations | OrganizationsClient", settings: Settings, *, backoff: Backoff | None = None
) -> list[AccountRef]:
    """Every ACTIVE account in scope, with its name, except the management account, the central backup account and
    excluded ones. Listed, never looked up one by one: no call per account."""
    view = Organizations.of(client, backoff)
    return [_ref(account) for account in _in_scope_active(view, settings)]


def in_scope_active_account_ids(
    client: "Organizations | OrganizationsClient", settings: Settings, *, backoff: Backoff | None = None
) -> set[str]:
    """The IDs of ``list_in_scope_active_accounts``."""
    view = Organizations.of(client, backoff)
    return {account["Id"] for account in _in_scope_active(view, settings)}


def resolve_input(
    client: "Organizations | OrganizationsClient",
    settings: Settings,
    workflow_input: WorkflowInput,
    *,
    current_baseline_ids: Collection[str] = frozenset(),
    in_progress_baseline_ids: Collection[str] = frozenset(),
    failed_earlier: Collection[str] = frozenset(),
    backoff: Backoff | None = None,
) -> Resolution:
    """The Resolve step for any parsed workflow input: reconcile lists the organization (accounts whose baseline
    is current or in progress are counted; ``failed_earlier``, the accounts that failed in an earlier chunk of
    the same execution, are left out: they would fail again and take a place in every chunk), the others resolve
    their requests."""
    if workflow_input.mode != "reconcile":
        return resolve(
            client,
            settings,
            workflow_input.requests,
            invalid_records=workflow_input.invalid,
            current_baseline_ids=current_baseline_ids,
            in_progress_baseline_ids=in_progress_baseline_ids,
            mode=workflow_input.mode,
            reason=workflow_input.reason,
            backoff=backoff,
        )
    view = Organizations.of(client, backoff)
    in_progress = current = 0
    candidates: list[AccountTypeDef] = []
    for account in _in_scope_active(view, settings):
        if account["Id"] in failed_earlier:
            continue
        if account["Id"] in in_progress_baseline_ids:
            in_progress += 1
        elif account["Id"] in current_baseline_ids:
            current += 1
        else:
            candidates.append(account)
    # One chunk: the first accounts by ID; the state machine runs Resolve again for the rest (each run recomputes
    # from the organization, and the ones this chunk onboards are then current, so no continuation token).
    candidates.sort(key=lambda candidate: candidate["Id"])
    chunk = RECONCILE_CHUNK_ACCOUNTS
    resolution = Resolution(
        mode="reconcile",
        to_onboard=[_ref(account) for account in candidates[:chunk]],
        baseline_current=current,
        baseline_in_progress=in_progress,
        remaining=max(0, len(candidates) - chunk),
    )
    _log(resolution)
    return resolution


# The accounts one reconcile chunk onboards: the Pipe's batch size (template.yaml, OnboardingPipe BatchSize; a
# static test keeps them equal), the batch the workflow is sized and measured for, whose state stays inside Step
# Functions' 262,144 bytes (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). Read at call
# time, so a test can lower it.
RECONCILE_CHUNK_ACCOUNTS = 1000
# The state machine's bound on chunks (onboarding_definition): room for an organization of 10,000 accounts and one more.
RECONCILE_MAX_CHUNKS: Final = -(-10_000 // RECONCILE_CHUNK_ACCOUNTS) + 1
# The failed accounts a reconcile carries from chunk to chunk (NextChunk), to leave them out of the next ones: one
# account that always fails (a missing execution role) must not stop a backfill, but past this many failures
# something is wrong for every account, and the run ends (the report says so). 100 account IDs are about 1.6 KB
# of state.
RECONCILE_CARRIED_FAILURES: Final = 100


def _log(resolution: Resolution) -> None:
    logger.info(
        "accounts resolved",
        extra={
            "mode": resolution.mode,
            "to_onboard": resolution.account_ids,
            "skipped": [(item.account_id, item.code) for item in resolution.skipped],
            "baseline_current": resolution.baseline_current,
            "baseline_in_progress": resolution.baseline_in_progress,
            "remaining": resolution.remaining,
            "invalid": [(item.account_id, item.reason) for item in resolution.invalid],
        },
    )
