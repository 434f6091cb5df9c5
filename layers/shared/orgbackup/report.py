"""The one message a person reads after each onboarding run: what was onboarded, skipped, invalid or failed and
why, and on a failed run which step failed, for which accounts, and what to do next. It reads the workflow state
through its model (``orgbackup.workflow_state``), and writes the state's ``report``."""

import json
from typing import Final

from orgbackup.accounts import RECONCILE_CARRIED_FAILURES, RECONCILE_MAX_CHUNKS, reason_of
from orgbackup.text import SNS_SUBJECT_MAX_CHARS, one_line
from orgbackup.workflow_state import (
    AccountEntry,
    BaselineState,
    ErrorOutput,
    OffboardingState,
    Report,
    ResolutionState,
    WorkflowState,
)

NOT_RESOLVED: Final = "not resolved yet (see the execution input)"
LIST_LIMIT: Final = 200  # accounts listed per section; the rest are counted
# What a state read before the step that writes it holds (a run that failed early).
NOT_RESOLVED_STATE: Final[ResolutionState] = {"mode": "?"}
NO_BASELINE: Final[BaselineState] = {"onboarded": [], "failed": {}}
NO_OFFBOARDING: Final[OffboardingState] = {
    "departures": [],
    "regions_dropped": {},
    "operations": [],
    "retain_stacks": True,
    "wait": False,
}


def _subject(text: str) -> str:
    ascii_only = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return ascii_only[: SNS_SUBJECT_MAX_CHARS - 3] + "..." if len(ascii_only) > SNS_SUBJECT_MAX_CHARS else ascii_only


def _label(item: AccountEntry) -> str:
    account = one_line(item.get("account_id") or "(no account)")
    name = item.get("name")
    # Account names come from Organizations (any character): one clean line, so none can forge a report line.
    return f"{account} ({one_line(name)})" if name else account


