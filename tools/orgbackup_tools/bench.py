"""`orgbackup bench`: the onboarding workflow under bursts of new accounts, batched as deployed and one execution
per event, measured in the emulated organization and priced with ``orgbackup_tools.latency_model``; and the cold start
of every function next to a bare ``import boto3``.

Development-only: imports moto (through ``orgbackup_tools.simulation``).
"""

import concurrent.futures
import contextlib
import copy
import importlib
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from orgbackup import aws
from orgbackup.baseline import CURRENT
from orgbackup_tools import deployment, emulation, latency_model
from orgbackup_tools.latency_model import ExecutionTrace, Operation, ProductTiming
from orgbackup_tools.scenarios import DEFAULT_EVENT, burst_events, plan_world

ROOT = deployment.PROJECT_ROOT
DEFAULT_BURSTS = (1, 200, 1000)
# One execution per event costs about the size of the organization per execution, the square of the burst: above
# this many accounts the unbatched comparison is not run (it would take hours in the emulation).
UNBATCHED_UP_TO = 200
# A batch of one new account in organizations of these sizes (issue 14: a batch's work must not grow with the
# organization). The other accounts sit in the in-scope OU without a baseline.
DEFAULT_ORG_SIZES = (100, 5000)
COLD_START_RUNS = 7  # fresh interpreters per function (and for boto3); the median is reported
STATES = "states"  # the origin of calls made by the state machine's service integrations
POLL_OPERATION = ("cloudformation", "DescribeStackSetOperation")
VAULT_POLICY_WRITE = ("backup", "PutBackupVaultAccessPolicy")
STACKSET_OPERATION_CALLS = frozenset({"CreateStackInstances", "UpdateStackInstances"})


# ---------------------------------------------------------------------------------------------------------------
# Counting the product's AWS calls


@dataclass
class Call:
    origin: str  # the Lambda function (its logical ID) or STATES
    service: str
    operation: str


@dataclass
class Recorder:
    """The product's AWS calls, in order, with the Lambda invocations between them.

    Why wrap the client factories rather than count calls by thread: the product makes every call through one of
    two factories, ``orgbackup.aws.client`` (the functions: handlers never build boto3 clients themselves) and
    moto's ``boto_client_for`` (the state machine's integrations, already replaced by
    ``emulation.stepfunctions_caller_credentials``), while the harness builds its clients from the world's own
    session. Tagging the clients at birth counts exactly the product's calls, whatever thread they run on;
    moto runs executions and Map iterations on worker threads, so a thread rule would also need to know which
    threads are moto's. ``before-parameter-build`` fires once per API call (each page of a paginated call is a
    call), before botocore's own retries, so a retried request counts once.
    """

    # ("invoke", function) | ("call", Call) | ("operation", Operation), in the order they happened
    events: list[tuple[str, Any]] = field(default_factory=list)
    local: threading.local = field(default_factory=threading.local)

    def origin(self) -> str:
        return str(getattr(self.local, "function", STATES))

    def attach(self, client: Any, origin: Callable[[], str]) -> Any:
        def count(params: dict[str, Any], model: Any, **_: Any) -> None:
            service = str(model.service_model.service_name)
            self.events.append(("call", Call(origin(), service, str(model.name))))
            if service == "cloudformation" and model.name in STACKSET_OPERATION_CALLS:
                self.events.append(
                    (
                        "operation",
                        Operation(
                            accounts=len(params.get("Accounts", [])),
                            regions=len(params.get("Regions", [])),
                            preferences=dict(params.get("OperationPreferences", {})),
                        ),
                    )
                )

        client.meta.events.register("before-parameter-build", count)
        return client

    def calls(self, start: int = 0) -> list[Call]:
        return [item for kind, item in self.events[start:] if kind == "call"]


# Organizations calls that only read: their answer cannot change while no call writes to the organization.
ORGANIZATIONS_READS = frozenset(
    {
        "DescribeAccount",
        "DescribeOrganization",
        "DescribeOrganizationalUnit",
        "DescribePolicy",
        "ListAccounts",
        "ListAccountsForParent",
        "ListChildren",
        "ListOrganizationalUnitsForParent",
        "ListParents",
        "ListPolicies",
        "ListPoliciesForTarget",
        "ListRoots",
        "ListTagsForResource",
        "ListTargetsForPolicy",
    }
)


class _Answered:
    status_code = 200


