"""Refreshing the central vault access policy against moto (with orgbackup_tools.emulation's vault access policies):
the role is assumed into the central account, each Region is written only when its policy changed, refusals
become CentralAccountAccessError, throttling is retried, and concurrent executions converge."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.backup.models import backup_backends

from orgbackup import vault_policy as vp
from orgbackup.exceptions import CentralAccountAccessError, ConfigurationError
from orgbackup.settings import Settings
from orgbackup_tools import emulation

MANAGEMENT = "123456789012"  # moto's default account: the credentials the functions run with
CENTRAL = "222222222222"
REGIONS = ("eu-west-1", "eu-central-1")
VAULT = "orgbackup-central"
ROLE = "OrgBackupVaultPolicyRole"
ROLE_ARN = f"arn:aws:iam::{CENTRAL}:role/{ROLE}"
EXECUTION = "onboard-7f3c2a10-5b7e-4c1d-9a8e-2f6b0c4d1e99"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "organization_id": "o-a1b2c3d4e5",
        "management_account_id": MANAGEMENT,
        "central_backup_account_id": CENTRAL,
        "backup_regions": REGIONS,
        "member_vault_name": "orgbackup-member",
        "central_vault_name": VAULT,
        "backup_role_name": "OrgBackupServiceRole",
        "member_stackset_name": "orgbackup-member",
        "central_vault_policy_role_name": ROLE,
    }
    return Settings(**{**values, **overrides})


SETTINGS = make_settings()


@dataclass
class BackupClients:
    """``backup_client_for_region`` over a session, recording each PutBackupVaultAccessPolicy it sends."""

    session: Any
    clients: dict[str, Any] = field(default_factory=dict)
    puts: list[str] = field(default_factory=list)

    def __call__(self, region: str) -> Any:
        if region not in self.clients:
            client = self.session.client("backup", region_name=region)
            client.meta.events.register(
                "before-call.backup.PutBackupVaultAccessPolicy", lambda **_: self.puts.append(region)
            )
            self.clients[region] = client
        return self.clients[region]


def stored_policy(region: str) -> dict[str, Any] | None:
    text = emulation.vault_access_policy(CENTRAL, region, VAULT)
    return None if text is None else json.loads(text)


def policies(account_ids: list[str]) -> dict[str, vp.VaultPolicy]:
    return {region: vp.render_central_vault_policy(SETTINGS, account_ids, region) for region in REGIONS}


@pytest.fixture
def aws() -> Iterator[None]:
    """The central account holds the vault-policy role and the central vault in both Regions, set up the way the
    central StackSet would (through the organization's access role into that account)."""
    with mock_aws(), emulation.aws_extensions():
        bootstrap = boto3.client("sts", region_name=REGIONS[0]).assume_role(
            RoleArn=f"arn:aws:iam::{CENTRAL}:role/OrganizationAccountAccessRole", RoleSessionName="setup"
        )["Credentials"]
        central = boto3.session.Session(
            aws_access_key_id=bootstrap["AccessKeyId"],
            aws_secret_access_key=bootstrap["SecretAccessKey"],
            aws_session_token=bootstrap["SessionToken"],
        )
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        central.client("iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        for region in REGIONS:
            central.client("backup", region_name=region).create_backup_vault(BackupVaultName=VAULT)
        yield


@pytest.fixture
def sts(aws: None) -> Any:
    return boto3.client("sts", region_name=REGIONS[0])


def test_assumed_session_acts_in_the_central_account_and_names_the_execution(sts: Any) -> None:
    # When the central role is assumed for an execution
    session = vp.assume_central_role(sts, SETTINGS, EXECUTION)
    # Then the session is the role in the central account, with the execution as its session name
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == CENTRAL
    assert identity["Arn"] == f"arn:aws:sts::{CENTRAL}:assumed-role/{ROLE}/{EXECUTION}"
    assert session.region_name == SETTINGS.primary_region
    # And a backup client made from it writes the central account's vault, not the management account's
    vp.apply_central_vault_policy(BackupClients(session), SETTINGS, policies(["333333333333"]))
    vault = backup_backends[CENTRAL][REGIONS[0]].vaults[VAULT]
    assert json.loads(getattr(vault, "access_policy", "null")) == policies(["333333333333"])[REGIONS[0]].document
    assert VAULT not in backup_backends[MANAGEMENT][REGIONS[0]].vaults


def test_first_apply_writes_every_region_and_a_second_writes_nothing(sts: Any) -> None:
    session = vp.assume_central_role(sts, SETTINGS, EXECUTION)
    desired = policies(["444444444444", "333333333333"])
    # When the policies are applied twice
    first_clients, second_clients = BackupClients(session), BackupClients(session)
    first = vp.apply_central_vault_policy(first_clients, SETTINGS, desired)
    second = vp.apply_central_vault_policy(second_clients, SETTINGS, desired)
    # Then the first run writes each Region once, the second writes nothing
    assert first == {"eu-central-1": True, "eu-west-1": True}
    assert sorted(first_clients.puts) == sorted(REGIONS)
    assert second == {"eu-central-1": False, "eu-west-1": False}
    assert second_clients.puts == []
    for region in REGIONS:
        assert stored_policy(region) == desired[region].document


def test_a_new_account_writes_again_and_an_equivalent_policy_does_not(sts: Any) -> None:
    session = vp.assume_central_role(sts, SETTINGS, EXECUTION)
    vp.apply_central_vault_policy(BackupClients(session), SETTINGS, policies(["333333333333"]))
    # Given the policy in one Region re-saved pretty-printed (same meaning, other text)
    current = emulation.vault_access_policy(CENTRAL, REGIONS[0], VAULT)
    assert current is not None
    session.client("backup", region_name=REGIONS[0]).put_backup_vault_access_policy(
        BackupVaultName=VAULT, Policy=json.dumps(json.loads(current), indent=4)
    )
    clients = BackupClients(session)
    # When the same accounts are applied, nothing is written
    assert vp.apply_central_vault_policy(clients, SETTINGS, policies(["333333333333"])) == {
        "eu-central-1": False,
        "eu-west-1": False,
    }
    # When a new account joins, every Region is written with it
    written = vp.apply_central_vault_policy(clients, SETTINGS, policies(["333333333333", "555555555555"]))
    assert written == {"eu-central-1": True, "eu-west-1": True}
    assert len(clients.puts) == 2
    for region in REGIONS:
        principals = stored_policy(region)["Statement"][0]["Principal"]["AWS"]  # type: ignore[index]
        assert principals == ["arn:aws:iam::333333333333:root", "arn:aws:iam::555555555555:root"]


def test_a_role_that_cannot_be_assumed_is_a_central_account_access_error(sts: Any) -> None:
    # Given STS refuses the role (its trust policy does not name the management account)
    refusal = emulation.inject_errors(
        sts, "AssumeRole", "AccessDenied", message="not authorized to perform sts:AssumeRole"
    )
    # When the role is assumed
    with refusal, pytest.raises(CentralAccountAccessError) as raised:
        vp.assume_central_role(sts, SETTINGS, EXECUTION)
    # Then the error names the role and carries AWS's error
    message = str(raised.value)
    assert ROLE_ARN in message
    assert "AccessDenied: not authorized to perform sts:AssumeRole" in message
    assert EXECUTION in message


def test_throttled_assume_role_is_retried(sts: Any, no_sleep: list[float]) -> None:
    # Given STS throttles the first two calls
    with emulation.inject_errors(sts, "AssumeRole", "Throttling", times=2) as raised:
        # When the role is assumed
        session = vp.assume_central_role(sts, SETTINGS, EXECUTION)
    # Then it succeeds after two backoffs
    assert raised == ["Throttling", "Throttling"]
    assert len(no_sleep) == 2
    assert session.client("sts").get_caller_identity()["Account"] == CENTRAL


def test_throttled_put_is_retried_and_written_once(sts: Any, no_sleep: list[float]) -> None:
    session = vp.assume_central_role(sts, SETTINGS, EXECUTION)
    clients = BackupClients(session)
    client = clients(REGIONS[0])
    # Given AWS Backup throttles the first three PutBackupVaultAccessPolicy calls in one Region
    with emulation.inject_errors(client, "PutBackupVaultAccessPolicy", "ThrottlingException", times=3) as raised:
        # When the policies are applied
        written = vp.apply_central_vault_policy(clients, SETTINGS, policies(["333333333333"]))
    # Then the put is retried with backoff until it lands
    assert raised == ["ThrottlingException"] * 3
    assert len(no_sleep) == 3
    assert written == {"eu-central-1": True, "eu-west-1": True}
    assert stored_policy(REGIONS[0]) == policies(["333333333333"])[REGIONS[0]].document


@pytest.mark.parametrize(
    ("operation", "code"),
    [("PutBackupVaultAccessPolicy", "AccessDeniedException"), ("GetBackupVaultAccessPolicy", "AccessDeniedException")],
)
def test_access_denied_on_the_vault_names_the_region_and_the_vault(sts: Any, operation: str, code: str) -> None:
    session = vp.assume_central_role(sts, SETTINGS, EXECUTION)
    clients = BackupClients(session)
    # Given the vault refuses the role in eu-west-1
    refusal = emulation.inject_errors(
        clients("eu-west-1"), operation, code, message="explicit deny in a resource policy"
    )
    # When the policies are applied
    with refusal, pytest.raises(CentralAccountAccessError) as raised:
        vp.apply_central_vault_policy(clients, SETTINGS, policies(["333333333333"]))
    # Then the error says which Region, which vault, which role, and AWS's words
    message = str(raised.value)
    assert f"{CENTRAL}/eu-west-1" in message
    assert repr(VAULT) in message
    assert ROLE_ARN in message
    assert f"{code}: explicit deny in a resource policy" in message


def test_a_missing_central_vault_is_named(sts: Any) -> None:
    session = vp.assume_central_role(sts, SETTINGS, EXECUTION)
    # Given the central vault was never created in one backup Region
    wider = make_settings(backup_regions=(*REGIONS, "us-east-1"))
    desired = {
        region: vp.render_central_vault_policy(wider, ["333333333333"], region) for region in wider.backup_regions
    }
    # When the policies are applied
    with pytest.raises(CentralAccountAccessError, match=r"in 222222222222/us-east-1: the vault does not exist"):
        vp.apply_central_vault_policy(BackupClients(session), wider, desired)


def test_two_concurrent_executions_for_different_accounts_converge(sts: Any) -> None:
    # Given two executions, each onboarding its own new account, that finished their baselines at the same time
    with_baseline = {"333333333333", "444444444444"}  # the source of truth both read
    barrier = threading.Barrier(2)
    clients: dict[str, BackupClients] = {}
    results: dict[str, dict[str, bool]] = {}
    errors: list[BaseException] = []

    def run(execution: str) -> None:
        try:
            session = vp.assume_central_role(boto3.client("sts", region_name=REGIONS[0]), SETTINGS, execution)
            clients[execution] = BackupClients(session)
            desired = {r: vp.render_central_vault_policy(SETTINGS, sorted(with_baseline), r) for r in REGIONS}
            barrier.wait(timeout=10)
            results[execution] = vp.apply_central_vault_policy(clients[execution], SETTINGS, desired)
        except BaseException as error:  # surfaced below
            errors.append(error)

    # When both render and apply at the same moment
    threads = [threading.Thread(target=run, args=(name,)) for name in ("onboard-333", "onboard-444")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then neither fails, both rendered the same text, and the vault ends with both accounts in every Region
    assert errors == []
    for region in REGIONS:
        principals = stored_policy(region)["Statement"][0]["Principal"]["AWS"]  # type: ignore[index]
        assert principals == ["arn:aws:iam::333333333333:root", "arn:aws:iam::444444444444:root"]
    # And a third run afterwards has nothing to write
    later = BackupClients(vp.assume_central_role(sts, SETTINGS, "reconcile"))
    assert vp.apply_central_vault_policy(later, SETTINGS, policies(sorted(with_baseline))) == {
        "eu-central-1": False,
        "eu-west-1": False,
    }
    assert later.puts == []


def test_concurrent_renders_are_identical_whatever_the_order_of_arrival() -> None:
    # Given two executions that see the same source of truth, listed in different orders
    source_of_truth = ["444444444444", "333333333333", "555555555555"]
    # When each renders
    texts = {
        vp.render_central_vault_policy(SETTINGS, order, REGIONS[0]).text
        for order in (source_of_truth, list(reversed(source_of_truth)))
    }
    # Then there is one text: whichever write lands last, the policy is the same
    assert len(texts) == 1


# ---------------------------------------------------------------------------------------------------------------
# Organization paths of the in-scope OUs


@pytest.fixture
def org(aws: None) -> Any:
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    return client


def test_org_paths_walk_up_to_the_root(org: Any) -> None:
    # Given an OU under the root and another nested two levels down
    organization_id = org.describe_organization()["Organization"]["Id"]
    root_id = org.list_roots()["Roots"][0]["Id"]
    workloads = org.create_organizational_unit(ParentId=root_id, Name="Workloads")["OrganizationalUnit"]["Id"]
    prod = org.create_organizational_unit(ParentId=workloads, Name="Prod")["OrganizationalUnit"]["Id"]
    eu = org.create_organizational_unit(ParentId=prod, Name="EU")["OrganizationalUnit"]["Id"]
    calls: list[str] = []
    org.meta.events.register("before-call.organizations.ListParents", lambda **_: calls.append("ListParents"))
    # When the paths are built (one OU named twice)
    paths = vp.org_paths_for(org, organization_id, [workloads, eu, workloads])
    # Then each is the entity path from the organization down to the OU, and shared parents are asked once
    assert paths == [
        f"{organization_id}/{root_id}/{workloads}/",
        f"{organization_id}/{root_id}/{workloads}/{prod}/{eu}/",
    ]
    assert len(calls) == 3
    # And they render the org-path form
    settings = make_settings(organization_id=organization_id, in_scope_ou_ids=(workloads, eu))
    policy = vp.render_central_vault_policy(
        settings, [str(10**11 + i) for i in range(40)], REGIONS[0], paths, threshold=1_000
    )
    assert policy.document["Statement"][0]["Condition"]["ForAnyValue:StringLike"]["aws:PrincipalOrgPaths"] == sorted(
        f"{path}*" for path in paths
    )


def test_org_paths_retry_concurrent_modification(org: Any, no_sleep: list[float]) -> None:
    organization_id = org.describe_organization()["Organization"]["Id"]
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root_id, Name="Workloads")["OrganizationalUnit"]["Id"]
    # Given Organizations answers ConcurrentModificationException once
    with emulation.inject_errors(org, "ListParents", "ConcurrentModificationException"):
        # When the path is built
        paths = vp.org_paths_for(org, organization_id, [ou])
    # Then it is retried after one backoff
    assert paths == [f"{organization_id}/{root_id}/{ou}/"]
    assert len(no_sleep) == 1


def test_an_unknown_in_scope_ou_is_a_configuration_error(org: Any) -> None:
    organization_id = org.describe_organization()["Organization"]["Id"]
    root_id = org.list_roots()["Roots"][0]["Id"]
    missing = root_id.replace("r-", "ou-") + "-abcdefgh"
    with pytest.raises(ConfigurationError, match=f"IN_SCOPE_OU_IDS='{missing}'"):
        vp.org_paths_for(org, organization_id, [missing])
