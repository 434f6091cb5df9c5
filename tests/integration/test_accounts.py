"""Resolve step against an emulated organization (moto): dedupe, look up, classify, and list for reconcile.

The organization is the documented sample set of events/README.md. moto draws organization, root, OU and account
IDs at random; ``SampleOrg`` pins them by patching moto's ID generators for each create call, so the samples in
events/ name accounts and OUs that exist here.
"""

import dataclasses
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.organizations import utils as moto_ids
from moto.organizations.models import organizations_backends

from orgbackup.accounts import (
    BASELINE_IN_PROGRESS,
    MANAGEMENT_ACCOUNT_WHY,
    AccountOutcome,
    AccountRef,
    Resolution,
    in_scope_active_account_ids,
    list_in_scope_active_accounts,
    reason_of,
    resolve,
    resolve_input,
)
from orgbackup.aws.organizations import Organizations
from orgbackup.exceptions import InvalidInputError, RetryableConflictError
from orgbackup.retry import Backoff
from orgbackup.settings import Settings
from orgbackup.workflow_input import AccountRequest, parse_workflow_input


def to_json(resolution: Resolution) -> str:
    """The compact JSON the resolution travels as in Step Functions state (what the Resolve handler returns)."""
    return json.dumps(resolution.to_dict(), separators=(",", ":"), ensure_ascii=False)


ORGANIZATION = "o-ab12cd34ef"
ROOT = "r-ab12"
MANAGEMENT = "111111111111"
CENTRAL = "222222222222"
WORKLOAD_A = "333333333333"
WORKLOAD_B = "444444444444"
WORKLOAD_C = "555555555555"
SANDBOX_ACCOUNT = "888888888888"
WORKLOADS = "ou-ab12-11111111"
SANDBOX = "ou-ab12-22222222"
PROD = "ou-ab12-33333333"
SECURITY = "ou-ab12-44444444"

LoadEvent = Callable[[str], Any]


