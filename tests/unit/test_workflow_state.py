"""The workflow state's model (orgbackup.workflow_state) validates what the steps pass: the sample payloads of
every step pass; each kind of malformed key is refused naming the key, the value and the rule."""

import pytest
from sample_events import read_event

from orgbackup.exceptions import InvalidInputError
from orgbackup.workflow_state import WorkflowState, check_state, fields

STEP_SAMPLES = (
    "functions/start-baseline.json",
    "functions/inspect-baseline.json",
    "functions/refresh-vault-policy.json",
    "functions/reattach-backup-policies.json",
    "functions/report-onboarding.json",
    "functions/report-onboarding-failure.json",
    "functions/offboard-accounts.json",
    "functions/inspect-offboarding.json",
)


@pytest.mark.parametrize("sample", STEP_SAMPLES)
def test_each_steps_sample_payload_is_a_valid_state(sample) -> None:
    state = read_event(sample)
    assert check_state(state) is state


def test_every_key_a_sample_carries_is_in_the_model() -> None:
    # The samples are what the steps really pass: none of their keys is outside the one definition
    keys = {key for sample in STEP_SAMPLES for key in read_event(sample)}
    assert keys <= set(fields(WorkflowState))


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([], "workflow state: must be a JSON object (the state the previous step returned), got array []"),
        ({"execution": ""}, "workflow state: execution: must be an execution name (1-80 characters), got string ''"),
        ({"execution": 7}, "workflow state: execution: must be a string, got number 7"),
        ({"plan": {"converge": "yes"}}, "workflow state: plan.converge: must be true or false, got string 'yes'"),
        ({"plan": []}, "workflow state: plan: must be an object, got array []"),
        ({"operations": "op-1"}, "workflow state: operations: must be a list of strings, got string 'op-1'"),
        (
            {"baseline": {"onboarded": ["1234"]}},
            "workflow state: baseline.onboarded[0]: string '1234' is not a 12-digit account ID",
        ),
        (
            {"baseline": {"onboarded": [1]}},
            "workflow state: baseline.onboarded: must be a list of strings, got array [1]",
        ),
        (
            {"baseline": {"failed": {"333333333333": "eu-west-1"}}},
            "workflow state: baseline.failed.333333333333: must be a list of strings, got string 'eu-west-1'",
        ),
        (
            {"backup_policies": {"attached_count": -1}},
            "workflow state: backup_policies.attached_count: must be a count, got number -1",
        ),
        (
            {"backup_policies": {"attached_count": True}},
            "workflow state: backup_policies.attached_count: must be an integer, got boolean true",
        ),
        ({"failure": {"step": ["Resolve"]}}, 'workflow state: failure.step: must be a string, got array ["Resolve"]'),
        ({"failure": {"error": {"Error": 3}}}, "workflow state: failure.error.Error: must be a string, got number 3"),
        ({"report": {"failed": 1.5}}, "workflow state: report.failed: must be an integer, got number 1.5"),
        ({"resolution": {"mode": "later"}}, "resolution.mode: 'later' is not one of events, manual, reconcile"),
        (
            {"offboarding": {"operations": "op-1"}},
            "workflow state: offboarding.operations: must be a list of strings, got string 'op-1'",
        ),
        ({"offboarding": []}, "workflow state: offboarding: must be an object, got array []"),
        (
            {"plan": {"converge": True, "reevaluated": "333333333333"}},
            "workflow state: plan.reevaluated: must be a list of strings, got string '333333333333'",
        ),
    ],
)
def test_a_malformed_key_is_refused_by_name(state, message) -> None:
    with pytest.raises(InvalidInputError) as raised:
        check_state(state)
    assert str(raised.value) == message


def test_a_missing_required_key_names_the_step_that_sets_it() -> None:
    with pytest.raises(InvalidInputError, match=r"^workflow state: 'execution', 'resolution' missing; set by an"):
        check_state({"plan": {"converge": True}}, required=("execution", "resolution"))


def test_keys_the_model_does_not_name_pass_through_unchecked() -> None:
    state = {"execution": "run-1", "from_a_newer_step": {"anything": [1, None]}}
    assert check_state(state) == state


def test_an_optional_field_takes_null_or_its_type(monkeypatch) -> None:
    from typing import TypedDict

    from orgbackup import workflow_state

    class Entry(TypedDict):
        name: str | None

    assert workflow_state.check_value({"name": None}, Entry, "entry") is None
    assert workflow_state.check_value({"name": "workload-a"}, Entry, "entry") is None
    with pytest.raises(InvalidInputError, match=r"^workflow state: entry.name: must be a string, got number 1$"):
        workflow_state.check_value({"name": 1}, Entry, "entry")


@pytest.mark.parametrize(
    ("key", "value"),
    [("remaining", -1), ("remaining", "3"), ("baseline_current", True), ("baseline_current", 1.5)],
)
def test_a_reconcile_resolution_refuses_a_count_that_is_not_one(key, value) -> None:
    state = {"resolution": {"mode": "reconcile", key: value}}
    with pytest.raises(InvalidInputError, match=f"resolution.{key}"):
        check_state(state)


def test_the_operations_of_a_later_reconcile_chunk_get_ids_of_their_own() -> None:
    from orgbackup.workflow_state import operations_name

    assert operations_name({"execution": "run-1"}) == "run-1"
    assert operations_name({"execution": "run-1", "chunk": 1}) == "run-1"
    assert operations_name({"execution": "run-1", "chunk": 2}) == "run-1-chunk2"


@pytest.mark.parametrize("chunk", [0, -2, "2", True, None])
def test_resolve_refuses_a_chunk_that_is_not_a_chunk_number(chunk) -> None:
    from orgbackup.onboarding import request_chunk

    with pytest.raises(InvalidInputError, match="Resolve: chunk: must be a chunk number"):
        request_chunk({"input": {"mode": "reconcile"}, "execution": "run-1", "chunk": chunk})
    assert request_chunk({"input": {"mode": "reconcile"}, "execution": "run-1"}) == 1
    assert request_chunk({"input": {"mode": "reconcile"}, "execution": "run-1", "chunk": 4}) == 4
