"""The latency and cost model of `orgbackup bench`, in one place.

The benchmark runs the real workflow in an emulated organization, where time is not spent (moto finishes a
StackSet operation at once and Wait states are instant). What it counts there (executions, StackSet operations
and how many accounts and Regions each covers, API calls per Lambda step, state transitions, Pipes batches) is
turned into time and money here. The product's own settings are read from its files (`ProductTiming.from_files`),
so the model follows the product; the figures AWS publishes are constants below, each with its source; the
figures AWS does not publish are estimates, marked as such, with what they rest on.

Pure arithmetic: no AWS, no clock. Development-only (reading the template needs PyYAML).
"""

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from orgbackup.exceptions import ConfigurationError

# ---------------------------------------------------------------------------------------------------------------
# Published by AWS (US East (N. Virginia) prices; free tiers are left out: a burst should not lean on them)

# Step Functions Standard: "$0.025 per 1,000 state transitions"; retries are transitions too.
# https://aws.amazon.com/step-functions/pricing/
SFN_USD_PER_TRANSITION: Final = 0.025 / 1000
# Lambda: $0.20 per 1M requests; duration per GB-second, Arm $0.0000133334 and x86 $0.0000166667 (first tier).
# Since the INIT phase is billed, the cold-start time counts as duration. https://aws.amazon.com/lambda/pricing/
LAMBDA_USD_PER_REQUEST: Final = 0.20 / 1_000_000
LAMBDA_USD_PER_GB_SECOND: Final[Mapping[str, float]] = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
# SNS standard topic: $0.50 per 1M publish requests (each 64 KB chunk is one request).
# https://aws.amazon.com/sns/pricing/
SNS_USD_PER_PUBLISH: Final = 0.50 / 1_000_000
# EventBridge Pipes: $0.40 per 1M requests after filtering; every 64 KB chunk of a batch's payload is one request.
# https://aws.amazon.com/eventbridge/pricing/
PIPES_USD_PER_REQUEST: Final = 0.40 / 1_000_000
PIPES_CHUNK_BYTES: Final = 64 * 1024
# CloudFormation (StackSets included): "no additional charge" for resource types in the AWS::* namespace, which
# is all the member template uses. https://aws.amazon.com/cloudformation/pricing/
STACKSETS_USD_PER_OPERATION: Final = 0.0

# StackSets quota "StackSets instance operations": stack instances, across all StackSets, that one administrator
# account runs operations on in one Region at the same time. AWS's pages disagree: the CloudFormation quotas page
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html) now gives 10,000,
# earlier versions of it and older accounts' Service Quotas 3,500. The model takes the lower figure (the safe side:
# a modelled time is never shorter than AWS may take). Caps an operation's concurrency.
STACKSET_INSTANCE_OPERATIONS_PER_REGION: Final = 3500

# ---------------------------------------------------------------------------------------------------------------
# Not published by AWS: estimates, each replaceable by a figure measured in your own organization

# One stack instance of stacksets/member-account.yaml, created by StackSets in one account and Region. AWS gives
# no figure. Based on the template's critical path (a KMS key, then its alias and the backup vault; two IAM
# roles; one EventBridge rule: each tens of seconds in CloudFormation) plus StackSets' own per-instance work
# (assume the execution role, create the stack, wait for it). Measure it: CreationTimestamp to EndTimestamp of
# DescribeStackSetOperation for a one-account operation.
STACK_INSTANCE_SECONDS: Final = 120.0
# StackSets' fixed cost per operation (accepting, dequeuing, fanning out to Regions, closing). Estimate.
OPERATION_OVERHEAD_SECONDS: Final = 30.0
# One AWS API call from Lambda or a Step Functions integration (Organizations, CloudFormation, Backup, STS, SNS)
# in the same Region. AWS publishes no latency figure; a control-plane round trip is tens to a hundred-odd ms.
API_CALL_SECONDS: Final = 0.1
# Request-rate limits (throttling). Neither service publishes a rate per API operation: the Organizations quotas
# page (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html) lists entity limits
# only, and Organizations answers TooManyRequestsException "You have sent too many requests in too short a period
# of time" with no figure (API reference, Common errors); the CloudFormation quotas page
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html) gives none for API
# calls either. ESTIMATES, on the safe side: a sustained rate per account that a client retrying with backoff
# achieves; a step's calls to one service cannot go faster than this, whatever each call's own latency.
# Organizations is a global service hosted in us-east-1: every caller in the organization shares its rate.
REQUESTS_PER_SECOND: Final[Mapping[str, float]] = {"organizations": 5.0, "cloudformation": 10.0}
# One Lambda task beyond its API calls: the Step Functions task round trip and, cold, the init (runtime start,
# the handler's imports, boto3 on first use; see the cold-start figures of the same run). AWS gives no figure.
LAMBDA_STEP_SECONDS: Final = 1.0