class SampleOrg:
    """The documented sample organization in moto, built through the Organizations API."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("MOTO_ACCOUNT_ID", MANAGEMENT)  # moto's management account is the caller's account
        self.client = boto3.client("organizations", region_name="us-east-1")
        self._pin("make_random_org_id", ORGANIZATION)
        self._pin("make_random_root_id", ROOT)
        self.client.create_organization(FeatureSet="ALL")
        self.backend = organizations_backends[MANAGEMENT]["aws"]
        self.add_ou(WORKLOADS, "Workloads", ROOT)
        self.add_ou(SANDBOX, "Sandbox", ROOT)
        self.add_ou(PROD, "Prod", WORKLOADS)
        self.add_ou(SECURITY, "Security", ROOT)
        self.add_account(CENTRAL, "central-backup", SECURITY)
        self.add_account(WORKLOAD_A, "workload-a", WORKLOADS)
        self.add_account(WORKLOAD_B, "workload-b-prod", PROD)
        self.add_account(WORKLOAD_C, "workload-c", WORKLOADS)
        self.add_account(SANDBOX_ACCOUNT, "sandbox-1", SANDBOX)

    def _pin(self, generator: str, value: str) -> None:
        self.monkeypatch.setattr(moto_ids, generator, lambda *_: value)

    def add_ou(self, ou_id: str, name: str, parent_id: str) -> None:
        self._pin("make_random_ou_id", ou_id)
        self.client.create_organizational_unit(ParentId=parent_id, Name=name)

    def add_account(self, account_id: str, name: str, parent_id: str) -> None:
        self._pin("make_random_account_id", account_id)
        self.client.create_account(AccountName=name, Email=f"{name}@example.com")
        if parent_id != ROOT:
            self.client.move_account(AccountId=account_id, SourceParentId=ROOT, DestinationParentId=parent_id)

    def set_state(self, account_id: str, state: str) -> None:
        """States the API cannot produce in moto (its CloseAccount jumps straight to SUSPENDED)."""
        self.backend.get_account_by_id(account_id).state = state


class Calls:
    """Counts Organizations calls per operation and injects error responses before they reach moto."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        self._faults: dict[str, list[str]] = {}
        client.meta.events.register("before-call.organizations", self._before_call)

    def fail(self, operation: str, code: str, times: int = 1) -> None:
        self._faults.setdefault(operation, []).extend([code] * times)

    def _before_call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.counts[model.name] += 1
        pending = self._faults.get(model.name)
        if not pending:
            return None
        code = pending.pop(0)
        # Returning a response from before-call short-circuits the HTTP request: botocore raises it as AWS would.
        body = {"Error": {"Code": code, "Message": f"injected {code}"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("https://organizations.us-east-1.amazonaws.com/", 400, {}, None), body

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[SampleOrg]:
    with mock_aws():
        yield SampleOrg(monkeypatch)


@pytest.fixture
def calls(org: SampleOrg) -> Calls:
    return Calls(org.client)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        organization_id=ORGANIZATION,
        management_account_id=MANAGEMENT,
        central_backup_account_id=CENTRAL,
        backup_regions=("us-east-1", "eu-west-1"),
        member_vault_name="orgbackup-member",
        central_vault_name="orgbackup-central",
        backup_role_name="orgbackup-backup-role",
        member_stackset_name="orgbackup-member",
        central_vault_policy_role_name="orgbackup-central-vault-policy",
        in_scope_ou_ids=(WORKLOADS, SECURITY),
    )


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def backoff(slept: list[float]) -> Backoff:
    """Bounded like the real one, but sleeps are recorded instead of slept."""
    return Backoff(attempts=4, sleep=slept.append)


def manual(*account_ids: str) -> list[AccountRequest]:
    return list(parse_workflow_input({"mode": "manual", "account_ids": list(account_ids)}).requests)


def codes(outcomes: list[AccountOutcome]) -> dict[str | None, str]:
    return {item.account_id: item.code for item in outcomes}


# ---------------------------------------------------------------------------------------------------------------
# Events from events/


def test_pipe_batch_is_deduplicated_and_keeps_every_source(
    org: SampleOrg, settings: Settings, backoff: Backoff, load_event: LoadEvent
) -> None:
    # Given the sample Pipes batch: workload-a, workload-b (in a nested OU) and workload-a redelivered
    parsed = parse_workflow_input(load_event("workflow/pipe-batch.json"))

    # When the accounts are resolved
    resolution = resolve_input(org.client, settings, parsed, backoff=backoff)

    # Then both accounts are onboarded once, workload-a with both of its records
    assert resolution.to_onboard == [
        AccountRef(
            WORKLOAD_A,
            name="workload-a",
            sources=("5a1f0c2e-7b3d-4e8a-9c01-2f3e4d5a6b7c", "7c3b2e4a-9d5f-4a0c-9e23-4b5a6f7c8d9e"),
        ),
        AccountRef(WORKLOAD_B, name="workload-b-prod", sources=("6b2a1d3f-8c4e-4f9b-8d12-3a4f5e6b7c8d",)),
    ]
    assert (resolution.skipped, resolution.invalid) == ([], [])


@pytest.mark.parametrize(
    ("sample", "account_id"),
    [
        ("controltower/create-managed-account.json", WORKLOAD_A),
        ("controltower/update-managed-account.json", WORKLOAD_B),
    ],
)
def test_both_lifecycle_event_names_onboard_their_account(
    org: SampleOrg, settings: Settings, load_event: LoadEvent, sample: str, account_id: str
) -> None:
    # Given a raw lifecycle event sample / When it is resolved / Then its account is to be onboarded
    resolution = resolve_input(org.client, settings, parse_workflow_input(load_event(sample)))
    assert resolution.account_ids == [account_id]


def test_invalid_batch_is_reported_and_calls_nothing(
    org: SampleOrg, calls: Calls, settings: Settings, load_event: LoadEvent
) -> None:
    # Given the sample batch of bad records
    parsed = parse_workflow_input(load_event("workflow/invalid-batch.json"))

    # When it is resolved
    resolution = resolve_input(org.client, settings, parsed)

    # Then every record is invalid with its reason, nothing is to be onboarded, and Organizations was not called
    assert resolution.to_onboard == []
    assert [item.code for item in resolution.invalid] == [
        "malformed",
        "not-a-trigger",
        "not-a-trigger",
        "failed-state",
        "malformed",
        "malformed",
        "malformed",
    ]
    assert all(item.sources for item in resolution.invalid)
    assert calls.total == 0


def test_replayed_failed_events_are_merged_into_one_invalid_outcome(
    org: SampleOrg, settings: Settings, load_event: LoadEvent
) -> None:
    # Given the FAILED event delivered three times in one batch
    failed = json.dumps(load_event("controltower/create-managed-account-failed.json"))
    batch = [{"messageId": f"m{i}", "body": failed} for i in range(3)]

    # When it is resolved
    resolution = resolve_input(org.client, settings, parse_workflow_input(batch))

    # Then it is one invalid outcome for the account, naming all three records
    assert [(item.account_id, item.code, item.sources) for item in resolution.invalid] == [
        (WORKLOAD_C, "failed-state", ("m0", "m1", "m2"))
    ]


# ---------------------------------------------------------------------------------------------------------------
# Classification


def test_management_central_and_excluded_accounts_are_skipped_without_a_call(
    org: SampleOrg, calls: Calls, settings: Settings
) -> None:
    # Given the management account, the central backup account (in scope) and an excluded account requested by hand
    settings = dataclasses.replace(settings, excluded_account_ids=(WORKLOAD_C,))

    # When they are resolved
    resolution = resolve(org.client, settings, manual(MANAGEMENT, CENTRAL, WORKLOAD_C))

    # Then all three are skipped with their reasons, decided from configuration alone
    assert [(item.account_id, item.code, item.reason) for item in resolution.skipped] == [
        (
            MANAGEMENT,
            "management-account",
            "management account: never onboarded (the product runs there; AWS recommends keeping workloads out of it)",
        ),
        (
            CENTRAL,
            "central-account",
            "central backup account: it holds the central vault and has its own baseline (the central StackSet), "
            "never the member one",
        ),
        (WORKLOAD_C, "excluded", "excluded: listed in the excluded_account_ids setting"),
    ]
    assert calls.total == 0


def test_closed_account_is_skipped_as_suspended(org: SampleOrg, settings: Settings) -> None:
    # Given workload-a closed through the API (moto reports it SUSPENDED at once)
    org.client.close_account(AccountId=WORKLOAD_A)

    # When it is requested / Then it is skipped for its state
    resolution = resolve(org.client, settings, manual(WORKLOAD_A))
    assert [(item.code, item.reason) for item in resolution.skipped] == [
        ("not-active", "account state SUSPENDED: the account is suspended; nothing can be deployed into it")
    ]


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("PENDING_CLOSURE", "the account is being closed"),
        ("CLOSED", "the account is closed"),
        ("PENDING_ACTIVATION", "the account is not active yet; the daily reconcile run onboards it once it is ACTIVE"),
    ],
)
def test_accounts_not_active_are_skipped_with_their_state(
    org: SampleOrg, settings: Settings, state: str, why: str
) -> None:
    # Given workload-a in a state the newer State field reports
    org.set_state(WORKLOAD_A, state)

    # When it is requested / Then it is skipped, naming the state
    resolution = resolve(org.client, settings, manual(WORKLOAD_A))
    assert [item.reason for item in resolution.skipped] == [f"account state {state}: {why}"]