def _section(title: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    shown = lines[:LIST_LIMIT]
    more = [f"  ... and {len(lines) - LIST_LIMIT} more"] if len(lines) > LIST_LIMIT else []
    return [f"{title} ({len(lines)}):", *(f"  - {one_line(line)}" for line in shown), *more, ""]


def _error_text(error: ErrorOutput) -> tuple[str, str]:
    """Error name and a readable cause: Lambda failures carry a JSON Cause with errorMessage."""
    name = str(error.get("Error", "Unknown"))
    cause = str(error.get("Cause", ""))
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return name, cause
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return name, str(parsed["errorMessage"])
    return name, cause


def run_report(state: WorkflowState) -> Report:
    resolution = state.get("resolution", NOT_RESOLVED_STATE)
    results = state.get("baseline", NO_BASELINE)
    execution = state.get("execution", "(unknown execution)")
    to_onboard = {item["account_id"]: item for item in resolution.get("to_onboard", [])}
    onboarded = results.get("onboarded", [])
    failed = results.get("failed", {})
    offboarding = state.get("offboarding", NO_OFFBOARDING)
    # An account this run offboarded (or failed to) is reported there (what was removed, what was kept), not as skipped
    # (one that stays, and only lost a Region no longer backed up, keeps its own line).
    departed = {item["account_id"] for item in offboarding.get("departures", [])}
    offboarded_ids = {*offboarding.get("offboarded", {}), *(departed & set(offboarding.get("failed", {})))}
    skipped = [item for item in resolution.get("skipped", []) if item.get("account_id") not in offboarded_ids]
    invalid = resolution.get("invalid", [])

    lines = [one_line(f"orgbackup onboarding run {execution} (mode: {resolution.get('mode', '?')})"), ""]
    lines += _section("Onboarded", [f"{_label(to_onboard.get(a, {'account_id': a}))}" for a in onboarded])
    lines += _section(
        "Failed", [f"{_label(to_onboard.get(a, {'account_id': a}))}: {'; '.join(why)}" for a, why in failed.items()]
    )
    # Accounts whose baseline is already current are counted, not listed: a daily reconcile of a large organization
    # stays short. The line says only what is known here: the run still converges their vault policy and backup
    # policies (the re-run after a failed run finishes exactly that), and the lines below say what it wrote.
    current = [item for item in skipped if item.get("code") == "baseline-current"]
    # A reconcile counts them only (accounts.resolve_input): its state stays small in a large organization.
    current_count = len(current) + int(resolution.get("baseline_current") or 0)
    lines += _section("Skipped", [f"{_label(item)}: {reason_of(item)}" for item in skipped if item not in current])
    if current_count:
        lines += [f"Baseline already current (no StackSet change): {current_count} account(s).", ""]
    # A reconcile counts the accounts an operation is deploying now (during a member-template update, all of them).
    in_progress_count = int(resolution.get("baseline_in_progress") or 0)
    if in_progress_count:
        lines += [
            "Baseline in progress (a StackSet operation is deploying it now; the run that started that operation "
            f"finishes the onboarding): {in_progress_count} account(s).",
            "",
        ]
    # The accounts that failed in this execution: the earlier chunks' (Resolve left them out of this one) and this
    # chunk's. Each chunk's notification says why its own failed; the last one names them all.
    earlier = sorted(set(state.get("failed_earlier", [])).difference(failed))
    failed_so_far = sorted({*earlier, *failed})
    remaining = int(resolution.get("remaining") or 0)
    chunk = int(state.get("chunk") or 1)
    next_chunk, stop_reason = _next_chunk(resolution, remaining, chunk, len(failed_so_far), offboarding_failures(state))
    lines += _chunk_lines(next_chunk, stop_reason, remaining, chunk, bool(failed), earlier)
    lines += _section(
        "Invalid",
        [f"{_label(item)} [{', '.join(item.get('sources', []))}]: {reason_of(item)}" for item in invalid],
    )
    offboarded = offboarding.get("offboarded", {})
    lines += _offboarding_lines(offboarding)
    if "vault_policy" in state:
        policy = state["vault_policy"]
        written = ", ".join(policy.get("written_regions", [])) or "nowhere (unchanged)"
        # The organization form, kept as it was by a batch, counts no account (onboarding.refresh_vault_policy);
        # it denies the copy to the excluded accounts and the management account (vault_policy).
        whole = "the organization" if policy.get("mode") == "org" else "the in-scope OUs"
        who = (
            f"{policy['accounts']} accounts"
            if "accounts" in policy
            else f"every account of {whole} but the excluded and management accounts"
        )
        lines.append(f"Central vault policy: {who} may copy in ({policy.get('mode')}); written in {written}.")
    if "backup_policies" in state:
        policies = state["backup_policies"]
        lines.append(f"Backup policies in force: {', '.join(policies.get('policies', [])) or 'none'}.")
        if policies.get("attached"):
            more = int(policies.get("attached_count") or 0) - len(policies["attached"])
            tail = f" ... and {more} more" if more > 0 else ""
            lines.append(one_line(f"Newly attached: {', '.join(policies['attached'])}{tail}."))
    if failed_so_far and not next_chunk:
        lines += [
            "",
            "Failed accounts are retried by the daily reconcile run, or now with the state machine input",
            json.dumps({"mode": "manual", "account_ids": failed_so_far}),
        ]

    not_offboarded = offboarding.get("failed", {})
    skipped_uncounted = current_count - len(current) + in_progress_count
    counts = [
        f"{len(onboarded)} onboarded",
        *([f"{len(offboarded)} offboarded"] if offboarded else []),
        *([f"{len(failed)} failed"] if failed else []),
        *([f"{len(earlier)} failed in earlier chunks"] if earlier and not next_chunk else []),
        *([f"{len(not_offboarded)} offboarding failed"] if not_offboarded else []),
        *([f"{len(skipped) + skipped_uncounted} skipped"] if skipped or skipped_uncounted else []),
        *([f"{len(invalid)} invalid"] if invalid else []),
    ]
    return {
        "subject": _subject(f"orgbackup: {', '.join(counts)}"),
        "message": "\n".join(lines).strip() + "\n",
        "next_chunk": next_chunk,
        "failed": len(failed_so_far),
        "failed_accounts": failed_so_far,
        # Accounts that left the scope, or Regions no longer backed up, still holding instances (the state machine
        # ends AccountsNotOffboarded).
        "offboarding_failed": len(not_offboarded),
        "outcome": "partial" if failed_so_far or not_offboarded else "succeeded",
    }


def _chunk_lines(
    next_chunk: bool, stop_reason: str, remaining: int, chunk: int, failed: bool, earlier: list[str]
) -> list[str]:
    """What follows this chunk; on a reconcile's last notification, the accounts earlier chunks failed."""
    if next_chunk:
        lines = [f"{remaining} more accounts follow in this run (chunk {chunk + 1}).", ""]
        if failed:
            lines += [
                "The accounts that failed are left out of the next chunks; the run's last notification names them "
                "all again.",
                "",
            ]
        return lines
    lines = _section("Failed in earlier chunks of this run (their chunk's notification says why)", earlier)
    if remaining:
        lines += [f"{remaining} more accounts are left to the next reconcile run (this was chunk {chunk}).", ""]
        lines += [stop_reason, ""]
    return lines


def _next_chunk(
    resolution: ResolutionState, remaining: int, chunk: int, failed: int, offboarding_failed: int
) -> tuple[bool, str]:
    """Whether the state machine runs another reconcile chunk (its Outcome Choice reads ``report.next_chunk`` and
    nothing else; the message says the same), and if not while accounts remain, why. The accounts that failed go
    on to the next chunk as ``failed_earlier`` and are left out of it, so one account that always fails does not
    stop a backfill; past ``RECONCILE_CARRIED_FAILURES`` of them the run ends."""
    if resolution.get("mode") != "reconcile" or not remaining:
        return False, ""
    if chunk >= RECONCILE_MAX_CHUNKS:
        return False, f"One execution runs at most {RECONCILE_MAX_CHUNKS} chunks."
    if offboarding_failed:
        return False, "Offboarding failed in this chunk (every chunk would try it again): this run ends here."
    if failed > RECONCILE_CARRIED_FAILURES:
        return False, (
            f"{failed} accounts failed in this run, more than the {RECONCILE_CARRIED_FAILURES} it goes on without: "
            "something fails for every account; this run ends here. Fix the cause named above first."
        )
    return True, ""


def offboarding_failures(state: WorkflowState) -> int:
    return len(state.get("offboarding", NO_OFFBOARDING).get("failed", {}))


def _offboarding_lines(offboarding: OffboardingState) -> list[str]:
    """Issue 12: each offboarded account with what was removed and what was kept; failed removals; Regions dropped."""
    lines = _section(
        "Offboarded (left the scope)",
        [
            f"{_label({'account_id': account, 'name': item.get('name') or ''})}: {item.get('why', '')}. "
            f"Removed: {'; '.join(item.get('removed', []))}. Kept: {item.get('kept', '')}."
            for account, item in offboarding.get("offboarded", {}).items()
        ],
    )
    lines += _section(
        "Offboarding failed",
        [f"{account}: {'; '.join(why)}" for account, why in offboarding.get("failed", {}).items()],
    )
    lines += _section(
        "Stack instances removed from Regions no longer backed up (stacks retained)"
        if offboarding.get("retain_stacks", True)
        else "Stack instances deleted from Regions no longer backed up",
        [f"{account}: {', '.join(regions)}" for account, regions in offboarding.get("regions_dropped", {}).items()],
    )
    return lines


def failure_report(state: WorkflowState) -> Report:
    failure = state.get("failure", {})
    step = str(failure.get("step", "an unknown step"))
    name, cause = _error_text(failure.get("error", {}))
    resolution = state.get("resolution")
    accounts = [item["account_id"] for item in resolution.get("to_onboard", [])] if resolution else []
    leaving = [item["account_id"] for item in state.get("offboarding", {}).get("departures", [])]
    lines = [
        one_line(f"orgbackup onboarding run {state.get('execution', '(unknown execution)')} FAILED at step {step}."),
        "",
        one_line(f"Error: {name}"),
        one_line(f"Why: {cause}"),
        one_line(f"Accounts in this run: {', '.join(accounts) or 'none to onboard' if resolution else NOT_RESOLVED}"),
    ]
    if leaving:
        lines.append(one_line(f"Accounts leaving the scope in this run: {', '.join(leaving)}"))
    onboarded = state.get("baseline", NO_BASELINE).get("onboarded", [])
    if onboarded:
        lines.append(one_line(f"Baseline already in place for: {', '.join(onboarded)}"))
    earlier = state.get("failed_earlier", [])
    if earlier:
        lines.append(
            one_line(f"Failed in earlier chunks of this run (their notification says why): {', '.join(earlier)}")
        )
    lines += [
        "",
        "Nothing is left half-done that a re-run will not finish: every step converges from the organization's "
        "state. Fix the cause, then start the state machine with",
        json.dumps({"mode": "manual", "account_ids": accounts}) if accounts else '{"mode": "reconcile"}',
        "or wait for the daily reconcile run.",
    ]
    return {
        "subject": _subject(f"orgbackup: onboarding FAILED at {step}: {name}"),
        "message": "\n".join(lines) + "\n",
        "next_chunk": False,
        "failed": len(accounts),
        "outcome": "failed",
    }


def build_report(state: WorkflowState) -> WorkflowState:
    """The Report step: the state with ``report`` added (a failure report when ``failure`` is set)."""
    report = failure_report(state) if "failure" in state else run_report(state)
    return {**state, "report": report}