# ---------------------------------------------------------------------------------------------------------------
# The product's settings the model follows


@dataclass(frozen=True)
class ProductTiming:
    """What the product decides about time: read from template.yaml and the state machine definition."""

    pipe_batch_size: int
    pipe_window_seconds: int
    poll_interval_seconds: int
    poll_bound: int  # polls before the workflow gives up on an operation
    transitions_per_poll: int  # states entered by one round of the poll loop
    lambda_memory_mb: int
    lambda_architecture: str

    @classmethod
    def from_files(cls, template: Mapping[str, Any], asl: Mapping[str, Any]) -> "ProductTiming":
        sqs = template["Resources"]["OnboardingPipe"]["Properties"]["SourceParameters"]["SqsQueueParameters"]
        globals_ = template.get("Globals", {}).get("Function", {})
        interval, bound, per_poll = poll_loop(asl)
        return cls(
            pipe_batch_size=int(sqs["BatchSize"]),
            pipe_window_seconds=int(sqs.get("MaximumBatchingWindowInSeconds", 0)),
            poll_interval_seconds=interval,
            poll_bound=bound,
            transitions_per_poll=per_poll,
            lambda_memory_mb=int(globals_.get("MemorySize", 128)),  # Lambda's default
            lambda_architecture=str((globals_.get("Architectures") or ["x86_64"])[0]),
        )

    @classmethod
    def load(cls, root: Path) -> "ProductTiming":
        from orgbackup_tools import deployment  # noqa: PLC0415 - PyYAML, development-only

        asl = json.loads((root / "statemachine" / "onboarding.asl.json").read_text(encoding="utf-8"))
        return cls.from_files(deployment.load_template(root / "template.yaml"), asl)


def poll_loop(asl: Mapping[str, Any]) -> tuple[int, int, int]:
    """(interval, bound, states per round) of the state machine's StackSet poll loop: the Map whose item
    processor waits, then counts its polls against a bound."""
    for state in asl.get("States", {}).values():
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        states = processor.get("States", {})
        waits = [s for s in states.values() if s.get("Type") == "Wait" and "Seconds" in s]
        bounds = [
            rule["NumericGreaterThanEquals"]
            for s in states.values()
            if s.get("Type") == "Choice"
            for rule in s.get("Choices", [])
            if "NumericGreaterThanEquals" in rule
        ]
        if waits and bounds:
            per_round = sum(1 for s in states.values() if s.get("Type") not in ("Succeed", "Fail"))
            return int(waits[0]["Seconds"]), int(bounds[0]), per_round
    raise ConfigurationError("state machine: no StackSet poll loop (a Map with a Wait and a poll bound) found")


# ---------------------------------------------------------------------------------------------------------------
# StackSets


def concurrent_accounts(accounts: int, preferences: Mapping[str, Any]) -> int:
    """Accounts one operation deploys at the same time in each Region (API reference, StackSetOperationPreferences):
    MaxConcurrentCount (default 1) or MaxConcurrentPercentage of the accounts, rounded down but at least 1; in
    STRICT_FAILURE_TOLERANCE mode (the default) at most the failure tolerance + 1, the tolerance being
    FailureToleranceCount (default 0) or FailureTolerancePercentage, rounded down."""
    if accounts <= 0:
        return 0
    if "MaxConcurrentCount" in preferences:
        most = int(preferences["MaxConcurrentCount"])
    elif "MaxConcurrentPercentage" in preferences:
        most = accounts * int(preferences["MaxConcurrentPercentage"]) // 100
    else:
        most = 1
    if "FailureToleranceCount" in preferences:
        tolerance = int(preferences["FailureToleranceCount"])
    else:
        tolerance = accounts * int(preferences.get("FailureTolerancePercentage", 0)) // 100
    if preferences.get("ConcurrencyMode", "STRICT_FAILURE_TOLERANCE") == "STRICT_FAILURE_TOLERANCE":
        most = min(most, tolerance + 1)
    return max(1, min(most, accounts, STACKSET_INSTANCE_OPERATIONS_PER_REGION))