@dataclass
class OrganizationsReads:
    """Answers a read of the organization that was already answered since its last write, without going through
    moto again.

    Why: one execution per event makes every execution walk the whole organization (ListAccounts, then ListParents
    per account), so 200 events are about 130,000 such reads, nearly all identical; in moto each costs ~2.5 ms of
    CPU (signing, a werkzeug request, moto's dispatch and serializer, botocore's parser), which made that one run
    nine minutes long. The product still makes every call: botocore validates and serializes it and the Recorder
    counts it (``before-parameter-build`` comes first); only the round trip is skipped, and the answer is the
    one moto gave for the same request. Any other Organizations call (a write) forgets every answer."""

    answers: dict[tuple[str, ...], Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.organizations", self.before)
        client.meta.events.register("after-call.organizations", self.after)

    def before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> Any:
        if model.name not in ORGANIZATIONS_READS:
            with self.lock:
                self.answers.clear()
            return None
        credentials = getattr(kwargs.get("request_signer"), "_credentials", None)
        body = params.get("body", b"")
        key = (
            model.name,
            getattr(credentials, "access_key", ""),
            body.decode() if isinstance(body, bytes) else str(body),
        )
        context["orgbackup_read"] = key
        with self.lock:
            answer = self.answers.get(key)
        return (_Answered(), copy.deepcopy(answer)) if answer is not None else None

    def after(self, model: Any, http_response: Any, parsed: Any, context: dict[str, Any], **_: Any) -> None:
        key = context.get("orgbackup_read")
        with self.lock:
            if key is None:
                self.answers.clear()
            elif http_response.status_code < 300 and key not in self.answers:
                self.answers[key] = copy.deepcopy(parsed)


@contextlib.contextmanager
def counting(world: Any, recorder: Recorder) -> Iterator[None]:
    """Count the product's calls in ``world`` for the duration of the block (see ``Recorder``)."""
    original_client = aws.client
    clients: dict[tuple[str, str | None, int], tuple[Any, Any]] = {}  # -> (session, client)
    reads = OrganizationsReads()

    def product_client(service: str, region: str | None = None, *, from_session: Any = None) -> Any:
        # One client per service, Region and session for the whole run: building a boto3 client costs ~20 ms of
        # CPU, a quarter of a small execution here; the calls made through it are the same. The session is kept
        # with its client so that its id is not reused by a later one.
        source = from_session or aws.session()
        key = (service, region, id(source))
        if key not in clients:
            client = recorder.attach(original_client(service, region, from_session=from_session), recorder.origin)
            if service == "organizations":
                reads.attach(client)
            clients[key] = (source, client)
        return clients[key][1]

    def traced(name: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def run(event: Any, context: Any) -> Any:
            recorder.events.append(("invoke", name))
            recorder.local.function = name
            try:
                return handler(event, context)
            finally:
                del recorder.local.function

        return run

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(aws, "client", product_client))
        for module_name in emulation.STEPFUNCTIONS_CLIENT_MODULES:
            module = importlib.import_module(module_name)
            stack.enter_context(
                mock.patch.object(module, "boto_client_for", _integration_clients(module.boto_client_for, recorder))
            )
        # in_process_lambdas looks handlers up in this dict at each invocation.
        stack.enter_context(mock.patch.dict(world.handlers, {n: traced(n, h) for n, h in world.handlers.items()}))
        yield


def _integration_clients(build: Callable[..., Any], recorder: Recorder) -> Callable[..., Any]:
    """The state machine's clients, counted: the recorder attaches once to each client (one per Region, service
    and credentials, as the emulation keeps them), so every call is counted exactly once."""
    cache: dict[tuple[str, ...], Any] = {}

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, *(os.environ.get(k, "") for k in ("AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")))
        if key not in cache:
            cache[key] = recorder.attach(build(region, service, state_credentials), lambda: STATES)
        return cache[key]

    return client_for


@contextlib.contextmanager
def lighter_emulation() -> Iterator[None]:
    """Two costs of moto that say nothing about the product, removed for the benchmark (each stack instance paid
    ~0.17 s of CPU for them, 200 accounts x 2 Regions x 2 runs):
    - moto's CloudFormation parses a stack's template with PyYAML's pure-Python loader for every stack; the
      member template is the same text each time, so its parse is kept (each stack gets its own copy);
    - moto's KMS makes a 2048-bit RSA key pair for every key, even a symmetric one, which never signs; symmetric
      keys here share one pair (their key material, what encryption uses, stays their own)."""
    from moto.cloudformation.models import Stack  # noqa: PLC0415
    from moto.kms import models as kms_models  # noqa: PLC0415

    parse = Stack.parse_template
    parsed: dict[str, Any] = {}

    def parse_template(template: str) -> dict[str, Any]:
        if template not in parsed:
            parsed[template] = parse(template)
        return copy.deepcopy(parsed[template])

    generate: Callable[[str], Any] = getattr(kms_models, "generate_private_key")  # noqa: B009 - not re-exported
    shared: list[Any] = []

    def generate_private_key(key_spec: str) -> Any:
        if key_spec != "SYMMETRIC_DEFAULT":
            return generate(key_spec)
        if not shared:
            shared.append(generate(key_spec))
        return shared[0]

    with (
        mock.patch.object(Stack, "parse_template", staticmethod(parse_template)),
        mock.patch.object(kms_models, "generate_private_key", generate_private_key),
    ):
        yield


# ---------------------------------------------------------------------------------------------------------------
# One burst, one mode


