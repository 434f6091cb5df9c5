"""The AWS Regions that exist, as far as this code knows: the Region list botocore ships, plus any extras.

A well-formed Region name that does not exist (``eu-wset-1``) would make a backup plan that backs up nothing
there, silently. botocore carries the Regions AWS publishes for every partition (its ``endpoints.json``); a
Region launched after the botocore in use (pinned offline; the Lambda runtime's in AWS) is allowed by naming it
in the deployment parameter ``ExtraRegions`` (``EXTRA_REGIONS``), or ``--extra-regions`` of
``orgbackup policy validate``.
"""

from collections.abc import Iterable, Mapping
from functools import lru_cache

import botocore.loaders


@lru_cache(maxsize=1)
def known_regions() -> Mapping[str, str]:
    """Region name -> partition name, for every Region of every partition botocore knows."""
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return {region: partition["partition"] for partition in endpoints["partitions"] for region in partition["regions"]}


def region_problem(name: str, extra: Iterable[str] = ()) -> str | None:
    """None when ``name`` is a Region AWS publishes (or one of ``extra``), else why not (completes "X is ...")."""
    if name in known_regions() or name in set(extra):
        return None
    return (
        "not a Region AWS publishes (checked against the Region list of botocore "
        f"{botocore.__version__}); for a Region newer than that, add it to the ExtraRegions parameter (EXTRA_REGIONS; "
        "--extra-regions of orgbackup policy validate)"
    )


def partition_problem(name: str, partition: str) -> str | None:
    """None when ``name`` belongs to ``partition`` (or is unknown to botocore), else why not."""
    owner = known_regions().get(name)
    if owner is None or owner == partition:
        return None
    return f"in the {owner} partition, but this deployment is in the {partition} partition"
