"""The IAM evaluator behind the least-privilege contract, against AWS's documented evaluation logic (each case
names the rule; orgbackup_tools.iam_eval cites the pages)."""

import pytest

from orgbackup_tools.iam_eval import (
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Request,
    UnsupportedPolicyError,
    conditions_hold,
    evaluate,
    wildcard_match,
)

ROLE = "arn:aws:iam::111111111111:role/Worker"
OTHER = "arn:aws:iam::222222222222:role/Remote"
TOPIC = "arn:aws:sns:us-east-1:111111111111:topic"


def allow(action: str, resource: str = "*", **extra: object) -> dict:
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def test_nothing_allowed_is_an_implicit_deny() -> None:
    assert evaluate(Request(ROLE, "sns:Publish", TOPIC), {}, None, "111111111111").result == IMPLICIT_DENY


def test_an_explicit_deny_beats_every_allow() -> None:
    deny = {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sns:*", "Resource": TOPIC}]}
    decision = evaluate(Request(ROLE, "sns:Publish", TOPIC), {"p": allow("sns:Publish")}, deny, "111111111111")
    assert decision.result == EXPLICIT_DENY


def test_actions_are_case_insensitive_and_take_wildcards_resources_do_not_ignore_case() -> None:
    assert evaluate(Request(ROLE, "sns:Publish", TOPIC), {"p": allow("SNS:pub*", TOPIC)}, None, "111111111111").allowed
    upper = TOPIC.replace("topic", "TOPIC")
    assert not evaluate(Request(ROLE, "sns:Publish", TOPIC), {"p": allow("sns:*", upper)}, None, "111111111111").allowed
    assert wildcard_match("arn:aws:sns:*:111111111111:t?pic", TOPIC)


def test_within_one_account_a_resource_policy_naming_the_role_is_enough() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sns:Publish"}]}
    assert evaluate(Request(ROLE, "sns:Publish", TOPIC), {}, policy, "111111111111").result == ALLOW


def test_a_resource_policy_naming_the_account_delegates_to_iam() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "*"}]}
    assert not evaluate(Request(ROLE, "sns:Publish", TOPIC), {}, policy, "111111111111").allowed


def test_across_accounts_both_policies_must_allow() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "222222222222"}, "Action": "sns:Publish"}]}
    request = Request(OTHER, "sns:Publish", TOPIC)
    assert not evaluate(request, {}, policy, "111111111111").allowed
    assert not evaluate(request, {"p": allow("sns:Publish")}, None, "111111111111").allowed
    assert evaluate(request, {"p": allow("sns:Publish")}, policy, "111111111111").allowed


def test_kms_and_role_trust_need_their_resource_policy_even_in_one_account() -> None:
    key = "arn:aws:kms:us-east-1:111111111111:key/k"
    assert not evaluate(Request(ROLE, "kms:Decrypt", key), {"p": allow("kms:*")}, None, "111111111111").allowed
    root = {
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*"}]
    }
    assert evaluate(Request(ROLE, "kms:Decrypt", key), {"p": allow("kms:*")}, root, "111111111111").allowed


def test_a_service_principal_needs_the_resource_policy_and_its_conditions() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
            }
        ]
    }
    own = Request("events.amazonaws.com", "sns:Publish", TOPIC, {"aws:SourceAccount": "111111111111"})
    foreign = Request("events.amazonaws.com", "sns:Publish", TOPIC, {"aws:SourceAccount": "999999999999"})
    assert evaluate(own, {}, policy, "111111111111").allowed
    assert not evaluate(foreign, {}, policy, "111111111111").allowed


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}, {}, False),  # absent key: false
        ({"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}}, {}, True),  # absent key, negated: true
        ({"ArnNotEquals": {"aws:PrincipalArn": ROLE}}, {"aws:PrincipalArn": ROLE}, False),
        ({"StringEqualsIfExists": {"k": "v"}}, {}, True),
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),  # any value of a key
        ({"StringEquals": {"k": "a", "j": "b"}}, {"k": "a", "j": "c"}, False),  # every key
        ({"ForAnyValue:StringEquals": {"k": "a"}}, {"k": ["x", "a"]}, True),
        ({"ForAnyValue:StringEquals": {"k": "a"}}, {}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["managed-by"]}}, {"aws:TagKeys": ["managed-by"]}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["managed-by"]}}, {"aws:TagKeys": ["managed-by", "x"]}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["managed-by"]}}, {}, True),  # no keys in the request: true
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:111111111111:rule/*"}},
            {"aws:SourceArn": "arn:aws:events:us-east-1:111111111111:rule/r"},
            True,
        ),
    ],
)
def test_condition_operators(condition: dict, context: dict, holds: bool) -> None:
    assert conditions_hold(condition, context) is holds


def test_an_operator_it_does_not_know_is_refused_not_guessed() -> None:
    with pytest.raises(UnsupportedPolicyError, match="NumericLessThan"):
        conditions_hold({"NumericLessThan": {"k": "1"}}, {"k": "0"})


def test_condition_key_names_ignore_case_and_values_do_not() -> None:
    assert conditions_hold({"StringEquals": {"AWS:SourceOwner": "111"}}, {"aws:SourceOwner": "111"})
    assert not conditions_hold({"StringEquals": {"aws:PrincipalOrgID": "O-1"}}, {"aws:principalorgid": "o-1"})