@dataclass
class RunFigures:
    executions: int
    stackset_operations: int
    api_calls: dict[str, int]
    state_transitions: int
    lambda_invocations: int
    vault_policy_writes: int
    modelled_minutes: float
    cost_per_account_usd: float
    # Not in the JSON contract: shown in the text report.
    over_poll_bound: int = 0
    longest_step: tuple[str, float] = ("", 0.0)
    protected: int = 0
    failed_executions: int = 0

    def contract(self) -> dict[str, Any]:
        return {
            "executions": self.executions,
            "stackset_operations": self.stackset_operations,
            "api_calls": dict(sorted(self.api_calls.items())),
            "state_transitions": self.state_transitions,
            "lambda_invocations": self.lambda_invocations,
            "vault_policy_writes": self.vault_policy_writes,
            "modelled_minutes": round(self.modelled_minutes, 1),
            "cost_per_account_usd": round(self.cost_per_account_usd, 6),
        }


def trace_of(
    batch: list[dict[str, Any]] | None, events: Sequence[tuple[str, Any]], history: Sequence[dict[str, Any]]
) -> ExecutionTrace:
    """What one execution did, from the recorder's events during it and its history. ``batch``: the Pipes batch
    that started it, None for one the workflow started itself."""
    if batch is None:
        trace = ExecutionTrace(records=0, payload_bytes=0, started_by_pipe=False)
    else:
        trace = ExecutionTrace(records=len(batch), payload_bytes=len(json.dumps(batch).encode()))
    steps = trace.steps_before_wait
    for kind, item in events:
        if kind == "invoke":
            steps.append(0)
            trace.step_functions.append(item)
            trace.step_service_calls.append({})
        elif kind == "operation":
            trace.operations.append(item)
        elif item.origin != STATES:
            steps[-1] += 1
            by_service = trace.step_service_calls[-1]
            by_service[item.service] = by_service.get(item.service, 0) + 1
        elif (item.service, item.operation) == POLL_OPERATION:
            trace.polls += 1
            steps = trace.steps_after_wait
        elif item.service != "lambda":  # the Lambda tasks are steps already
            trace.integration_calls += 1
    trace.transitions = state_transitions(history)
    return trace


def state_transitions(history: Sequence[dict[str, Any]]) -> int:
    """Step Functions bills a transition "each time a step of your workflow is executed": one per state entered
    (Map iterations' states included). A retry would be one more; the bench injects no faults."""
    return sum(1 for event in history if str(event.get("type", "")).endswith("StateEntered"))


def execute(world: Any, batch: Any, timeout: float = 600) -> tuple[str, str]:
    """Start an execution and wait for it; (ARN, status). Waits by joining moto's execution thread rather than
    polling the API: with one core's worth of GIL, every poll is CPU taken from the execution itself."""
    from moto.stepfunctions.parser.utils import TMP_THREADS  # noqa: PLC0415

    started = len(TMP_THREADS)
    arn = world.start_execution(batch)
    for thread in TMP_THREADS[started : started + 1]:  # the execution's own thread
        thread.join(timeout)
    sfn = world.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while (status := str(sfn.describe_execution(executionArn=arn)["status"])) == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {arn} still running after {timeout} s")
        time.sleep(0.05)
    return arn, status


@contextlib.contextmanager
def quiet_world(spec: Any) -> Iterator[Any]:
    """An emulated organization built from ``spec`` for a measured run, with moto's costs that say nothing about the
    product removed (``lighter_emulation``) and stdout silenced: the functions log to stdout, as in Lambda, and an
    error logged there would break `--json`."""
    from orgbackup_tools import simulation  # noqa: PLC0415 - moto

    with (
        open(os.devnull, "w", encoding="utf-8") as quiet,
        contextlib.redirect_stdout(quiet),
        lighter_emulation(),
        simulation.World.emulate(spec) as world,
    ):
        yield world


def add_existing_accounts(spec: Any, count: int) -> None:
    """``count`` more accounts (none if ``count`` is not positive) in the spec's first in-scope OU, without a
    baseline: the organization the product is deployed into."""
    from orgbackup_tools import simulation  # noqa: PLC0415 - moto

    in_scope = spec.in_scope_ou_ids[0]
    for index in range(max(0, count)):
        spec.accounts.append(simulation.Account(f"8{index:011d}", f"existing-{index:05d}", in_scope))


