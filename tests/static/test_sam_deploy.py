"""`sam build` then the real `sam deploy --no-execute-changeset` against moto's server on loopback.

The SAM CLI packages every artifact (the functions, the layer, both StackSet templates, the state machine definition),
uploads them to the S3 bucket given with --s3-bucket and creates the stack's change set. The tests assert that each
artifact the packaged template points to was uploaded byte-identical to the build (a function's or the layer's zip
holds exactly the files of its build folder), that nothing else was uploaded, and that the change set exists and was
not executed.

Where moto cannot go further: executing the change set needs CloudFormation's AWS::Serverless-2016-10-31 transform,
which moto does not have, and moto has no CloudFormation model for several resource types of the stack
(AWS::CloudFormation::StackSet, AWS::Pipes::Pipe, AWS::Scheduler::Schedule among them), so nothing here creates the
stack's resources: the deploy stops at the change set, as `--no-execute-changeset` does against AWS.

moto's server runs on a free port of 127.0.0.1 for these tests only and is stopped by its process ID at the end, even
when a test fails.
"""

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from orgbackup_tools import deployment

# The module-scoped fixture is built once: under xdist every test of this module runs on one worker.
pytestmark = pytest.mark.xdist_group("sam_deploy")

ROOT = deployment.PROJECT_ROOT
BUCKET = "orgbackup-deploy-artifacts"
PREFIX = "orgbackup"
STACK = "orgbackup"

pytestmark = pytest.mark.slow


def tool(name: str) -> str:
    """The console script installed next to this interpreter (the project's .venv)."""
    beside = Path(sys.executable).parent / name
    if not beside.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}: run `make setup`")
    return str(beside)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def accepting(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server on 127.0.0.1 (reached as localhost: path-style S3 needs a host name); stopped by its PID."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(120):  # bounded: at most about a minute for the server to listen
            if server.poll() is not None or accepting(port):
                break
            time.sleep(0.5)
        if server.poll() is not None or not accepting(port):
            pytest.fail(f"moto_server did not start on port {port}: {log.read_text()[-2000:]}")
        yield f"http://localhost:{port}"
    finally:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=15)


