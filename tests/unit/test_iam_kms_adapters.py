"""The IAM and KMS adapters (orgbackup.aws.iam, orgbackup.aws.kms): what a recovery's checks read, with the errors
that mean "there is none" translated and throttling retried (requests pinned with botocore's Stubber)."""

import json
from urllib.parse import quote

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from orgbackup.aws import iam, kms
from orgbackup.retry import Backoff

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
KEY = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NO_WAIT = Backoff(sleep=lambda _: None)


def error(code: str, status: int = 400) -> dict[str, object]:
    return {"service_error_code": code, "service_message": f"{code} for the test", "http_status_code": status}


def role(document: object) -> dict[str, object]:
    return {
        "Role": {
            "Path": "/",
            "RoleName": "CentralBackupRole",
            "RoleId": "AROAEXAMPLEEXAMPLE123",
            "Arn": "arn:aws:iam::222222222222:role/CentralBackupRole",
            "CreateDate": "2026-01-01T00:00:00Z",
            "AssumeRolePolicyDocument": document,
        }
    }


def test_a_role_s_trust_policy_is_read_as_a_document_from_its_url_encoded_text() -> None:
    client = boto3.client("iam", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("get_role", role(quote(json.dumps(TRUST))), {"RoleName": "CentralBackupRole"})
        assert iam.role_trust_policy(client, "CentralBackupRole") == TRUST


def test_a_role_that_does_not_exist_has_no_trust_policy() -> None:
    client = boto3.client("iam", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_role", **error("NoSuchEntity", 404), expected_params={"RoleName": "Gone"})
        assert iam.role_trust_policy(client, "Gone") is None


def test_a_throttled_get_role_is_retried() -> None:
    client = boto3.client("iam", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_role", **error("Throttling"))
        stub.add_response("get_role", role(quote(json.dumps(TRUST))), {"RoleName": "CentralBackupRole"})
        assert iam.role_trust_policy(client, "CentralBackupRole", backoff=NO_WAIT) == TRUST
        stub.assert_no_pending_responses()


def test_a_key_s_policy_is_its_default_policy() -> None:
    client = boto3.client("kms", region_name="eu-west-1")
    with Stubber(client) as stub:
        stub.add_response(
            "get_key_policy",
            {"Policy": json.dumps(TRUST), "PolicyName": "default"},
            {"KeyId": KEY, "PolicyName": "default"},
        )
        assert kms.key_policy(client, KEY) == json.dumps(TRUST)


def test_a_key_that_does_not_exist_has_no_policy_and_other_refusals_propagate() -> None:
    client = boto3.client("kms", region_name="eu-west-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_key_policy", **error("NotFoundException"))
        stub.add_client_error("get_key_policy", **error("AccessDeniedException"))
        assert kms.key_policy(client, KEY) is None
        with pytest.raises(ClientError) as refused:
            kms.key_policy(client, KEY)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
