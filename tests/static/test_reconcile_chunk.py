"""Issue 14: a reconcile chunk is the Pipe's batch, the batch the workflow is sized and measured for; the state
machine's bound on chunks is the one the layer and the report use."""

import json

from orgbackup import accounts
from orgbackup_tools.deployment import PROJECT_ROOT, load_template


def test_a_reconcile_chunk_is_the_pipes_batch() -> None:
    pipe = load_template()["Resources"]["OnboardingPipe"]["Properties"]
    assert int(pipe["SourceParameters"]["SqsQueueParameters"]["BatchSize"]) == accounts.RECONCILE_CHUNK_ACCOUNTS


def test_the_state_machine_loops_on_the_reports_one_decision() -> None:
    asl = json.loads((PROJECT_ROOT / "statemachine" / "onboarding.asl.json").read_text(encoding="utf-8"))
    choices = asl["States"]["Outcome"]["Choices"]
    # The rule that loops reads the one boolean the Report step writes (which also words the message: the bound on
    # chunks, the failures carried, tests/unit/test_report.py), and nothing else: no second copy of the rule
    (rule,) = [rule for rule in choices if rule["Next"] == "NextChunk"]
    assert rule == {"Variable": "$.report.next_chunk", "BooleanEquals": True, "Next": "NextChunk"}
    assert not {"$.chunk", "$.resolution.remaining"} & set(json.dumps(choices).split('"'))
    # before the rules that end a run with failures: a chunk's failed accounts do not stop the run
    assert choices[0] is rule
    # And the next round leaves out the accounts that failed so far
    assert asl["States"]["NextChunk"]["Parameters"]["failed_earlier.$"] == "$.report.failed_accounts"
    # room for an organization of 10,000 accounts
    assert accounts.RECONCILE_MAX_CHUNKS * accounts.RECONCILE_CHUNK_ACCOUNTS > 10_000