def run_burst(accounts: int, batch_size: int | None, timing: ProductTiming) -> RunFigures:
    """``accounts`` new accounts enrolled at once; the workflow run in a fresh emulated organization with the
    Pipe's batch size (``None``: the template's)."""
    from orgbackup_tools import simulation  # noqa: PLC0415 - moto

    events = burst_events(accounts, json.loads(DEFAULT_EVENT.read_text(encoding="utf-8")))
    spec, _ = plan_world(events)
    recorder = Recorder()
    with quiet_world(spec) as world:
        observer = simulation.Observer(world)
        operations_before = observer.stackset_operations()
        invocations_before = len(world.invocations)
        traces: list[ExecutionTrace] = []
        statuses: list[str] = []
        with counting(world, recorder):
            world.put_lifecycle_events(events)
            batches = world.pipe_batches(batch_size)
            for batch in batches:
                start = len(recorder.events)
                arn, status = execute(world, batch)
                statuses.append(status)
                traces.append(trace_of(batch, recorder.events[start:], world.history(arn)))
        burst_ids = {
            event["detail"]["serviceEventDetails"]["createManagedAccountStatus"]["account"]["accountId"]
            for event in events
        }
        regions = world.settings.backup_regions
        protected = sum(
            1
            for account, by_region in observer.stack_instances().items()
            if account in burst_ids and all(by_region.get(r) == CURRENT for r in regions)
        )
        stackset_operations = observer.stackset_operations() - operations_before
        lambda_invocations = len(world.invocations) - invocations_before
    calls = recorder.calls()
    by_service = Counter(call.service for call in calls)
    by_operation = Counter((call.service, call.operation) for call in calls)
    used_batch = batch_size or timing.pipe_batch_size
    line = latency_model.timeline(traces, used_batch, timing)
    bill = latency_model.cost(traces, line, lambda_invocations, by_operation[("sns", "Publish")], timing)
    return RunFigures(
        executions=len(batches),
        stackset_operations=stackset_operations,
        api_calls=dict(by_service),
        state_transitions=sum(t.transitions for t in traces),
        lambda_invocations=lambda_invocations,
        vault_policy_writes=by_operation[VAULT_POLICY_WRITE],
        modelled_minutes=line.last_protected_seconds / 60,
        cost_per_account_usd=bill.total / accounts,
        over_poll_bound=line.over_poll_bound,
        longest_step=line.longest_step,
        protected=protected,
        failed_executions=sum(1 for s in statuses if s != "SUCCEEDED"),
    )


# Step Functions' limit on a state's input and output: 256 KiB of UTF-8 (Step Functions quotas,
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html, "Maximum input or output size").
STATE_LIMIT_BYTES = 256 * 1024


def establish_vault_policy_form(world: Any) -> str:
    """Put on the central vault the form of policy an organization of this size holds while orgbackup runs in it
    (the existing accounts of the bench have no baseline, so the product alone would keep the account form): the
    account form while the in-scope accounts' IDs fit under the threshold, else the organization form, written
    by the product's own functions through the central account's vault-policy role. Returns the form."""
    from orgbackup import vault_policy  # noqa: PLC0415
    from orgbackup.accounts import in_scope_active_account_ids  # noqa: PLC0415

    settings = world.settings
    org = world.client("organizations")
    everyone = in_scope_active_account_ids(org, settings)
    org_paths = (
        vault_policy.org_paths_for(org, settings.organization_id, settings.in_scope_ou_ids)
        if settings.in_scope_ou_ids
        else None
    )
    session = vault_policy.assume_central_role(world.client("sts"), settings, "bench-setup")
    policies = {
        region: vault_policy.render_central_vault_policy(
            settings,
            everyone,
            region,
            org_paths=org_paths,
            break_glass_principal_arn=settings.break_glass_principal_arn,
        )
        for region in settings.backup_regions
    }
    form = policies[settings.primary_region].mode
    if form != "accounts":
        vault_policy.apply_central_vault_policy(
            lambda region: aws.client("backup", region, from_session=session), settings, policies
        )
    return form


def run_org_size(total_accounts: int) -> dict[str, Any]:
    """The AWS API calls, by service, of a batch of ONE new account in an organization of ``total_accounts``
    (the backfill of the largest organization: ``run_backfill``)."""

    events = burst_events(1, json.loads(DEFAULT_EVENT.read_text(encoding="utf-8")))
    spec, _ = plan_world(events)
    add_existing_accounts(spec, total_accounts - len(spec.accounts) - 1)  # the management account is not listed
    recorder = Recorder()
    with quiet_world(spec) as world:
        form = establish_vault_policy_form(world)
        with counting(world, recorder):
            world.put_lifecycle_events(events)
            for batch in world.pipe_batches():
                execute(world, batch)
        batch_calls = dict(Counter(call.service for call in recorder.calls()))
    return {"api_calls": batch_calls, "vault_policy_form": form}


# The first deploy's backfill is measured in an organization of this many Regions (issue 14: 5,000 accounts in 4).
BACKFILL_REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "eu-central-1")


def largest_state_bytes(history: Sequence[dict[str, Any]]) -> int:
    """The largest state any state of the execution passed on (its output), in bytes of UTF-8."""
    return max(
        (
            len(str(event["stateExitedEventDetails"].get("output", "")).encode())
            for event in history
            if "stateExitedEventDetails" in event
        ),
        default=0,
    )


def _chunk_traces(events: Sequence[tuple[str, Any]], history: Sequence[dict[str, Any]]) -> list[Any]:
    """A reconcile execution's events cut at each Resolve: one trace per chunk (each chunk is modelled as an
    execution of its own, started by the schedule or the previous chunk, not by a Pipe, when the previous one
    ended; the transitions all go to the first)."""
    starts = [i for i, (kind, item) in enumerate(events) if kind == "invoke" and "ResolveAccounts" in str(item)]
    bounds = [*starts, len(events)]
    return [
        trace_of(None, events[start:end], history if number == 0 else [])
        for number, (start, end) in enumerate(itertools.pairwise(bounds))
    ]