def test_older_status_field_is_used_when_state_is_absent(settings: Settings) -> None:
    # Given an Organizations answer without the newer State field (pinned with a Stubber: no moto, no network)
    client = boto3.client("organizations", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "describe_account",
            {"Account": {"Id": WORKLOAD_A, "Name": "workload-a", "Status": "SUSPENDED"}},
            {"AccountId": WORKLOAD_A},
        )
        # When the account is resolved with every OU in scope (so no parent lookup is needed)
        resolution = resolve(client, dataclasses.replace(settings, in_scope_ou_ids=()), manual(WORKLOAD_A))
        stub.assert_no_pending_responses()

    # Then the older Status decides
    assert codes(resolution.skipped) == {WORKLOAD_A: "not-active"}


def test_account_outside_the_in_scope_ous_is_skipped(org: SampleOrg, settings: Settings) -> None:
    # Given the sandbox account, in an OU that is not in scope
    resolution = resolve(org.client, settings, manual(SANDBOX_ACCOUNT))

    # Then it is skipped with its place in the organization and the in-scope OUs
    assert [(item.code, item.name, item.reason) for item in resolution.skipped] == [
        (
            "out-of-scope",
            "sandbox-1",
            f"out of scope: {ROOT} > {SANDBOX} is not under any OU in in_scope_ou_ids",
        )
    ]


def test_account_in_a_nested_ou_is_in_scope(org: SampleOrg, settings: Settings) -> None:
    # Given workload-b in Prod, which is nested under the in-scope Workloads OU
    resolution = resolve(org.client, settings, manual(WORKLOAD_B))

    # Then it is onboarded
    assert resolution.to_onboard == [AccountRef(WORKLOAD_B, name="workload-b-prod", sources=("account_ids[0]",))]


def test_empty_scope_means_the_whole_organization_and_no_parent_lookups(
    org: SampleOrg, calls: Calls, settings: Settings
) -> None:
    # Given no in-scope OUs configured
    settings = dataclasses.replace(settings, in_scope_ou_ids=())

    # When the sandbox account is requested by hand
    resolution = resolve(org.client, settings, manual(SANDBOX_ACCOUNT))

    # Then it is onboarded at the cost of one DescribeAccount: neither its path nor its parent is looked up (the
    # self-managed StackSet's instances are created for account IDs)
    assert resolution.to_onboard == [AccountRef(SANDBOX_ACCOUNT, name="sandbox-1", sources=("account_ids[0]",))]
    assert calls.counts == Counter({"DescribeAccount": 1})


