"""The key policy statements a workload key needs for copies into the central vault."""

import json

import pytest

from orgbackup.exceptions import InvalidInputError
from orgbackup.protection.access import Principal, policy_allows
from orgbackup.protection.key_statement import GRANT_ACTIONS, USE_ACTIONS, missing_for_copy, workload_key_statements
from orgbackup_tools import cli

CENTRAL = "222222222222"


def test_the_statements_let_the_central_account_use_the_key_and_create_grants_for_aws_resources_only() -> None:
    statements = workload_key_statements(CENTRAL)
    document = {"Version": "2012-10-17", "Statement": statements}
    assert missing_for_copy(document, CENTRAL) == []
    backup_there = Principal(
        CENTRAL,
        f"arn:aws:iam::{CENTRAL}:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup",
        "eu-west-1",
    )
    for action in (*USE_ACTIONS, *GRANT_ACTIONS):
        assert policy_allows(document, action, backup_there)[0], action
    assert statements[1]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert {s["Principal"]["AWS"] for s in statements} == {f"arn:aws:iam::{CENTRAL}:root"}
    assert all(statement["Effect"] == "Allow" for statement in statements)
    assert not policy_allows(
        document, "kms:Decrypt", Principal("444444444444", "arn:aws:iam::444444444444:root", "eu-west-1")
    )[0]


def test_a_default_key_policy_misses_every_action_for_the_central_account() -> None:
    default = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    assert len(missing_for_copy(default, CENTRAL)) == len(USE_ACTIONS) + len(GRANT_ACTIONS)
    assert missing_for_copy("nonsense", CENTRAL) == ["the key policy is not a policy document with a Statement list"]


@pytest.mark.parametrize(("account", "partition"), [("2222", "aws"), (CENTRAL, "mars")])
def test_bad_input_is_named(account: str, partition: str) -> None:
    with pytest.raises(InvalidInputError):
        workload_key_statements(account, partition)


def test_the_cli_prints_the_statements_for_the_deployed_central_account(capsys) -> None:
    assert cli.main(["protection", "key-statement", "--central-account-id", CENTRAL]) == 0
    assert json.loads(capsys.readouterr().out) == workload_key_statements(CENTRAL)
    assert cli.main(["protection", "key-statement"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["Principal"]["AWS"].endswith(":root")


def test_check_policy_says_what_a_key_policy_lacks(capsys, tmp_path) -> None:
    default = tmp_path / "default.json"
    default.write_text(
        json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ]
            }
        )
    )
    assert (
        cli.main(["protection", "key-statement", "--central-account-id", CENTRAL, "--check-policy", str(default)]) == 1
    )
    out = capsys.readouterr().out
    assert "missing for copies into the central vault: kms:DescribeKey for account 222222222222" in out
    shared = tmp_path / "shared.json"
    shared.write_text(json.dumps({"Statement": workload_key_statements(CENTRAL)}))
    assert (
        cli.main(["protection", "key-statement", "--central-account-id", CENTRAL, "--check-policy", str(shared)]) == 0
    )
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x00\xff")
    assert cli.main(["protection", "key-statement", "--check-policy", str(binary)]) == 2
    assert "cannot read a JSON key policy" in capsys.readouterr().err
