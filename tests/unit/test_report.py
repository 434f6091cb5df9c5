"""The run notification: what a person reads after each onboarding run, and after a failed one."""

import json

from orgbackup.accounts import RECONCILE_CARRIED_FAILURES, RECONCILE_MAX_CHUNKS
from orgbackup.report import build_report, failure_report, run_report
from orgbackup.text import SNS_SUBJECT_MAX_CHARS

STATE = {
    "execution": "run-7",
    "resolution": {
        "mode": "events",
        "to_onboard": [{"account_id": "333333333333", "name": "workload-a"}, {"account_id": "444444444444"}],
        "skipped": [
            {"account_id": "666666666666", "code": "out-of-scope", "reason": "OU Sandbox is not in scope"},
            {"account_id": "555555555555", "code": "baseline-current", "reason": "baseline already current"},
        ],
        "invalid": [
            {"code": "malformed", "reason": "accountId: '1234' is not a 12-digit account ID", "sources": ["m-1"]}
        ],
    },
    "baseline": {"onboarded": ["333333333333"], "failed": {"444444444444": ["eu-west-1: Resource handler failed"]}},
    "vault_policy": {"accounts": 3, "mode": "accounts", "written_regions": ["us-east-1"]},
    "backup_policies": {"policies": ["orgbackup-daily"], "attached": []},
}


def test_a_run_report_names_every_outcome_with_its_reason() -> None:
    report = run_report(STATE)
    message = report["message"]
    assert report["subject"] == "orgbackup: 1 onboarded, 1 failed, 2 skipped, 1 invalid"
    assert "333333333333 (workload-a)" in message
    assert "444444444444: eu-west-1: Resource handler failed" in message
    assert "666666666666: OU Sandbox is not in scope" in message
    assert "(no account) [m-1]: accountId: '1234' is not a 12-digit account ID" in message
    # Accounts already protected are counted, not listed one by one
    assert "555555555555" not in message
    assert "Baseline already current (no StackSet change): 1 account(s)." in message
    assert "written in us-east-1" in message
    assert '{"mode": "manual", "account_ids": ["444444444444"]}' in message
    assert report["failed"] == 1
    assert report["outcome"] == "partial"


def test_a_reconcile_report_counts_the_accounts_whose_baseline_is_in_progress() -> None:
    # Given a reconcile during a member-template update: 5,000 accounts in progress, counted by Resolve
    state = {"execution": "daily", "resolution": {"mode": "reconcile", "baseline_in_progress": 5000}, "chunk": 1}
    # When it is reported / Then the count and what happens to them are said, no account is listed, and they count
    # as skipped
    report = run_report(state)
    assert (
        "Baseline in progress (a StackSet operation is deploying it now; the run that started that operation "
        "finishes the onboarding): 5000 account(s)." in report["message"]
    )
    assert report["subject"] == "orgbackup: 0 onboarded, 5000 skipped"
    assert len(report["message"]) < 1024


def test_a_failure_report_says_which_step_which_accounts_and_why() -> None:
    cause = json.dumps({"errorType": "CentralAccountAccessError", "errorMessage": "cannot assume role X: AccessDenied"})
    state = {
        **STATE,
        "failure": {"step": "RefreshVaultPolicy", "error": {"Error": "CentralAccountAccessError", "Cause": cause}},
    }
    report = failure_report(state)
    assert report["subject"] == "orgbackup: onboarding FAILED at RefreshVaultPolicy: CentralAccountAccessError"
    assert "Why: cannot assume role X: AccessDenied" in report["message"]
    assert "Accounts in this run: 333333333333, 444444444444" in report["message"]
    assert report["outcome"] == "failed"
    assert build_report(state)["report"] == report


def test_a_failure_before_resolve_points_to_the_input_and_reconcile() -> None:
    report = failure_report(
        {
            "execution": "run-8",
            "failure": {"step": "Resolve", "error": {"Error": "InvalidInputError", "Cause": "input: must be a list"}},
        }
    )
    assert "not resolved yet" in report["message"]
    assert '{"mode": "reconcile"}' in report["message"]


def test_subjects_are_short_printable_ascii() -> None:
    state = {"failure": {"step": "Step" * 40, "error": {"Error": "Ünïcode\nError"}}}
    subject = failure_report(state)["subject"]
    assert len(subject) <= SNS_SUBJECT_MAX_CHARS
    assert all(32 <= ord(ch) < 127 for ch in subject)


def test_a_long_list_of_attachments_is_cut_and_counted() -> None:
    # Given a run that attached 2,000 times, 50 of them listed in the state (onboarding.ATTACHMENTS_LISTED)
    state = {
        "execution": "big",
        "resolution": {"mode": "events", "to_onboard": [], "skipped": [], "invalid": []},
        "baseline": {"onboarded": [], "failed": {}},
        "backup_policies": {
            "policies": ["orgbackup-daily"],
            "attached": [f"orgbackup-daily -> {i:012d}" for i in range(50)],
            "attached_count": 2000,
        },
    }
    # When the report is built
    message = build_report(state)["report"]["message"]
    # Then the 50 are named and the rest counted
    assert "orgbackup-daily -> 000000000049 ... and 1950 more." in message