def test_unknown_account_is_invalid(org: SampleOrg, settings: Settings) -> None:
    # Given an account ID the organization does not have / When it is requested / Then it is invalid
    resolution = resolve(org.client, settings, manual("999999999999"))
    assert [(item.account_id, item.code, item.reason) for item in resolution.invalid] == [
        (
            "999999999999",
            "unknown-account",
            f"unknown account: 999999999999 is not an account of organization {ORGANIZATION}",
        )
    ]


def test_event_naming_an_unknown_ou_is_invalid(org: SampleOrg, settings: Settings, load_event: LoadEvent) -> None:
    # Given the create event for workload-a, edited to name an OU the organization does not have
    event = load_event("controltower/create-managed-account.json")
    event["detail"]["serviceEventDetails"]["createManagedAccountStatus"]["organizationalUnit"] = {
        "organizationalUnitName": "Ghost",
        "organizationalUnitId": "ou-ab12-99999999",
    }

    # When it is resolved
    resolution = resolve_input(org.client, settings, parse_workflow_input(event))

    # Then nothing is onboarded and the reason says which OU and where the account really is
    assert resolution.to_onboard == []
    assert [(item.code, item.reason) for item in resolution.invalid] == [
        (
            "unknown-ou",
            "unknown OU: the event places the account in ou-ab12-99999999 (Ghost), which is not an OU of this "
            f"organization; Organizations has it at {ROOT} > {WORKLOADS}",
        )
    ]


def test_account_moved_since_the_event_is_judged_where_it_is_now(
    org: SampleOrg, settings: Settings, load_event: LoadEvent
) -> None:
    # Given the create event for workload-a (in Workloads), and workload-a moved to Sandbox since
    org.client.move_account(AccountId=WORKLOAD_A, SourceParentId=WORKLOADS, DestinationParentId=SANDBOX)

    # When the event is resolved
    resolution = resolve_input(
        org.client, settings, parse_workflow_input(load_event("controltower/create-managed-account.json"))
    )

    # Then Organizations' current placement decides: it is out of scope now
    assert codes(resolution.skipped) == {WORKLOAD_A: "out-of-scope"}


def test_account_with_a_current_baseline_is_skipped(org: SampleOrg, settings: Settings) -> None:
    # Given workload-a already has a current baseline / When both workloads are requested
    resolution = resolve(org.client, settings, manual(WORKLOAD_A, WORKLOAD_C), current_baseline_ids={WORKLOAD_A})

    # Then workload-a is skipped as current and workload-c is onboarded
    assert [(item.account_id, item.reason) for item in resolution.skipped] == [(WORKLOAD_A, "baseline already current")]
    assert resolution.account_ids == [WORKLOAD_C]


def test_account_whose_baseline_an_operation_is_deploying_is_skipped_as_in_progress(
    org: SampleOrg, settings: Settings
) -> None:
    # Given a StackSet operation deploying workload-a's baseline now / When both workloads are requested
    resolution = resolve(org.client, settings, manual(WORKLOAD_A, WORKLOAD_C), in_progress_baseline_ids={WORKLOAD_A})

    # Then workload-a is left to the run that started the operation, and workload-c is onboarded
    assert [(item.account_id, item.code, item.reason) for item in resolution.skipped] == [
        (WORKLOAD_A, "baseline-in-progress", BASELINE_IN_PROGRESS)
    ]
    assert resolution.account_ids == [WORKLOAD_C]
    # And the outcome survives the trip through the workflow state
    assert Resolution.from_dict(json.loads(to_json(resolution))) == resolution


def test_parent_chain_is_cached_within_one_run(org: SampleOrg, calls: Calls, settings: Settings) -> None:
    # Given both accounts of the Workloads OU requested together
    resolve(org.client, settings, manual(WORKLOAD_A, WORKLOAD_C))

    # Then the OU's own parent is looked up once: one ListParents per account, plus one for the OU
    assert calls.counts["ListParents"] == 3


def enrolled_in(ou_id: str, account_ids: list[str]) -> list[AccountRequest]:
    """Lifecycle requests naming ``ou_id``, as Control Tower's events for an OU enrolled at once do."""
    return [
        AccountRequest(account_id, f"event-{account_id}", "CreateManagedAccount", ou_id=ou_id, ou_name="Workloads")
        for account_id in account_ids
    ]