def operation_seconds(accounts: int, regions: int, preferences: Mapping[str, Any]) -> float:
    """How long one StackSet operation runs: waves of concurrent accounts per Region, Regions side by side
    (PARALLEL) or one after another (SEQUENTIAL, the default), plus the operation's fixed cost."""
    if accounts <= 0 or regions <= 0:
        return 0.0
    waves = math.ceil(accounts / concurrent_accounts(accounts, preferences))
    per_region = waves * STACK_INSTANCE_SECONDS
    parallel = preferences.get("RegionConcurrencyType", "SEQUENTIAL") == "PARALLEL"
    return OPERATION_OVERHEAD_SECONDS + (per_region if parallel else per_region * regions)


# ---------------------------------------------------------------------------------------------------------------
# What one execution did, as the benchmark measured it


@dataclass(frozen=True)
class Operation:
    accounts: int
    regions: int
    preferences: Mapping[str, Any]


@dataclass
class ExecutionTrace:
    """One execution of the workflow: its Pipes batch, its Lambda steps (API calls each made) before and after it
    waited for StackSet operations, the operations it started, and the emulation's own counts."""

    records: int
    payload_bytes: int
    # False for an execution the workflow starts itself (a reconcile's next chunk): no Pipe, no batching window
    started_by_pipe: bool = True
    steps_before_wait: list[int] = field(default_factory=list)
    steps_after_wait: list[int] = field(default_factory=list)
    step_functions: list[str] = field(default_factory=list)  # the functions of the steps above, in order
    step_service_calls: list[dict[str, int]] = field(default_factory=list)  # per step: API calls by service
    operations: list[Operation] = field(default_factory=list)
    integration_calls: int = 0  # SDK integrations outside the poll loop (SNS publish)
    polls: int = 0  # DescribeStackSetOperation calls in the emulation (one per operation: moto ends it at once)
    transitions: int = 0


@dataclass(frozen=True)
class Timeline:
    last_protected_seconds: float
    total_polls: int  # as if every execution waited as long as its operations took
    billed_polls: int  # each execution stops at the workflow's bound
    over_poll_bound: int  # executions whose wait would pass the bound (they fail; a later run finishes)
    lambda_seconds: float
    longest_step: tuple[str, float] = ("", 0.0)  # the slowest Lambda step: function, seconds


def dispatch_seconds(trace: ExecutionTrace, batch_size: int, timing: ProductTiming) -> float:
    """When the Pipe starts the execution, for a burst that arrives at once: a full batch goes at once, a partial
    one when the batching window ends (EventBridge Pipes user guide, "Amazon SQS as a source": the Pipe polls until
    the window expires, the payload limit or the batch size is reached)."""
    if not trace.started_by_pipe:
        return 0.0
    return 0.0 if trace.records >= batch_size else float(timing.pipe_window_seconds)


def lambda_step_seconds(api_calls: int, by_service: Mapping[str, int] | None = None) -> float:
    """A Lambda step: its fixed part, then its API calls one after another, no faster than each service's
    request rate allows (``REQUESTS_PER_SECOND``: throttled calls are retried until they pass)."""
    paced = api_calls * API_CALL_SECONDS
    throttled = max(
        (
            count / REQUESTS_PER_SECOND[service]
            for service, count in (by_service or {}).items()
            if service in REQUESTS_PER_SECOND
        ),
        default=0.0,
    )
    return LAMBDA_STEP_SECONDS + max(paced, throttled)


