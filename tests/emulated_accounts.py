"""Accounts of a bare emulated organization (plain ``mock_aws``, no simulation World): the organization itself, and a
boto3 session signed in to one account (moto maps assumed-role credentials to the role's account)."""

import boto3

from orgbackup_tools import emulation


def organization(*account_ids: str, region: str = "us-east-1") -> None:
    """An organization holding these accounts, with exactly these IDs."""
    org = boto3.client("organizations", region_name=region)
    org.create_organization(FeatureSet="ALL")
    for account_id in account_ids:
        status = org.create_account(AccountName=f"a{account_id}", Email=f"{account_id}@example.com")
        emulation.rename_account(status["CreateAccountStatus"]["AccountId"], account_id)


def session_in(account_id: str, region: str = "us-east-1", role: str = "tester") -> boto3.session.Session:
    """A session of ``role`` in ``account_id``."""
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role}", RoleSessionName=role
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