def test_an_ou_enrolled_at_once_is_listed_not_described_account_by_account(
    org: SampleOrg, calls: Calls, settings: Settings
) -> None:
    # Given 25 new accounts in Workloads, requested by events that name it
    new = [f"9000000000{index:02d}" for index in range(25)]
    for account_id in new:
        org.add_account(account_id, f"new-{account_id[-2:]}", WORKLOADS)
    calls.counts.clear()

    # When the batch is resolved
    resolution = resolve(org.client, settings, enrolled_in(WORKLOADS, new))

    # Then all 25 are onboarded under Workloads, as describing each would have found them
    assert resolution.account_ids == new
    assert [ref.name for ref in resolution.to_onboard] == [f"new-{account_id[-2:]}" for account_id in new]
    # And the OU was listed (27 accounts: 2 pages of 20) instead of 25 DescribeAccount and 25 ListParents calls:
    # only the OU's own parent was looked up
    assert calls.counts == Counter({"ListAccountsForParent": 2, "ListParents": 1})


def test_listing_an_ou_stops_at_its_budget_and_the_rest_are_described(
    org: SampleOrg, calls: Calls, settings: Settings
) -> None:
    # Given 20 requests naming Workloads, but 19 of the accounts have moved to Prod since, and Workloads holds
    # 60 other accounts: listing it whole would cost more than describing the 20 requested
    for index in range(60):
        org.add_account(f"9100000000{index:02d}", f"other-{index:02d}", WORKLOADS)
    moved = [f"9200000000{index:02d}" for index in range(19)]
    for account_id in moved:
        org.add_account(account_id, f"moved-{account_id[-2:]}", PROD)
    calls.counts.clear()

    # When the batch is resolved
    resolution = resolve(org.client, settings, enrolled_in(WORKLOADS, [WORKLOAD_A, *moved]))

    # Then every account is judged where it is now (Prod is nested in Workloads: all in scope)
    assert resolution.account_ids == [WORKLOAD_A, *moved]
    # And the listing stopped after 2 accounts per request (40 accounts: 2 pages), the moved ones described
    assert calls.counts["ListAccountsForParent"] == 2
    assert calls.counts["DescribeAccount"] == len(moved)


# ---------------------------------------------------------------------------------------------------------------
# Reconcile


def test_reconcile_lists_active_in_scope_accounts_only(org: SampleOrg, settings: Settings) -> None:
    # Given workload-c suspended and workload-b excluded
    org.client.close_account(AccountId=WORKLOAD_C)
    settings = dataclasses.replace(settings, excluded_account_ids=(WORKLOAD_B,))

    # When the organization is listed for reconcile
    refs = list_in_scope_active_accounts(org.client, settings)

    # Then only the active, in-scope, non-excluded members are there (never the management account, nor the
    # central backup account, though Security is in scope: it has its own baseline)
    assert [(ref.account_id, ref.name) for ref in refs] == [(WORKLOAD_A, "workload-a")]


def test_reconcile_follows_every_page(org: SampleOrg, calls: Calls, settings: Settings) -> None:
    # Given 25 more accounts in Workloads: more than one page of ListAccounts (at most 20 a page)
    numbers = itertools.count(100000000001)
    for index in range(25):
        org.add_account(str(next(numbers)), f"burst-{index:02d}", WORKLOADS)
    calls.counts.clear()  # count only the listing

    settings = dataclasses.replace(settings, in_scope_ou_ids=())

    # When the organization is listed with every OU in scope
    refs = list_in_scope_active_accounts(org.client, settings)

    # Then all 29 members but the central account are found over two pages, with no call per account
    assert len(refs) == 29
    assert calls.counts == Counter({"ListAccounts": 2})


def test_reconcile_looks_up_no_parent_for_accounts_already_current(
    org: SampleOrg, calls: Calls, settings: Settings
) -> None:
    # Given every member's baseline current, and every OU in scope
    settings = dataclasses.replace(settings, in_scope_ou_ids=())
    current = {WORKLOAD_A, WORKLOAD_B, WORKLOAD_C, SANDBOX_ACCOUNT}

    # When reconcile runs
    resolution = resolve_input(
        org.client, settings, parse_workflow_input({"mode": "reconcile"}), current_baseline_ids=current
    )

    # Then all are skipped as current (counted, not listed: a daily reconcile's state stays small), at the cost of
    # one listing
    assert (resolution.to_onboard, resolution.skipped, resolution.baseline_current) == ([], [], len(current))
    assert calls.counts == Counter({"ListAccounts": 1})