def sam_environment(endpoint: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_") and key != "SAM_CLI_TELEMETRY"}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "SAM_CLI_TELEMETRY": "0",
            # `sam build` runs the runtime's interpreter: the one running the tests (.venv's python3.13)
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def sam(arguments: list[str], endpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("sam"), *arguments],
        cwd=ROOT,
        env=sam_environment(endpoint),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@dataclass
class Deployed:
    build_dir: Path
    build_template: dict[str, Any]
    packaged: dict[str, Any]
    s3: Any
    cloudformation: Any
    output: str

    def object(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    work = tmp_path_factory.mktemp("sam")
    build_dir = work / "build"
    # Given the application built as `make build` builds it
    built = sam(
        ["build", "--template", "template.yaml", "--build-dir", str(build_dir), "--cache-dir", str(work / "cache")]
    )
    assert built.returncode == 0, built.stdout + built.stderr
    # And an artifact bucket in the emulated account
    client_arguments: dict[str, Any] = {
        "endpoint_url": moto_endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    s3 = boto3.client("s3", **client_arguments)
    s3.create_bucket(Bucket=BUCKET)
    # When the real `sam deploy` runs against it, without executing the change set (no samconfig.toml: every
    # option is on the command line)
    (work / "samconfig.toml").write_text("version = 0.1\n", encoding="utf-8")
    result = sam(
        [
            "deploy",
            "--template-file",
            str(build_dir / "template.yaml"),
            "--stack-name",
            STACK,
            "--s3-bucket",
            BUCKET,
            "--s3-prefix",
            PREFIX,
            "--region",
            "us-east-1",
            "--capabilities",
            "CAPABILITY_IAM",
            "CAPABILITY_NAMED_IAM",
            "CAPABILITY_AUTO_EXPAND",
            "--no-execute-changeset",
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--config-file",
            str(work / "samconfig.toml"),
            "--parameter-overrides",
            "OrganizationId=o-a1b2c3d4e5",
            "CentralBackupAccountId=222222222222",
            "BackupRegions=us-east-1,eu-west-1",
        ],
        endpoint=moto_endpoint,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The packaged template: the uploaded .template that carries the SAM transform (SAM uploads it when it is too
    # large to send inline)
    templates = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/").get("Contents", [])
        if item["Key"].endswith(".template")
    ]
    packaged_path = work / "packaged.yaml"
    for key in templates:
        text = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        if "AWS::Serverless-2016-10-31" in text:
            packaged_path.write_text(text, encoding="utf-8")
    assert packaged_path.exists(), f"no packaged template among {templates}"
    return Deployed(
        build_dir=build_dir,
        build_template=deployment.load_template(build_dir / "template.yaml"),
        # As uploaded: moto's change set has no SAM transform, so it lists the file's own resources.
        packaged=deployment.load_template(packaged_path, sam_events_rendered=False),
        s3=s3,
        cloudformation=boto3.client("cloudformation", **client_arguments),
        output=result.stdout + result.stderr,
    )


def s3_key(location: Any) -> str:
    """The object key of an S3 location as `sam package` writes it: s3://bucket/key, an https URL, or {Bucket, Key}."""
    if isinstance(location, dict):
        assert location["Bucket"] == BUCKET
        return str(location["Key"])
    parsed = urlparse(str(location))
    if parsed.scheme == "s3":
        assert parsed.netloc == BUCKET
        return parsed.path.lstrip("/")
    bucket, _, key = parsed.path.lstrip("/").partition("/")
    assert bucket == BUCKET, location
    return key


def folder_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def zip_files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


ARTIFACTS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::CloudFormation::StackSet": "TemplateURL",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


def artifacts(template: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Logical ID -> (resource type, where its artifact is) for every packaged artifact of a template."""
    found: dict[str, tuple[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        prop = ARTIFACTS.get(resource["Type"])
        if prop and prop in resource.get("Properties", {}):
            found[logical_id] = (resource["Type"], resource["Properties"][prop])
    return found


def test_every_artifact_is_uploaded_byte_identical_to_the_build(deployed: Deployed) -> None:
    local = artifacts(deployed.build_template)
    packaged = artifacts(deployed.packaged)
    # Then every artifact of the build was packaged, and each of the four kinds is there
    assert set(packaged) == set(local)
    assert {kind for kind, _ in local.values()} == set(ARTIFACTS)
    uploaded_keys: set[str] = set()
    for logical_id, (kind, location) in packaged.items():
        key = s3_key(location)
        uploaded_keys.add(key)
        data = deployed.object(key)
        source = (deployed.build_dir / str(local[logical_id][1])).resolve()
        if kind in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            # A zip of exactly the files of the build folder, each byte-identical
            files = folder_files(source)
            assert files, f"{logical_id}: empty build folder {source}"
            assert zip_files(data) == files, logical_id
        else:
            # The StackSet templates and the state machine definition as they are in the repository
            assert data == source.read_bytes(), logical_id
    assert {
        "StartBaselineFunction",
        "SharedLayer",
        "MemberStackSet",
        "CentralStackSet",
        "OnboardingStateMachine",
    } <= set(packaged)
    # And nothing but these artifacts and the packaged template was uploaded
    listed = {item["Key"] for item in deployed.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    extra = {key for key in listed - uploaded_keys if not key.endswith(".template")}
    assert extra == set()
    assert all(key.startswith(f"{PREFIX}/") for key in listed)


def test_the_change_set_exists_and_was_not_executed(deployed: Deployed) -> None:
    cloudformation = deployed.cloudformation
    change_sets = cloudformation.list_change_sets(StackName=STACK)["Summaries"]
    assert len(change_sets) == 1
    assert change_sets[0]["Status"] == "CREATE_COMPLETE"
    assert change_sets[0]["ExecutionStatus"] == "AVAILABLE"
    assert change_sets[0]["ChangeSetId"] in deployed.output
    # The stack waits for review: the change set was created, not executed
    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    described = cloudformation.describe_change_set(ChangeSetName=change_sets[0]["ChangeSetId"], StackName=STACK)
    added = {change["ResourceChange"]["LogicalResourceId"] for change in described["Changes"]}
    assert set(deployed.packaged["Resources"]) <= added
    parameters = {item["ParameterKey"]: item["ParameterValue"] for item in described["Parameters"]}
    assert parameters["OrganizationId"] == "o-a1b2c3d4e5"
    assert parameters["CentralBackupAccountId"] == "222222222222"