def _resolved_to_onboard(history: Sequence[dict[str, Any]]) -> int:
    """Accounts the execution's Resolve steps found to onboard, every chunk's together."""
    total = 0
    for event in history:
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == "Resolve":
            counts = json.loads(details.get("output") or "{}").get("resolution", {}).get("counts", {})
            total += int(counts.get("to_onboard", 0))
    return total


def run_backfill(total_accounts: int, regions: Sequence[str] = BACKFILL_REGIONS) -> dict[str, Any]:
    """The first deploy's backfill through the real state machine: a reconcile execution in an organization of
    ``total_accounts`` (and the sample's own: a few more), none with a baseline, in ``regions``; then the daily
    reconcile once they all have one. Counts chunks, StackSet operations and API calls; the modelled time is the
    chunks' one after another (latency_model.timeline for each)."""
    from orgbackup.accounts import RECONCILE_CHUNK_ACCOUNTS  # noqa: PLC0415
    from orgbackup_tools import simulation  # noqa: PLC0415

    spec = simulation.OrgSpec(regions=tuple(regions))
    add_existing_accounts(spec, total_accounts - len(spec.accounts) - 1)  # the management account is not listed
    timing = ProductTiming.load(ROOT)
    recorder = Recorder()
    with quiet_world(spec) as world:
        observer = simulation.Observer(world)
        before = observer.stackset_operations()
        with counting(world, recorder):
            arn, status = execute(world, {"mode": "reconcile"}, timeout=3600)
        history = world.history(arn)
        events = list(recorder.events)
        calls = recorder.calls()
        operations = observer.stackset_operations() - before
        wanted = set(world.settings.baseline_regions)
        protected = sum(
            1
            for statuses in observer.stack_instances().values()
            if wanted <= {r for r, s in statuses.items() if s == CURRENT}
        )
        daily_arn, daily_status = execute(world, {"mode": "reconcile"}, timeout=3600)
        daily = world.history(daily_arn)
    chunks = sum(1 for event in history if event.get("stateEnteredEventDetails", {}).get("name") == "Resolve")
    timelines = [latency_model.timeline([t], timing.pipe_batch_size, timing) for t in _chunk_traces(events, history)]
    return {
        "accounts": len(spec.accounts) + 1,  # the organization's, the management account included
        "regions": len(wanted),
        "chunk_accounts": RECONCILE_CHUNK_ACCOUNTS,
        "status": status,
        "chunks": chunks,
        "chunks_over_poll_bound": sum(t.over_poll_bound for t in timelines),
        "stackset_operations": operations,
        "to_onboard": _resolved_to_onboard(history),
        "onboarded": protected,
        "api_calls": dict(Counter(call.service for call in calls)),
        "api_calls_per_account": round(len(calls) / max(1, protected), 2),
        "largest_state_bytes": largest_state_bytes(history),
        "daily_status": daily_status,
        "daily_largest_state_bytes": largest_state_bytes(daily),
        "modelled_minutes": round(sum(t.last_protected_seconds for t in timelines) / 60, 1),
    }


# ---------------------------------------------------------------------------------------------------------------
# Cold start

_TIMED_IMPORT = "import time\nt = time.perf_counter()\nimport {module}\nprint((time.perf_counter() - t) * 1000)\n"


def function_modules(template: dict[str, Any]) -> dict[str, tuple[Path, str]]:
    """function folder name -> (its folder, its handler module), for every function the template deploys from
    functions/."""
    found: dict[str, tuple[Path, str]] = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        code = Path(str(properties.get("CodeUri", "")))
        if code.parts[:1] == ("functions",):
            handler = str(deployment.function_setting(template, properties, "Handler"))
            found[code.name] = (ROOT / code, handler.rsplit(".", 1)[0])
    return dict(sorted(found.items()))


