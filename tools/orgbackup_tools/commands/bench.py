"""`orgbackup bench`: bursts of new accounts through the onboarding workflow, batched and one execution per event,
with a modelled time-to-protection and cost; and each function's cold-start import next to a bare boto3."""

import argparse
import json
import sys
from typing import Any

from orgbackup.exceptions import ConfigurationError

MAX_ACCOUNTS = 1000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure the workflow under bursts of new accounts, and the functions' cold start",
        description=__doc__,
    )
    parser.add_argument(
        "--bursts",
        type=_bursts,
        default=None,
        metavar="N,N,...",
        help="burst sizes in new accounts (default: 1,200,1000; one execution per event only up to 200)",
    )
    parser.add_argument(
        "--org-sizes",
        type=_org_sizes,
        default=None,
        metavar="N,N,...",
        help="organization sizes for the batch-of-1 comparison (default: 100,5000; 0 to skip)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="runs side by side (default: one per CPU, at most 2)"
    )
    parser.set_defaults(handler=run)


def _bursts(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bursts {text!r}: comma-separated whole numbers, e.g. 1,10") from None
    if not sizes or any(not 1 <= size <= MAX_ACCOUNTS for size in sizes):
        raise argparse.ArgumentTypeError(f"--bursts {text!r}: each size between 1 and {MAX_ACCOUNTS}")
    return tuple(dict.fromkeys(sizes))


MAX_ORG_SIZE = 10_000  # Organizations' largest granted account quota (Quotas for AWS Organizations)


def _org_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--org-sizes {text!r}: comma-separated whole numbers, e.g. 100,5000"
        ) from None
    if sizes == (0,):
        return ()
    if not sizes or any(not 10 <= size <= MAX_ORG_SIZE for size in sizes):
        raise argparse.ArgumentTypeError(f"--org-sizes {text!r}: each size between 10 and {MAX_ORG_SIZE}, or 0")
    return tuple(sorted(set(sizes)))  # smallest first: the comparison and the backfill read the ends


def run(args: argparse.Namespace) -> int:
    from orgbackup_tools import bench  # noqa: PLC0415 - moto loads only when this command runs

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.jobs is not None and args.jobs < 1:
        raise ConfigurationError("--jobs must be at least 1")
    progress("orgbackup bench: emulated organization; counts are measured, time and cost are modelled")
    org_sizes = bench.DEFAULT_ORG_SIZES if args.org_sizes is None else args.org_sizes
    report, timing = bench.run(args.bursts or bench.DEFAULT_BURSTS, progress, jobs=args.jobs, org_sizes=org_sizes)
    if args.json:
        print(json.dumps(bench.contract(report), indent=2))
    else:
        print("\n".join(bench.render(report, timing)))
    problems = bench.problems(report)
    for problem in problems:
        progress(f"orgbackup bench: {problem}")
    return 1 if problems else 0
