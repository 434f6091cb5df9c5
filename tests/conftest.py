"""Shared fixtures. Every test runs with fake credentials and with outbound network connections refused:
moto stands in for AWS, and nothing may reach the internet."""

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import botocore.loaders
import pytest
from sample_events import read_event


@pytest.fixture(autouse=True)
def _fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "OrgBackupTest",
        "POWERTOOLS_DEV": "false",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(autouse=True)
def _network_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse connections to anything but loopback and local sockets."""
    original = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in {"127.0.0.1", "::1", "localhost"}:
            raise OSError(f"network is off in tests: refused connection to {address!r}")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def load_event() -> Callable[[str], Any]:
    """Load a sample from events/ (the same files `sam local invoke -e` takes)."""
    return read_event


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff sleeps are recorded instead of slept."""
    from orgbackup import retry

    slept: list[float] = []
    monkeypatch.setattr(retry.DEFAULT_BACKOFF, "sleep", slept.append)
    return slept


@pytest.fixture(scope="session", autouse=True)
def _botocore_data_read_once() -> Iterator[None]:
    """botocore reads its data files (endpoints, each service's model: JSON, megabytes) once per session, and the
    tests make thousands of sessions (each emulated Lambda starts cold, each assumed role gets one). Within one
    session botocore already shares each parsed file between its clients and treats it as read-only; here every
    session of the test process shares it. Only the time to read changes, never what is read."""
    original = botocore.loaders.JSONFileLoader.load_file
    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    def load_file(self: botocore.loaders.JSONFileLoader, file_path: str) -> Any:
        with lock:
            if file_path in parsed:
                return parsed[file_path]
        data = original(self, file_path)
        if data is None:
            return None
        with lock:
            return parsed.setdefault(file_path, data)

    botocore.loaders.JSONFileLoader.load_file = load_file  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.loaders.JSONFileLoader.load_file = original  # type: ignore[method-assign]
