"""Fixtures of the API tests: two seeded tenants on one engine, an app, a TestClient, a live server."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from invoiceflow.api import ApiSettings, create_app
from api_seed import clock, seed_tenant

JWT_SECRET = "test-secret-not-for-production-0123456789"


def settings(**over) -> ApiSettings:
    base = dict(rate_per_second=10_000, burst=10_000, jwt_secret=JWT_SECRET)
    return ApiSettings(**{**base, **over})


@pytest.fixture
def world(engine):
    """(engine, tenant alpha, tenant beta): beta has two policy versions, alpha one."""
    return engine, seed_tenant(engine, "alpha", "only-a"), seed_tenant(engine, "beta", "only-b", policies=2)


@pytest.fixture
def app(world):
    return create_app(world[0], settings=settings(), clock=clock())


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


class LiveServer:
    """The app under uvicorn on a free loopback port, in a thread; stopped at the end of the test."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live(app):
    with LiveServer(app) as server:
        yield server