def _step_seconds(trace: "ExecutionTrace") -> list[float]:
    counts = [*trace.steps_before_wait, *trace.steps_after_wait]
    services = trace.step_service_calls or [{} for _ in counts]
    return [lambda_step_seconds(c, by) for c, by in zip(counts, services, strict=False)]


def timeline(traces: Sequence[ExecutionTrace], batch_size: int, timing: ProductTiming) -> Timeline:
    """Executions run side by side as on AWS; their operations share the one StackSet, which runs them one at a
    time in request order (ManagedExecution queues them: "If there are already running or queued operations,
    StackSets queues all incoming operations", API reference, ManagedExecution). Each execution polls its
    operations in turn, every poll interval. Time runs from the burst (every event at t = 0) to the end of the
    last execution that onboarded an account; past the poll bound the time is the one the account would have
    had if the workflow waited on (it fails instead, and a later run finishes the account)."""
    requests: list[tuple[float, int, int, float]] = []  # (requested at, execution, index, duration)
    requested_at: list[float] = []
    for number, trace in enumerate(traces):
        at = dispatch_seconds(trace, batch_size, timing) + sum(_step_seconds(trace)[: len(trace.steps_before_wait)])
        requested_at.append(at)
        for index, op in enumerate(trace.operations):
            requests.append((at, number, index, operation_seconds(op.accounts, op.regions, op.preferences)))
    ends: dict[tuple[int, int], float] = {}
    stackset_free = 0.0
    for at, number, index, duration in sorted(requests):
        start = max(at, stackset_free)
        stackset_free = ends[(number, index)] = start + duration
    last = lambda_seconds = 0.0
    polls_total = polls_billed = over_bound = 0
    longest = ("", 0.0)
    interval = timing.poll_interval_seconds
    for number, trace in enumerate(traces):
        clock = requested_at[number]
        waited = 0
        for index in range(len(trace.operations)):
            polls = max(1, math.ceil((ends[(number, index)] - clock) / interval))
            waited += polls
            clock += polls * interval + API_CALL_SECONDS
        polls_total += waited
        polls_billed += min(waited, timing.poll_bound)
        over_bound += waited > timing.poll_bound
        steps = _step_seconds(trace)
        clock += sum(steps[len(trace.steps_before_wait) :]) + trace.integration_calls * API_CALL_SECONDS
        lambda_seconds += sum(steps)
        for name, seconds in zip(trace.step_functions, steps, strict=False):
            longest = max(longest, (name, seconds), key=lambda item: item[1])
        if trace.operations or not any(t.operations for t in traces):
            last = max(last, clock)
    return Timeline(last, polls_total, polls_billed, over_bound, lambda_seconds, longest)


@dataclass(frozen=True)
class Cost:
    step_functions: float
    lambda_: float
    sns: float
    pipes: float
    stacksets: float

    @property
    def total(self) -> float:
        return self.step_functions + self.lambda_ + self.sns + self.pipes + self.stacksets


def cost(
    traces: Sequence[ExecutionTrace], line: Timeline, lambda_invocations: int, sns_publishes: int, timing: ProductTiming
) -> Cost:
    """The burst's bill. State transitions are the emulation's plus the poll rounds real time adds (moto ends an
    operation at once, so the emulation polls each operation once), up to the workflow's bound: an execution that
    reaches it stops polling (and fails), so no more rounds are billed."""
    measured_polls = sum(t.polls for t in traces)
    transitions = (
        sum(t.transitions for t in traces) + (line.billed_polls - measured_polls) * timing.transitions_per_poll
    )
    gb_seconds = line.lambda_seconds * timing.lambda_memory_mb / 1024
    price = LAMBDA_USD_PER_GB_SECOND.get(timing.lambda_architecture, LAMBDA_USD_PER_GB_SECOND["x86_64"])
    return Cost(
        step_functions=transitions * SFN_USD_PER_TRANSITION,
        lambda_=lambda_invocations * LAMBDA_USD_PER_REQUEST + gb_seconds * price,
        sns=sns_publishes * SNS_USD_PER_PUBLISH,
        pipes=sum(max(1, math.ceil(t.payload_bytes / PIPES_CHUNK_BYTES)) for t in traces if t.started_by_pipe)
        * PIPES_USD_PER_REQUEST,
        stacksets=sum(len(t.operations) for t in traces) * STACKSETS_USD_PER_OPERATION,
    )