def _timed_import(module: str, path: Sequence[Path]) -> float:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "POWERTOOLS_"))}
    environment["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    result = subprocess.run(  # noqa: S603 - our own interpreter, our own code
        [sys.executable, "-c", _TIMED_IMPORT.format(module=module)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return float(result.stdout.strip().splitlines()[-1])


def cold_start(runs: int = COLD_START_RUNS) -> dict[str, dict[str, float]]:
    """Per function: the median time to import its handler module in a fresh interpreter (PYTHONPATH = the layer
    + the function's folder, as in Lambda), next to a bare ``import boto3`` timed the same way, runs interleaved
    so both see the same machine load. One unrecorded round first: it writes the bytecode caches."""
    modules = function_modules(deployment.load_template())
    layer = ROOT / "layers" / "shared"
    samples: dict[str, list[float]] = {name: [] for name in modules}
    boto3_samples: list[float] = []
    for round_ in range(runs + 1):
        boto3_ms = _timed_import("boto3", [layer])
        timings = {name: _timed_import(module, [layer, folder]) for name, (folder, module) in modules.items()}
        if round_:
            boto3_samples.append(boto3_ms)
            for name, value in timings.items():
                samples[name].append(value)
    boto3_ms = statistics.median(boto3_samples)
    return {
        name: {
            "import_ms": round(statistics.median(values), 1),
            "boto3_ms": round(boto3_ms, 1),
            "ratio": round(statistics.median(values) / boto3_ms, 2),
        }
        for name, values in samples.items()
    }


# ---------------------------------------------------------------------------------------------------------------
# The whole benchmark

MODES = {"batched": None, "unbatched": 1}  # batch size: None - the template's


def _measure(accounts: int, mode: str) -> RunFigures:
    # A worker process's entry point: everything it needs is read again from the files.
    return run_burst(accounts, MODES[mode], ProductTiming.load(ROOT))


def run(
    bursts: Sequence[int],
    progress: Callable[[str], None],
    jobs: int | None = None,
    org_sizes: Sequence[int] = DEFAULT_ORG_SIZES,
) -> tuple[dict[str, Any], ProductTiming]:
    """Cold start first (on a machine the bursts do not load yet), then every burst in both modes, side by side
    in ``jobs`` processes (each run has its own emulated organization), the longest first."""
    timing = ProductTiming.load(ROOT)
    progress("cold start: each function's handler imported in fresh interpreters, next to a bare import boto3 ...")
    cold = cold_start(COLD_START_RUNS)
    # One execution per event costs about the size of the organization per execution: the square of the burst.
    runs = sorted(
        ((n, mode) for n in dict.fromkeys(bursts) for mode in MODES if mode == "batched" or n <= UNBATCHED_UP_TO),
        key=lambda item: -(item[0] * item[0] if item[1] == "unbatched" else item[0]),
    )
    jobs = max(1, min(jobs or min(2, os.cpu_count() or 1), len(runs)))
    figures: dict[tuple[int, str], RunFigures] = {}
    began = time.monotonic()

    def done(key: tuple[int, str], result: RunFigures) -> None:
        figures[key] = result
        progress(f"  {key[0]} account(s), {key[1]}: done ({time.monotonic() - began:.0f} s in)")

    progress(f"bursts {', '.join(map(str, bursts))}: batched and one execution per event, {jobs} at a time ...")
    if jobs == 1:
        for key in runs:
            done(key, _measure(*key))
    else:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: moto's state is per process
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            pending = {pool.submit(_measure, *key): key for key in runs}
            for future in concurrent.futures.as_completed(pending):
                done(pending[future], future.result())
    results = []
    for n in dict.fromkeys(bursts):
        batched, unbatched = figures[(n, "batched")], figures.get((n, "unbatched"))
        results.append(
            {
                "accounts": n,
                "batched": batched,
                "unbatched": unbatched,
                "ratio_time": _ratio(unbatched.modelled_minutes, batched.modelled_minutes) if unbatched else None,
                "ratio_stackset_operations": (
                    _ratio(unbatched.stackset_operations, batched.stackset_operations) if unbatched else None
                ),
            }
        )
    org_size = []
    for size in org_sizes:
        progress(f"a batch of 1 new account in an organization of {size} accounts ...")
        measured = run_org_size(size)
        org_size.append({"accounts": size, **measured, "total": sum(measured["api_calls"].values())})
    if org_size:
        largest = org_size[-1]
        progress(
            f"the first deploy's backfill (reconcile) of the {largest['accounts']}-account organization in "
            f"{len(BACKFILL_REGIONS)} Regions, then the daily reconcile ..."
        )
        largest["reconcile"] = run_backfill(largest["accounts"])
    return {"bursts": results, "cold_start": cold, "org_size": org_size}, timing


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else 0.0


def contract(report: dict[str, Any]) -> dict[str, Any]:
    """The report in the `orgbackup bench --json` shape."""
    return {
        "bursts": [
            {
                "accounts": item["accounts"],
                "batched": item["batched"].contract(),
                "unbatched": item["unbatched"].contract() if item["unbatched"] else None,
                "ratio_time": item["ratio_time"],
                "ratio_stackset_operations": item["ratio_stackset_operations"],
            }
            for item in report["bursts"]
        ],
        "cold_start": report["cold_start"],
        "org_size": report.get("org_size", []),
    }


def problems(report: dict[str, Any]) -> list[str]:
    """Runs whose figures cannot be trusted: the workflow did not protect every account of the burst, or the
    backfill did not succeed, did not protect every account it had to onboard, or had a chunk wait past the
    workflow's poll bound (that chunk would have failed on AWS, so its minutes are not a backfill's)."""
    found = []
    for item in report.get("org_size", []):
        backfill = item.get("reconcile")
        if not backfill:
            continue
        label = f"backfill of {backfill['accounts']} accounts"
        if backfill["status"] != "SUCCEEDED" or backfill["daily_status"] != "SUCCEEDED":
            found.append(
                f"{label}: execution {backfill['status']}, the daily reconcile after it {backfill['daily_status']}"
            )
        if backfill["onboarded"] < backfill["to_onboard"]:
            found.append(f"{label}: {backfill['onboarded']} protected of {backfill['to_onboard']} to onboard")
        if backfill["chunks_over_poll_bound"]:
            found.append(f"{label}: {backfill['chunks_over_poll_bound']} chunk(s) would wait past the poll bound")
    for item in report["bursts"]:
        for mode in MODES:
            run_: RunFigures | None = item[mode]
            if run_ is None:
                continue
            if run_.protected != item["accounts"] or run_.failed_executions:
                found.append(
                    f"{item['accounts']} account(s), {mode}: {run_.protected} protected, "
                    f"{run_.failed_executions} execution(s) not SUCCEEDED"
                )
    return found


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], labels: int = 1) -> list[str]:
    """A Markdown table: the first ``labels`` columns left-aligned, the figures right-aligned."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        padded = (c.ljust(w) if i < labels else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ("-" if i < labels else ":") for i, w in enumerate(widths)) + "|"
    return [line(cells[0]), rule, *(line(row) for row in cells[1:])]


def aims(report: dict[str, Any], regions: int) -> list[str]:
    """Issues 5's and 14's aims, checked against this run's figures (batched, as deployed)."""
    bursts = sorted(report["bursts"], key=lambda item: item["accounts"])
    small, large = bursts[0], bursts[-1]
    big: RunFigures = large["batched"]
    ratio = big.modelled_minutes / small["batched"].modelled_minutes if small["batched"].modelled_minutes else 0.0
    worst = max((v["ratio"] for v in report["cold_start"].values()), default=0.0)
    per_account = sum(big.api_calls.values()) / max(1, big.protected)

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return [
        f"- {large['accounts']} accounts in at most 2 StackSet operations (all Regions in each): "
        f"{big.stackset_operations} - {mark(big.stackset_operations <= 2)}",
        f"- one vault-policy write per batch (and Region): {big.vault_policy_writes} writes for {big.executions} "
        f"batch(es) x {regions} Regions - {mark(big.vault_policy_writes <= big.executions * regions)}",
        f"- modelled time for {large['accounts']} accounts within 1.5x of the time for {small['accounts']}: "
        f"{big.modelled_minutes:.1f} / {small['batched'].modelled_minutes:.1f} min = {ratio:.2f}x - "
        f"{mark(ratio <= 1.5)}",
        f"- cold-start import within 1.5x of bare boto3: worst {worst:.2f}x - {mark(worst <= 1.5)}",
        f"- {large['accounts']} accounts in ONE StackSet operation: {big.stackset_operations} - "
        f"{mark(big.stackset_operations == 1)}",
        f"- modelled time for {large['accounts']} accounts within 1.2x of the time for {small['accounts']}: "
        f"{ratio:.2f}x - {mark(ratio <= 1.2)}",
        f"- at most 5 API calls per onboarded account in the batch of {large['accounts']}: "
        f"{per_account:.1f} - {mark(per_account <= 5)}",
    ]


