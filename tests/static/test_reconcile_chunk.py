"""Issue 14: a reconcile chunk is the Pipe's batch, the batch the workflow is sized and measured for; the state
machine's bound on chunks is the one the layer and the report use."""

import json

from orgbackup import accounts
from orgbackup_tools.deployment import PROJECT_ROOT, load_template


def test_a_reconcile_chunk_is_the_pipes_batch() -> None:
    pipe = load_template()["Resources"]["OnboardingPipe"]["Properties"]
    assert int(pipe["SourceParameters"]["SqsQueueParameters"]["BatchSize"]) == accounts.RECONCILE_CHUNK_ACCOUNTS


def test_the_state_machine_bounds_the_chunks_of_a_run() -> None:
    asl = json.loads((PROJECT_ROOT / "statemachine" / "onboarding.asl.json").read_text(encoding="utf-8"))
    (rule,) = [rule for rule in asl["States"]["Outcome"]["Choices"] if rule["Next"] == "NextChunk"]
    # after the rules that end a run with failures
    assert asl["States"]["Outcome"]["Choices"][-1] is rule
    bounds = [
        condition
        for item in rule["And"]
        for condition in item.get("And", [item])
        if condition.get("Variable") == "$.chunk" and "NumericLessThan" in condition
    ]
    assert [condition["NumericLessThan"] for condition in bounds] == [accounts.RECONCILE_MAX_CHUNKS]
    # room for an organization of 10,000 accounts
    assert accounts.RECONCILE_MAX_CHUNKS * accounts.RECONCILE_CHUNK_ACCOUNTS > 10_000