def test_reconcile_input_skips_accounts_with_a_current_baseline(
    org: SampleOrg, settings: Settings, load_event: LoadEvent
) -> None:
    # Given the reconcile sample, and workload-a already current
    parsed = parse_workflow_input(load_event("workflow/reconcile.json"))

    # When it is resolved
    resolution = resolve_input(org.client, settings, parsed, current_baseline_ids={WORKLOAD_A})

    # Then exactly the in-scope accounts missing a baseline are to be onboarded, with their names
    assert resolution.mode == "reconcile"
    assert {ref.account_id: ref.name for ref in resolution.to_onboard} == {
        WORKLOAD_B: "workload-b-prod",
        WORKLOAD_C: "workload-c",
    }
    assert codes(resolution.skipped) == {}
    assert resolution.baseline_current == 1  # counted, not listed


def test_reconcile_skips_accounts_whose_baseline_is_in_progress(
    org: SampleOrg, settings: Settings, load_event: LoadEvent
) -> None:
    # Given workload-b's baseline being deployed by a running operation, and workload-a's current
    parsed = parse_workflow_input(load_event("workflow/reconcile.json"))

    # When the reconcile input is resolved
    resolution = resolve_input(
        org.client, settings, parsed, current_baseline_ids={WORKLOAD_A}, in_progress_baseline_ids={WORKLOAD_B}
    )

    # Then only workload-c is to be onboarded; workload-b is not deployed a second time
    assert resolution.account_ids == [WORKLOAD_C]
    # And the two others are counted, not listed (a reconcile during a member-template update finds every account
    # in progress: listing them would not fit in the state)
    assert codes(resolution.skipped) == {}
    assert (resolution.baseline_current, resolution.baseline_in_progress) == (1, 1)
    assert Resolution.from_dict(json.loads(to_json(resolution))) == resolution


def test_reconcile_leaves_out_the_accounts_that_failed_in_an_earlier_chunk(
    org: SampleOrg, settings: Settings, load_event: LoadEvent
) -> None:
    # Given workload-b failed in an earlier chunk of this execution (NextChunk carries it)
    parsed = parse_workflow_input(load_event("workflow/reconcile.json"))

    # When the next chunk is resolved
    resolution = resolve_input(org.client, settings, parsed, failed_earlier={WORKLOAD_B})

    # Then it is neither onboarded again, nor counted among the accounts remaining, nor skipped: the report names it
    assert resolution.account_ids == [WORKLOAD_A, WORKLOAD_C]
    assert (resolution.skipped, resolution.remaining, resolution.baseline_current) == ([], 0, 0)


class ListedOrganization(Organizations):
    """An organization of many accounts as ListAccounts lists them: the only Organizations call a reconcile of the
    whole organization makes at Resolve (the test above counts it), here without creating each account in moto."""

    def __init__(self, accounts: list[Any]) -> None:
        super().__init__(boto3.client("organizations", region_name="us-east-1"))
        self.listed = accounts

    def accounts(self) -> Iterator[Any]:
        yield from self.listed


def test_a_reconcile_of_5000_accounts_all_in_progress_stays_far_inside_the_state_limit(settings: Settings) -> None:
    # Given 5,000 in-scope accounts, a member-template update deploying every one of them (PENDING or RUNNING)
    ids = [str(200000000000 + index) for index in range(5000)]
    view = ListedOrganization([{"Id": i, "Name": f"workload-{i}-production-eu", "State": "ACTIVE"} for i in ids])
    settings = dataclasses.replace(settings, in_scope_ou_ids=())

    # When the reconcile input is resolved
    resolution = resolve_input(
        view, settings, parse_workflow_input({"mode": "reconcile"}), in_progress_baseline_ids=set(ids)
    )

    # Then none is onboarded or listed: they are counted
    assert (resolution.to_onboard, resolution.skipped, resolution.baseline_in_progress) == ([], [], 5000)
    # And the resolution is a few hundred bytes, far inside Step Functions' 262,144-byte state
    # (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)
    assert len(to_json(resolution).encode()) < 1024


def test_listing_only_the_ids_looks_up_no_parent_when_the_whole_organization_is_in_scope(
    org: SampleOrg, calls: Calls, settings: Settings
) -> None:
    # Given every OU in scope, and workload-c closed
    org.client.close_account(AccountId=WORKLOAD_C)
    calls.counts.clear()
    settings = dataclasses.replace(settings, in_scope_ou_ids=())

    # When the IDs of the in-scope active accounts are listed (what the vault policy step needs)
    ids = in_scope_active_account_ids(org.client, settings)

    # Then they are the active members but the central account, at the cost of one listing
    assert ids == {WORKLOAD_A, WORKLOAD_B, SANDBOX_ACCOUNT}
    assert calls.counts == Counter({"ListAccounts": 1})
    # And they are the accounts the full listing (with names) finds
    assert ids == {ref.account_id for ref in list_in_scope_active_accounts(org.client, settings)}