def _org_size_lines(org_size: Sequence[dict[str, Any]]) -> list[str]:
    if not org_size:
        return []
    services = sorted({service for item in org_size for service in item["api_calls"]})
    rows = [[item["accounts"], *(item["api_calls"].get(s, 0) for s in services), item["total"]] for item in org_size]
    smallest, largest = org_size[0], org_size[-1]  # the sizes are sorted (commands/bench.py)
    same = largest["total"] <= smallest["total"]
    forms = ", ".join(f"{item['accounts']}: {item.get('vault_policy_form', '?')}" for item in org_size)
    lines = [
        "A batch of 1 new account in organizations of different sizes (AWS API calls by service):",
        "",
        *_table(["organization (accounts)", *services, "total"], rows),
        "",
        f"- central vault policy in place (as the organization's size gives it): {forms}",
        f"- a batch of 1 costs no more in {largest['accounts']} accounts than in {smallest['accounts']}: "
        f"{largest['total']} vs {smallest['total']} calls - {'met' if same else 'NOT met'}",
        "",
    ]
    reconcile = largest.get("reconcile")
    if reconcile:
        limit = STATE_LIMIT_BYTES
        lines += [
            f"Backfill (reconcile) of the {largest['accounts']}-account organization through the state machine, the "
            f"largest workflow state of each run (Step Functions takes at most {limit:,} bytes):",
            "",
            *_table(
                ["run", "accounts", "largest state bytes", "fits"],
                [
                    [
                        f"first deploy (all to onboard, {reconcile['status']})",
                        reconcile["to_onboard"],
                        f"{reconcile['largest_state_bytes']:,}",
                        "yes" if reconcile["largest_state_bytes"] <= limit else "NO",
                    ],
                    [
                        f"daily, all current ({reconcile['daily_status']})",
                        reconcile["to_onboard"],
                        f"{reconcile['daily_largest_state_bytes']:,}",
                        "yes" if reconcile["daily_largest_state_bytes"] <= limit else "NO",
                    ],
                ],
            ),
            "",
            *_backfill_lines(reconcile),
        ]
    return lines


