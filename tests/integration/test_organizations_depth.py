"""The Organizations adapter's walks reach every account AWS lets an organization hold: OUs nest at most five levels
deep under a root (Quotas for AWS Organizations), and the walks stop only past twice that."""

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from orgbackup.aws.organizations import MAX_DEPTH, OU_NESTING_QUOTA, Organizations


@pytest.fixture
def deepest() -> Iterator[tuple[Organizations, str, list[str], str]]:
    """An account in an OU nested as deep as the quota allows: (adapter, root, OUs top-down, account)."""
    with mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]
        ous: list[str] = []
        parent = root
        for level in range(OU_NESTING_QUOTA):
            parent = client.create_organizational_unit(ParentId=parent, Name=f"level-{level + 1}")[
                "OrganizationalUnit"
            ]["Id"]
            ous.append(parent)
        created = client.create_account(Email="deep@example.com", AccountName="deep")["CreateAccountStatus"]
        account = created["AccountId"]
        client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ous[-1])
        yield Organizations(client), root, ous, account


def test_the_path_of_an_account_in_the_deepest_ou_reaches_the_root(
    deepest: tuple[Organizations, str, list[str], str],
) -> None:
    organizations, root, ous, account = deepest
    # When the account's parents are read up to the root
    path = organizations.path(account)
    # Then every OU and the root are there: six parents, within the walk's bound
    assert path == (*reversed(ous), root)
    assert len(path) == OU_NESTING_QUOTA + 1 <= MAX_DEPTH


def test_walking_down_from_the_top_ou_finds_the_account_in_the_deepest(
    deepest: tuple[Organizations, str, list[str], str],
) -> None:
    organizations, _, ous, account = deepest
    # When the accounts below the top OU are listed
    found = {listed["Id"]: chain for listed, chain in organizations.walk_down([ous[0]])}
    # Then the account five levels down is one of them, with its OUs up to the top one
    assert found == {account: tuple(reversed(ous))}
