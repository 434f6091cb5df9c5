"""Every failure path of the onboarding definition, executed: each step that can fail a run records itself
(its generated FailedAt* state) and the failure notification names it; a report that fails itself still sends the
raw state; a notification that cannot be sent still ends the run as failed. The paths the other workflow tests
take (Resolve, WaitForBaseline, RefreshVaultPolicy) are taken here too, so this one test shows them all."""

import json

from workflow_helpers import Notifications, execution_end, read_event, run_state, states_entered

from orgbackup_tools import onboarding_definition

EVENT = "controltower/create-managed-account.json"
# For each Lambda step, one call only that step makes, refused as AWS refuses a call the role may not make.
REFUSED_CALL = {
    "Resolve": ("organizations", "DescribeAccount", "AccessDeniedException"),
    "StartBaseline": ("cloudformation", "CreateStackInstances", "AccessDenied"),
    "InspectBaseline": ("cloudformation", "ListStackSetOperationResults", "AccessDenied"),
    "RefreshVaultPolicy": ("sts", "AssumeRole", "AccessDenied"),
    "ReattachBackupPolicies": ("organizations", "ListTargetsForPolicy", "AccessDeniedException"),
}


def _failed_run(world, inbox, step: str) -> list[str]:
    history = world.execute(read_event("workflow/pipe-batch.json")[:1])
    end = execution_end(history)
    assert end["type"] == "ExecutionFailed", step
    assert end["executionFailedEventDetails"]["error"] == "OnboardingFailed", step
    entered = states_entered(history)
    assert f"{onboarding_definition.FAILED_AT}{step}" in entered, entered
    assert run_state(history)["failure"]["step"] == step
    (note,) = inbox.new()
    assert note["subject"].startswith(f"orgbackup: onboarding FAILED at {step}: "), note["subject"]
    assert f"FAILED at step {step}." in note["message"]
    return entered


def test_every_step_that_fails_is_recorded_and_notified_and_a_failing_report_or_notification_still_ends_it(
    world, aws_calls
) -> None:
    inbox = Notifications(world)
    entered: set[str] = set()

    # When each Lambda step in turn has one of its calls refused (the earlier steps succeed each time)
    for step, (service, operation, code) in REFUSED_CALL.items():
        refused = aws_calls.fail(service, operation, code, message=f"not authorized to perform {operation}")
        entered |= set(_failed_run(world, inbox, step))
        # (each refused call was the cause)
        assert refused.answered >= 1, step
        refused.remove()

    # When the report itself fails: the failure report fails too, and the raw state is sent instead
    def report_fails(event, context):
        raise RuntimeError("the report cannot be written")

    report = world.handlers["ReportOnboardingFunction"]
    world.handlers["ReportOnboardingFunction"] = report_fails
    history = world.execute(read_event("workflow/pipe-batch.json")[:1])
    assert execution_end(history)["executionFailedEventDetails"]["error"] == "OnboardingFailed"
    run = states_entered(history)
    assert run[-4:] == ["FailedAtReport", "ReportFailure", "NotifyRawFailure", "Failed"]
    entered |= set(run)
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: onboarding FAILED (raw state attached)"
    assert json.loads(note["message"])["failure"]["step"] == "Report"
    world.handlers["ReportOnboardingFunction"] = report

    # When the notification cannot be published (the topic is gone): the run still ends failed, not succeeded
    world.client("sns").delete_topic(TopicArn=world.resources["NotificationTopic"]["Ref"])
    history = world.execute(read_event("workflow/pipe-batch.json")[:1])
    assert execution_end(history)["executionFailedEventDetails"]["error"] == "OnboardingFailed"
    run = states_entered(history)
    assert run[-4:] == ["FailedAtNotify", "ReportFailure", "NotifyFailure", "Failed"]
    assert run_state(history)["failure"] == {
        "step": "Notify",
        "error": {"Error": "SNS.NotFoundException", "Cause": run_state(history)["failure"]["error"]["Cause"]},
    }
    # (the failure notification failed the same way, and its Catch kept why)
    exited = [e["stateExitedEventDetails"] for e in history if e["type"] == "TaskStateExited"]
    last = json.loads(next(d for d in reversed(exited) if d["name"] == "NotifyFailure")["output"])
    assert last["notify_error"]["Error"] == "SNS.NotFoundException"
    entered |= set(run)

    # Then every FailedAt* state of the onboarding steps has run here, the poll bound's aside (test_scale_faults)
    definition = onboarding_definition.definition()["States"]
    recorders = {name for name in definition if name.startswith(onboarding_definition.FAILED_AT)}
    assert recorders - entered == {"FailedAtWaitForBaseline", *OFFBOARDING_RECORDERS}


# The Offboard branch's: each step refused one call only it makes (its poll bound, FailedAtWaitForOffboarding, is
# run to its end in test_organization_changes).
OFFBOARDING_REFUSED_CALL = {
    "Offboard": ("cloudformation", "DeleteStackInstances", "AccessDenied"),
    "InspectOffboarding": ("cloudformation", "ListStackSetOperationResults", "AccessDenied"),
}
OFFBOARDING_RECORDERS = {"FailedAtOffboard", "FailedAtWaitForOffboarding", "FailedAtInspectOffboarding"}


def test_a_failing_offboarding_step_is_recorded_and_notified(world, aws_calls) -> None:
    # Given 333333333333 protected, then moved out of the in-scope OU
    assert execution_end(world.execute({"mode": "manual", "account_ids": ["333333333333"]}))["type"] == (
        "ExecutionSucceeded"
    )
    move_out = read_event("organizations/move-account-out-of-scope.json")
    world.apply_organization_change(move_out)
    inbox = Notifications(world)
    entered: set[str] = set()

    # When Organizations' event arrives while each offboarding step in turn has one of its calls refused
    for step, (service, operation, code) in OFFBOARDING_REFUSED_CALL.items():
        refused = aws_calls.fail(service, operation, code, message=f"not authorized to perform {operation}")
        (history,) = world.process_events([move_out])

        # Then the run fails at that step, records it, and the notification names it
        end = execution_end(history)
        assert end["executionFailedEventDetails"]["error"] == "OnboardingFailed", step
        assert run_state(history)["failure"]["step"] == step
        (note,) = inbox.new()
        assert note["subject"].startswith(f"orgbackup: onboarding FAILED at {step}: "), note["subject"]
        assert refused.answered >= 1, step
        refused.remove()
        entered |= set(states_entered(history))

    assert OFFBOARDING_RECORDERS - entered == {"FailedAtWaitForOffboarding"}