def describe(timing: ProductTiming, preferences: Mapping[str, Any], regions: int) -> list[str]:
    """The model as printed by `orgbackup bench`."""
    one = operation_seconds(1, regions, preferences)
    hundred = operation_seconds(100, regions, preferences)
    prefs = ", ".join(f"{key}={value}" for key, value in preferences.items())
    return [
        "Latency and cost model (tools/orgbackup_tools/latency_model.py; the product's settings read from its files)",
        f"  Pipe: batches of {timing.pipe_batch_size}, window {timing.pipe_window_seconds} s (template.yaml); a full "
        "batch starts at once, a partial one when the window ends [EventBridge Pipes user guide, SQS source]",
        f"  StackSet operation = {OPERATION_OVERHEAD_SECONDS:.0f} s + waves x {STACK_INSTANCE_SECONDS:.0f} s per "
        "stack instance; waves = ceil(accounts / concurrent accounts) per Region; Regions side by side if "
        "PARALLEL, else one after another [API reference, StackSetOperationPreferences]",
        f"    workflow's preferences (baseline.py): {prefs}",
        f"    -> 1 account x {regions} Regions: {one / 60:.1f} min; 100 accounts x {regions} Regions: "
        f"{hundred / 60:.1f} min",
        "  Operations on one StackSet run one at a time, in request order (ManagedExecution queues them) "
        "[API reference, ManagedExecution]; at most "
        f"{STACKSET_INSTANCE_OPERATIONS_PER_REGION} stack instances per Region at once (the lower of the quota's "
        "published values, 3,500 and 10,000) [CloudFormation quotas]",
        f"  Poll: every {timing.poll_interval_seconds} s, at most {timing.poll_bound} polls, "
        f"{timing.transitions_per_poll} transitions a round (statemachine/onboarding.asl.json)",
        f"  Lambda step = {LAMBDA_STEP_SECONDS:.1f} s + {API_CALL_SECONDS:.1f} s per AWS API call it made, and no "
        "faster than each service's request rate (throttling): "
        + ", ".join(f"{service} {rate:g}/s" for service, rate in REQUESTS_PER_SECOND.items())
        + f"; {timing.lambda_memory_mb} MB {timing.lambda_architecture} (template.yaml Globals)",
        "  Estimates (AWS publishes no figure): stack instance "
        f"{STACK_INSTANCE_SECONDS:.0f} s, operation overhead {OPERATION_OVERHEAD_SECONDS:.0f} s, API call "
        f"{API_CALL_SECONDS:.1f} s, Lambda step {LAMBDA_STEP_SECONDS:.1f} s, request rates above (the Organizations "
        "and CloudFormation quota pages publish no API rate)",
        f"  Prices (us-east-1, no free tier): Step Functions ${SFN_USD_PER_TRANSITION * 1000:.3f} per 1,000 "
        f"transitions; Lambda ${LAMBDA_USD_PER_REQUEST * 1e6:.2f} per 1M requests + "
        f"${LAMBDA_USD_PER_GB_SECOND.get(timing.lambda_architecture, 0):.10f} per GB-s; SNS "
        f"${SNS_USD_PER_PUBLISH * 1e6:.2f} per 1M publishes; Pipes ${PIPES_USD_PER_REQUEST * 1e6:.2f} per 1M "
        "64 KB requests; StackSets $0 (AWS::* resource types) [aws.amazon.com/<service>/pricing]",
        "  Sources:",
        *(f"    {url}" for url in sources()),
    ]


def sources() -> Iterable[str]:
    """Where each published figure comes from."""
    return (
        "https://aws.amazon.com/step-functions/pricing/",
        "https://aws.amazon.com/lambda/pricing/",
        "https://aws.amazon.com/sns/pricing/",
        "https://aws.amazon.com/eventbridge/pricing/",
        "https://aws.amazon.com/cloudformation/pricing/",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ManagedExecution.html",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html",
    )
