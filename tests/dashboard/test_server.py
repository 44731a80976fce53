"""The dashboard as users start it: `llmledger dashboard` (loopback, token, warning), mounted
in a host app under a prefix, on a database not set up, and without its optional extra."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

import llmledger.dashboard
from llmledger.dashboard.auth import TokenAuth
from llmledger.dashboard.serve import is_loopback
from llmledger.store import make_engine
from llmledger.store.engine import current_revision

from .conftest import RANGE

SOURCES = str(Path(llmledger.__file__).parent.parent)


def test_setup_required_on_a_database_without_the_ledger(database_url):
    engine = make_engine(database_url)
    with TestClient(llmledger.dashboard.app(engine)) as client:
        response = client.get("/")
        assert response.status_code == 503
        assert "Setup required" in response.text and "llmledger db upgrade" in response.text
        assert client.get("/calls.csv").status_code == 503
    assert current_revision(engine) is None  # read-only: no table was created
    engine.dispose()


def test_mounted_under_a_prefix_links_stay_inside_it(ledger_url):
    engine = make_engine(ledger_url)
    host = Starlette(routes=[Mount("/llm-costs", llmledger.dashboard.app(engine))])
    with TestClient(host) as client:
        page = client.get(f"/llm-costs/models?{RANGE}").text
        assert 'href="/llm-costs/static/style.css"' in page
        assert 'href="/llm-costs/calls?from=2026-10-01' in page
        assert client.get("/llm-costs/static/style.css").status_code == 200
        assert 'href="/models' not in page
    engine.dispose()


def test_token_auth_as_bearer_or_basic_password(ledger_url):
    app = TokenAuth(llmledger.dashboard.app(ledger_url), "s3cret")
    with TestClient(app) as client:
        refused = client.get(f"/?{RANGE}")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic realm=")
        assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        bearer = client.get(f"/?{RANGE}", headers={"Authorization": "Bearer s3cret"})
        assert bearer.status_code == 200
        basic = base64.b64encode(b"anyone:s3cret").decode()
        assert client.get(f"/?{RANGE}", headers={"Authorization": f"Basic {basic}"}).is_success
        assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert not is_loopback("dashboard.example")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(args: list[str]) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": SOURCES}
    env.pop("LLMLEDGER_DASHBOARD_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "llmledger.cli", "dashboard", "--port", str(port), *args],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/static/style.css", timeout=1)
            return process, port
        except httpx.TransportError:  # not listening yet
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the dashboard did not start: {process.stderr.read()}")


def _stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        return process.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[1]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_warns_when_bound_elsewhere_without_a_token(ledger_url):
    process, port = _serve(["--db", ledger_url, "--host", "0.0.0.0"])
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/?{RANGE}", timeout=30).status_code == 200
    finally:
        stderr = _stop(process)
    assert "WARNING: bound to 0.0.0.0 without --token" in stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_with_a_token(ledger_url):
    process, port = _serve(["--db", ledger_url, "--host", "0.0.0.0", "--token", "t0k"])
    try:
        url = f"http://127.0.0.1:{port}/?{RANGE}"
        assert httpx.get(url, timeout=30).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer t0k"}, timeout=30).is_success
    finally:
        stderr = _stop(process)
    assert "WARNING" not in stderr


def test_cli_refuses_a_missing_sqlite_file(tmp_path):
    missing = tmp_path / "nothing.db"
    result = subprocess.run(
        [sys.executable, "-m", "llmledger.cli", "dashboard", "--db", str(missing)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SOURCES},
        timeout=60,
    )
    assert result.returncode == 1 and "no ledger at" in result.stderr
    assert not missing.exists()


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SOURCES},
        timeout=60,
    )


def test_importing_llmledger_imports_no_web_framework():
    result = _python(
        "import sys, llmledger, llmledger.dashboard, llmledger.cli\n"
        "print(sorted(m for m in ('starlette', 'jinja2', 'uvicorn') if m in sys.modules))"
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_without_the_extra_app_names_the_install():
    result = _python(
        "import sys; sys.modules['starlette'] = None\n"
        "import llmledger.dashboard\n"
        "try:\n    llmledger.dashboard.app('sqlite://')\n"
        "except ImportError as e:\n    print(type(e).__name__, e)"
    )
    assert "DashboardUnavailable" in result.stdout
    assert "pip install 'llmledger[dashboard]'" in result.stdout