def _backfill_lines(backfill: dict[str, Any]) -> list[str]:
    """The first deploy's backfill as run (``run_backfill``): chunks, operations, calls, modelled time."""
    if "chunks" not in backfill:
        return []
    services = sorted(backfill["api_calls"])
    return [
        f"First deploy's backfill: {backfill['accounts']} accounts in {backfill['regions']} Regions, one reconcile "
        f"execution ({backfill['status']}), chunks of {backfill['chunk_accounts']} accounts (counted in the emulated "
        "organization; minutes modelled, the chunks one after another):",
        "",
        *_table(
            [
                "chunks",
                "StackSet ops",
                "onboarded",
                "API calls",
                "per account",
                "largest state bytes",
                "modelled minutes",
            ],
            [
                [
                    backfill["chunks"],
                    backfill["stackset_operations"],
                    backfill["onboarded"],
                    sum(backfill["api_calls"].values()),
                    f"{backfill['api_calls_per_account']:.2f}",
                    f"{backfill['largest_state_bytes']:,}",
                    f"{backfill['modelled_minutes']:.1f}",
                ]
            ],
        ),
        "",
        *_table(services, [[backfill["api_calls"][s] for s in services]], labels=0),
        "",
    ]


def render(report: dict[str, Any], timing: ProductTiming) -> list[str]:
    """The report as text: Markdown tables, so the README can quote them as printed."""
    from orgbackup.baseline import OPERATION_PREFERENCES  # noqa: PLC0415
    from orgbackup_tools.simulation import OrgSpec  # noqa: PLC0415

    regions = len(OrgSpec().regions)
    template = deployment.load_template()

    def timeout(function: str) -> int:
        properties = template["Resources"].get(function, {}).get("Properties", {})
        return int(deployment.function_setting(template, properties, "Timeout") or 3)  # 3 s: Lambda's default

    longest = [
        [
            i["accounts"],
            mode,
            i[mode].longest_step[0],
            f"{i[mode].longest_step[1]:.0f}",
            timeout(i[mode].longest_step[0]),
        ]
        for i in report["bursts"]
        for mode in MODES
        if i[mode]
    ]
    runs = [(item, mode, item[mode]) for item in report["bursts"] for mode in MODES if item[mode]]
    rows, services = [], sorted({s for _, _, f in runs for s in f.api_calls})
    service_rows, notes = [], []
    for item, mode, f in runs:
        rows.append(
            [
                item["accounts"],
                mode,
                f.executions,
                f.stackset_operations,
                sum(f.api_calls.values()),
                f"{sum(f.api_calls.values()) / max(1, f.protected):.1f}",
                f.state_transitions,
                f.lambda_invocations,
                f.vault_policy_writes,
                f"{f.modelled_minutes:.1f}",
                f"{f.cost_per_account_usd:.6f}",
            ]
        )
        service_rows.append([item["accounts"], mode, *(f.api_calls.get(s, 0) for s in services)])
        if f.over_poll_bound:
            notes.append(
                f"- {item['accounts']} accounts {mode}: {f.over_poll_bound} of {f.executions} executions would "
                f"wait longer than the workflow's bound ({timing.poll_bound} polls x "
                f"{timing.poll_interval_seconds} s) for their queued StackSet operation: they fail "
                "(StackSetOperationTimedOut), their accounts get the vault policy and backup policies only from "
                "a later run (the daily reconcile), so the minutes shown (as if they had waited) are a lower "
                "bound; their cost counts polls up to the bound."
            )
    lines = [
        f"Bursts of new accounts (batched: the Pipe's batch size {timing.pipe_batch_size}, as deployed; unbatched: "
        "batch size 1, one execution per event). Counted in the emulated organization; minutes and dollars modelled.",
        "",
        *_table(
            [
                "accounts",
                "mode",
                "executions",
                "StackSet ops",
                "API calls",
                "per account",
                "state transitions",
                "Lambda invocations",
                "vault-policy writes",
                "modelled minutes",
                "USD per account",
            ],
            rows,
            labels=2,
        ),
        "",
        "AWS API calls by service (made by the functions and the state machine's integrations):",
        "",
        *_table(["accounts", "mode", *services], service_rows, labels=2),
        "",
        f"Unbatched / batched (one execution per event is run up to {UNBATCHED_UP_TO} accounts):",
        "",
        *_table(
            ["accounts", "time", "StackSet operations"],
            [
                [i["accounts"], f"{i['ratio_time']:.2f}", f"{i['ratio_stackset_operations']:.2f}"]
                for i in report["bursts"]
                if i["unbatched"]
            ],
        ),
        *(["", *notes] if notes else []),
        "",
        "Slowest Lambda step of each run (modelled; mostly its API calls, made one after another):",
        "",
        *_table(["accounts", "mode", "function", "seconds", "timeout (template.yaml)"], longest, labels=3),
        "",
        *latency_model.describe(timing, OPERATION_PREFERENCES, regions),
        "",
        *_org_size_lines(report.get("org_size", [])),
        "Cold start (median of fresh interpreters; the handler module's import vs a bare `import boto3`):",
        "",
        *_table(
            ["function", "import ms", "boto3 ms", "ratio"],
            [[name, v["import_ms"], v["boto3_ms"], f"{v['ratio']:.2f}"] for name, v in report["cold_start"].items()],
        ),
        "",
        "Aims (issues 5 and 14), batched as deployed:",
        *aims(report, regions),
    ]
    return lines
