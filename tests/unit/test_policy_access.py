"""orgbackup.protection.access: the evaluation of vault and key policies used by the checks and the emulation."""

import pytest

from orgbackup.protection.access import Principal, policy_allows

CENTRAL = Principal(
    "222222222222",
    "arn:aws:iam::222222222222:role/CopyBack",
    "eu-west-1",
    "o-ab12cd34ef",
    ("o-ab12cd34ef/r-ab12/ou-ab12-44444444/",),
)
COPY = "backup:CopyIntoBackupVault"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(principal: object, action: object = COPY, **extra: object) -> dict:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


@pytest.mark.parametrize(
    ("document", "allowed"),
    [
        (policy(allow({"AWS": "arn:aws:iam::222222222222:root"})), True),
        (policy(allow({"AWS": ["arn:aws:iam::111111111111:root", "222222222222"]})), True),
        (policy(allow({"AWS": "arn:aws:iam::222222222222:role/CopyBack"})), True),
        (policy(allow({"AWS": "arn:aws:iam::333333333333:root"})), False),
        (policy(allow("*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-ab12cd34ef"}})), True),
        (policy(allow("*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-other"}})), False),
        (
            policy(
                allow(
                    "*",
                    Condition={
                        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-ab12cd34ef/r-ab12/ou-ab12-44444444/*"}
                    },
                )
            ),
            True,
        ),
        (
            policy(
                allow(
                    "*",
                    Condition={
                        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-ab12cd34ef/r-ab12/ou-ab12-11111111/*"}
                    },
                )
            ),
            False,
        ),
        (
            policy(
                allow("*", Condition={"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::222222222222:role/CopyBack"}})
            ),
            True,
        ),
        (policy(allow("*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})), False),  # unknown key: no Allow
        (policy(allow({"AWS": "arn:aws:iam::222222222222:root"}, action="backup:*")), True),
        (policy(allow({"AWS": "arn:aws:iam::222222222222:root"}, action="backup:DeleteRecoveryPoint")), False),
        (
            policy(
                allow({"AWS": "arn:aws:iam::222222222222:root"}),
                {"Sid": "No", "Effect": "Deny", "Principal": "*", "Action": COPY, "Resource": "*"},
            ),
            False,
        ),
        (
            policy(
                allow({"AWS": "arn:aws:iam::222222222222:root"}),
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": COPY,
                    "Condition": {"StringEquals": {"aws:Unknown": "x"}},
                },
            ),
            False,  # unknown key: the Deny applies
        ),
        (
            policy(
                allow({"AWS": "arn:aws:iam::222222222222:root"}),
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": COPY,
                    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::222222222222:role/CopyBack"}},
                },
            ),
            True,
        ),
        (None, False),
        ("{not json", False),
    ],
)
def test_policies_are_evaluated_deny_first_then_allow(document, allowed: bool) -> None:
    assert policy_allows(document, COPY, CENTRAL)[0] is allowed


def test_the_reason_names_the_deciding_statement() -> None:
    document = policy({"Sid": "Yes", **allow({"AWS": "222222222222"})})
    assert policy_allows(document, COPY, CENTRAL) == (True, "statement Yes allows it")
    assert policy_allows(policy(), COPY, CENTRAL)[1] == f"no statement allows {COPY} to account 222222222222"