def test_listing_only_the_ids_keeps_to_the_in_scope_ous(org: SampleOrg, settings: Settings) -> None:
    # Given Workloads (with Prod nested in it) and Security in scope / When the IDs are listed
    ids = in_scope_active_account_ids(org.client, settings)

    # Then the Sandbox account is not among them, nor the central account
    assert ids == {WORKLOAD_A, WORKLOAD_B, WORKLOAD_C}


def test_a_restricted_scope_is_walked_down_its_ous_without_looking_up_any_parent(
    org: SampleOrg, calls: Calls, settings: Settings
) -> None:
    # Given Workloads (with Prod nested in it) and Security in scope
    # When the in-scope accounts are listed
    listed = list_in_scope_active_accounts(org.client, settings)

    # Then nested OUs count, and the cost is per OU, not per account: one ListAccountsForParent and one
    # ListOrganizationalUnitsForParent for each of the three OUs
    assert sorted(ref.account_id for ref in listed) == [WORKLOAD_A, WORKLOAD_B, WORKLOAD_C]
    assert calls.counts["ListParents"] == 0
    assert calls.counts["ListAccounts"] == 0
    assert calls.counts["ListAccountsForParent"] == 3
    assert calls.counts["ListOrganizationalUnitsForParent"] == 3


# ---------------------------------------------------------------------------------------------------------------
# Retries


def test_throttling_and_conflicts_are_retried_and_the_result_is_unchanged(
    org: SampleOrg, calls: Calls, settings: Settings, load_event: LoadEvent
) -> None:
    # Given Organizations throttling and reporting conflicts on every kind of call the resolver makes
    slept: list[float] = []
    backoff = Backoff(attempts=4, sleep=slept.append)
    calls.fail("DescribeAccount", "TooManyRequestsException", times=2)
    calls.fail("ListParents", "ConcurrentModificationException")
    calls.fail("DescribeOrganizationalUnit", "ThrottlingException")
    # (a restricted scope is listed by walking down the in-scope OUs)
    calls.fail("ListAccountsForParent", "TooManyRequestsException")
    calls.fail("ListOrganizationalUnitsForParent", "ThrottlingException")
    event = load_event("controltower/create-managed-account.json")
    event["detail"]["serviceEventDetails"]["createManagedAccountStatus"]["organizationalUnit"][
        "organizationalUnitId"
    ] = "ou-ab12-99999999"

    # When an event batch and a reconcile run are resolved
    resolved = resolve_input(
        org.client, settings, parse_workflow_input(load_event("workflow/pipe-batch.json")), backoff=backoff
    )
    unknown_ou = resolve_input(org.client, settings, parse_workflow_input(event), backoff=backoff)
    listed = list_in_scope_active_accounts(org.client, settings, backoff=backoff)

    # Then each fault cost one backoff sleep and the results are what they are without faults
    assert len(slept) == 6
    assert resolved.account_ids == [WORKLOAD_A, WORKLOAD_B]
    assert codes(unknown_ou.invalid) == {WORKLOAD_A: "unknown-ou"}
    assert sorted(ref.account_id for ref in listed) == [WORKLOAD_A, WORKLOAD_B, WORKLOAD_C]


def test_conflict_that_outlasts_the_retries_becomes_retryable_conflict_error(
    org: SampleOrg, calls: Calls, settings: Settings, backoff: Backoff, slept: list[float]
) -> None:
    # Given DescribeAccount conflicting more often than the backoff allows
    calls.fail("DescribeAccount", "ConcurrentModificationException", times=10)

    # When an account is resolved / Then the state machine gets an error it can retry later
    with pytest.raises(RetryableConflictError, match="ConcurrentModificationException after 4 attempts"):
        resolve(org.client, settings, manual(WORKLOAD_A), backoff=backoff)
    assert (calls.counts["DescribeAccount"], len(slept)) == (4, 3)


def test_other_errors_are_not_retried(org: SampleOrg, calls: Calls, settings: Settings, backoff: Backoff) -> None:
    # Given Organizations denying access / When an account is resolved / Then the error surfaces at once
    calls.fail("DescribeAccount", "AccessDeniedException")
    with pytest.raises(ClientError, match="AccessDeniedException"):
        resolve(org.client, settings, manual(WORKLOAD_A), backoff=backoff)
    assert calls.counts["DescribeAccount"] == 1


