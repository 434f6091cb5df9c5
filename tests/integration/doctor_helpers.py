"""Helpers for the `orgbackup doctor` tests: an emulated organization, and the doctor run against it."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from orgbackup_tools import deployment, doctor
from orgbackup_tools.simulation import OrgSpec, World

OUTPUTS = tuple(deployment.load_template().get("Outputs", {}))


@contextmanager
def world(deploy: bool = False, **spec_changes: Any) -> Iterator[World]:
    with World.emulate(replace(OrgSpec(), **spec_changes), deploy=deploy) as running:
        yield running


def run_doctor(running: World, outputs: tuple[str, ...] = OUTPUTS, **overrides: str) -> doctor.Report:
    parameters = {**running.parameters, **overrides}
    checker = doctor.Doctor(
        running.session, parameters, stack_name="orgbackup", region="us-east-1", template_outputs=outputs
    )
    return checker.run()


def results(report: doctor.Report) -> dict[str, str]:
    return {check.name: check.result for check in report.checks}


def not_ok(report: doctor.Report) -> dict[str, str]:
    return {check.name: check.result for check in report.checks if check.result != doctor.OK}


def check(report: doctor.Report, name: str) -> doctor.Check:
    return next(item for item in report.checks if item.name == name)