def test_an_organization_form_kept_by_a_batch_says_who_may_copy_in_and_who_may_not() -> None:
    # A batch keeps the organization form without counting accounts: the report says what the form allows
    for mode, whole in (("org-paths", "the in-scope OUs"), ("org", "the organization")):
        state = {**STATE, "vault_policy": {"mode": mode, "written_regions": []}}
        message = run_report(state)["message"]
        assert (
            f"Central vault policy: every account of {whole} but the excluded and management accounts may copy in "
            f"({mode}); written in nowhere (unchanged)."
        ) in message


def _chunk_state(*, remaining: int, chunk: int = 1, earlier: int = 0, failed_now: int = 0) -> dict:
    """A reconcile chunk's state: ``earlier`` accounts failed in earlier chunks, ``failed_now`` in this one."""
    failed = {f"{500000000000 + index}": ["eu-west-1: no execution role"] for index in range(failed_now)}
    return {
        "execution": "daily",
        "chunk": chunk,
        "failed_earlier": [f"{400000000000 + index}" for index in range(earlier)],
        "resolution": {"mode": "reconcile", "remaining": remaining},
        "baseline": {"onboarded": [], "failed": failed},
    }


def test_a_reconcile_chunk_with_a_failed_account_goes_on_without_it() -> None:
    # Given a chunk where one account failed, an earlier chunk where another did, and accounts remaining
    report = run_report(_chunk_state(remaining=40, chunk=2, earlier=1, failed_now=1))
    # Then the next chunk follows (the Outcome Choice reads next_chunk), carrying both failed accounts
    assert report["next_chunk"] is True
    assert report["failed_accounts"] == ["400000000000", "500000000000"]
    assert report["failed"] == 2
    assert "40 more accounts follow in this run (chunk 3)." in report["message"]
    assert "left out of the next chunks" in report["message"]
    # And the input that re-runs them waits for the run's last notification
    assert '"mode": "manual"' not in report["message"]


def test_more_failed_accounts_than_a_run_carries_end_the_chunks() -> None:
    # Given as many failed accounts as a run carries: it goes on
    at_cap = run_report(_chunk_state(remaining=40, earlier=RECONCILE_CARRIED_FAILURES - 1, failed_now=1))
    assert at_cap["next_chunk"] is True
    # When one more has failed
    report = run_report(_chunk_state(remaining=40, earlier=RECONCILE_CARRIED_FAILURES, failed_now=1))
    # Then no chunk follows, and the message says why, and how to re-run them all
    assert report["next_chunk"] is False
    assert report["failed"] == RECONCILE_CARRIED_FAILURES + 1
    assert "40 more accounts are left to the next reconcile run (this was chunk 1)." in report["message"]
    assert f"more than the {RECONCILE_CARRIED_FAILURES} it goes on without" in report["message"]
    assert report["message"].count('"mode": "manual"') == 1


def test_no_chunk_follows_past_the_bound_or_without_remaining_accounts_or_outside_a_reconcile() -> None:
    assert run_report(_chunk_state(remaining=1, chunk=RECONCILE_MAX_CHUNKS))["next_chunk"] is False
    assert run_report(_chunk_state(remaining=0, chunk=1))["next_chunk"] is False
    assert run_report(STATE)["next_chunk"] is False
    assert failure_report({**_chunk_state(remaining=5), "failure": {"step": "Resolve"}})["next_chunk"] is False


def test_the_last_chunk_names_the_accounts_earlier_chunks_failed_once() -> None:
    # Given the last chunk of a reconcile, none failed in it, two in earlier chunks
    report = run_report(_chunk_state(remaining=0, chunk=3, earlier=2))
    # Then the run ends failed, naming them (each in the list, and in the input that re-runs them)
    assert report["next_chunk"] is False
    assert report["failed"] == 2
    assert report["outcome"] == "partial"
    assert report["subject"] == "orgbackup: 0 onboarded, 2 failed in earlier chunks"
    assert report["message"].count("400000000000") == 2
    assert '{"mode": "manual", "account_ids": ["400000000000", "400000000001"]}' in report["message"]


def test_a_failed_step_in_a_later_chunk_names_the_accounts_earlier_chunks_failed() -> None:
    state = {**_chunk_state(remaining=5, earlier=1), "failure": {"step": "Resolve", "error": {"Error": "X"}}}
    assert (
        "Failed in earlier chunks of this run (their notification says why): 400000000000"
        in (failure_report(state)["message"])
    )