# ---------------------------------------------------------------------------------------------------------------
# The Resolution's JSON form (it travels in Step Functions state)


def test_resolution_round_trips_through_json(org: SampleOrg, settings: Settings, load_event: LoadEvent) -> None:
    # Given a resolution with accounts in every list
    requests = [*manual(WORKLOAD_A, MANAGEMENT, "999999999999")]
    parsed = parse_workflow_input(load_event("workflow/invalid-batch.json"))
    resolution = resolve(org.client, settings, requests, invalid_records=parsed.invalid, mode="manual", reason="why")

    # When it goes through JSON and back
    data = json.loads(to_json(resolution))
    again = Resolution.from_dict(data)

    # Then nothing is lost, and counts are there for Choice states
    assert again == resolution
    assert data["counts"] == {"to_onboard": 1, "skipped": 1, "invalid": 8}
    assert data["to_onboard"] == [{"account_id": WORKLOAD_A, "name": "workload-a", "sources": ["account_ids[0]"]}]
    # (a skip whose reason is always the same text carries its code only; reason_of gives the text back)
    assert data["skipped"][0].keys() == {"account_id", "code", "sources"}
    assert reason_of(data["skipped"][0]) == resolution.skipped[0].reason == MANAGEMENT_ACCOUNT_WHY
    assert "account_id" not in data["invalid"][0]  # a non-JSON body names no account


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "resolution: must be an object, got array []"),
        ({"mode": "later"}, "resolution.mode: 'later' is not one of events, manual, reconcile"),
        ({"mode": "events", "to_onboard": {}}, "resolution.to_onboard: must be a list, got object {}"),
        ({"mode": "events", "to_onboard": [{"name": "x"}]}, "resolution.to_onboard[0].account_id: missing (required)"),
        (
            {"mode": "events", "skipped": [{"account_id": WORKLOAD_A, "code": "nope", "reason": "r"}]},
            "resolution.skipped[0].code: 'nope' is not an outcome code",
        ),
        ({"mode": "events", "invalid": [{"code": "malformed"}]}, "resolution.invalid[0].reason: missing (required)"),
        (
            {"mode": "events", "to_onboard": [{"account_id": WORKLOAD_A, "sources": "m1"}]},
            "resolution.to_onboard[0].sources: must be a list of strings, got string 'm1'",
        ),
    ],
)
def test_malformed_resolution_is_rejected_precisely(data: Any, message: str) -> None:
    # Given a malformed resolution from state / When it is read / Then the error names the field
    with pytest.raises(InvalidInputError) as raised:
        Resolution.from_dict(data)
    assert str(raised.value) == message


def _account(index: int) -> tuple[str, str, tuple[str, ...]]:
    """Realistic sizes: a long account name and a Pipes messageId (a UUID) as the source."""
    return (f"{100000000000 + index}", f"workload-{index:04d}-production-eu", (str(uuid.UUID(int=index)),))


def test_resolution_of_500_accounts_serializes_under_100_kib() -> None:
    # Given 500 accounts to onboard from a burst of events
    onboard = Resolution(
        mode="events",
        to_onboard=[AccountRef(i, name=n, sources=s) for i, n, s in map(_account, range(500))],
    )
    # And a reconcile run that found 500 accounts already current
    current = Resolution(
        mode="reconcile",
        skipped=[
            AccountOutcome(i, "baseline-current", "baseline already current", name=n)
            for i, n, _ in map(_account, range(500))
        ],
    )

    # When each is serialized / Then it stays well inside Step Functions' 256 KiB payload limit
    for resolution in (onboard, current):
        size = len(to_json(resolution).encode())
        assert size < 100 * 1024, size


def test_a_batch_of_1000_accounts_all_in_progress_fits_in_the_workflow_state() -> None:
    # Given an events batch of 1,000 accounts, each with a 50-character name and its record's message ID, all skipped
    # because another run's StackSet operation is deploying their baseline
    skipped = [
        AccountOutcome(
            f"{100000000000 + n}",
            "baseline-in-progress",
            BASELINE_IN_PROGRESS,
            name="n" * 50,
            sources=(f"a1b2c3d4-0000-4000-8000-{n:012d}",),
        )
        for n in range(1000)
    ]
    data = Resolution(mode="events", skipped=skipped).to_dict()
    # Then the state carries each reason as its code, far under Step Functions' 262,144 bytes, and reads back whole
    assert len(json.dumps(data)) < 200_000
    assert Resolution.from_dict(json.loads(json.dumps(data))).skipped == skipped
