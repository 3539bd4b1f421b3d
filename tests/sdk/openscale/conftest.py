"""Start/stop a real `keyward serve` process for the OpenScale SDK compatibility suite
(PyPI `ibm-watson-openscale` 3.1.11, unmodified).

Contract (see README.md beside this file):
  $KEYWARD_BIN serve --data-dir <tmp> --listen 127.0.0.1:<port> --unsafe-test-clock
  readiness: GET /healthz -> 200 (30 s timeout)
  <tmp>/admin.apikey, <tmp>/bootstrap.json {account_id, kms_instance_id, config_instance_id, url}
  POST /identity/token (IBM form) -> {access_token}        (JWT with numeric exp and iat)
  POST /admin/test-clock {advance_seconds} -> 200
  POST /v2/resource_instances {name, service: "configsvc"} -> 201 {guid}
  POST /v1/policies (service-to-service authorization configsvc -> kms) -> 201
  Key Protect: POST /api/v2/keys, POST /api/v2/keys/{id}/actions/{disable|enable}, DELETE /api/v2/keys/{id}

The customer PostgreSQL used for external data marts comes from KEYWARD_TEST_DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/test, trust auth) and is checked with `psql`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import requests
from ibm_cloud_sdk_core.authenticators import BearerTokenAuthenticator, IAMAuthenticator
from ibm_watson_openscale import APIClient

REPO_ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 30
AUTHS = ("bearer", "iam")
KEY_TYPE = "application/vnd.ibm.kms.key+json"
DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"


def resolve_binary() -> Path:
    raw = os.environ.get("KEYWARD_BIN") or "target/debug/keyward"
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.exists():
        raise RuntimeError(
            f"keyward binary not found at {path} (KEYWARD_BIN={os.environ.get('KEYWARD_BIN', '<unset>')}); "
            "build it first (cargo build) or point KEYWARD_BIN at it"
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ResponseRecorder:
    """Keeps the raw text of every HTTP response an SDK client receives (a `requests` response
    hook on the client's own session; the SDK itself is not touched). Used to prove that a
    secret never comes back in any response body, whatever the SDK models would drop."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str, int, str]] = []

    def __call__(self, response, *args, **kwargs):
        try:
            text = response.text
        except Exception as e:  # noqa: BLE001
            text = f"<unreadable body: {e}>"
        self.bodies.append((response.request.method, response.url, response.status_code, text))
        return response

    def assert_never_contains(self, *secrets: str) -> None:
        assert self.bodies, "no response was recorded"
        for method, url, status, text in self.bodies:
            for secret in secrets:
                assert secret not in text, f"secret {secret!r} leaked in {method} {url} -> {status}: {text[:500]}"


class KeywardServer:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.data_dir: Path | None = None
        self.log_file: Path | None = None
        self.port: int | None = None
        self.base_url = ""
        self.apikey = ""
        self.account_id = ""
        self.kms_instance_id = ""
        self.config_instance_id = ""
        self.kms_authorized = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "KeywardServer":
        binary = resolve_binary()
        self.data_dir = Path(tempfile.mkdtemp(prefix="keyward-openscale-sdk-"))
        self.log_file = self.data_dir / "server.log"
        self.port = free_port()
        # run.sh serves HTTPS with a development CA (REQUESTS_CA_BUNDLE points at it).
        tls_dir = os.environ.get("KEYWARD_SDK_TLS_DIR")
        tls_args = ["--tls-cert", f"{tls_dir}/cert.pem", "--tls-key", f"{tls_dir}/key.pem"] if tls_dir else []
        self.base_url = f"{'https' if tls_dir else 'http'}://127.0.0.1:{self.port}"
        with open(self.log_file, "ab") as log:
            # The environment is passed through unchanged (KEYWARD_DATABASE_URL selects PostgreSQL).
            self.proc = subprocess.Popen(
                [
                    str(binary),
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--unsafe-test-clock",
                    *tls_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        try:
            self._wait_ready()
            self._read_bootstrap()
        except BaseException as e:
            tail = self.stop(show_log=True)
            raise RuntimeError(f"{e}\n{tail}") from e
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no attempt"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError(f"keyward exited with code {rc} before becoming ready")
            try:
                r = requests.get(f"{self.base_url}/healthz", timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:
                last = str(e)
            time.sleep(0.1)
        raise RuntimeError(f"keyward not ready after {READY_TIMEOUT_S:.0f}s (last: {last})")

    def _read_bootstrap(self) -> None:
        # Written at start-up; allow a short grace period after /healthz.
        deadline = time.monotonic() + 5
        last = ""
        while time.monotonic() < deadline:
            try:
                apikey = (self.data_dir / "admin.apikey").read_text().strip()
                boot = json.loads((self.data_dir / "bootstrap.json").read_text())
                if apikey and boot.get("kms_instance_id") and boot.get("config_instance_id"):
                    self.apikey = apikey
                    self.account_id = str(boot["account_id"])
                    self.kms_instance_id = boot["kms_instance_id"]
                    self.config_instance_id = boot["config_instance_id"]
                    url = str(boot.get("url") or self.base_url).rstrip("/")
                    if url != self.base_url:
                        raise RuntimeError(f"bootstrap.json url {url} != {self.base_url}")
                    return
                last = "empty admin.apikey or missing kms_instance_id/config_instance_id"
            except (OSError, ValueError, KeyError) as e:
                last = str(e)
            time.sleep(0.1)
        raise RuntimeError(f"could not read admin.apikey/bootstrap.json in {self.data_dir}: {last}")

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError as e:
            return f"<no keyward log: {e}>"
        return f"--- keyward log ({self.log_file}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self, show_log: bool = False) -> str:
        """Stop the server (SIGTERM, then SIGKILL) and remove the data dir; returns the log tail
        when show_log is set."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        tail = self.log_tail() if show_log else ""
        if self.data_dir is not None:
            if os.environ.get("KEYWARD_KEEP_DATA"):
                print(f"keyward data dir kept: {self.data_dir}")
            else:
                shutil.rmtree(self.data_dir, ignore_errors=True)
        return tail

    # ------------------------------------------------------------ SDK clients
    def token(self, apikey: str | None = None) -> str:
        """Raw IBM-form token request (bearer clients and the non-SDK admin endpoints)."""
        r = requests.post(
            f"{self.base_url}/identity/token",
            data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": apikey or self.apikey},
            headers={"Accept": "application/json"},
            timeout=10,
        )
        assert r.status_code == 200, f"token request failed: HTTP {r.status_code} {r.text}"
        return r.json()["access_token"]

    def authenticator(self, auth: str):
        if auth == "bearer":
            return BearerTokenAuthenticator(self.token())
        if auth == "iam":
            return IAMAuthenticator(self.apikey, url=self.base_url)
        raise ValueError(f"unknown auth {auth!r}")

    def client(self, auth: str, instance_id: str | None = None) -> APIClient:
        """A new, unmodified SDK client for one config instance, with a ResponseRecorder on its
        HTTP session (attribute `recorder`). Construction already talks to the server:
        heartbeat (bearer) or /identity/token + /v1/entitlements (IAM), then monitor_definitions."""
        client = APIClient(
            authenticator=self.authenticator(auth),
            service_url=self.base_url,
            service_instance_id=instance_id or self.config_instance_id,
        )
        client.set_http_config({"timeout": HTTP_TIMEOUT_S})
        recorder = ResponseRecorder()
        client.get_http_client().hooks["response"].append(recorder)
        client.recorder = recorder
        return client

    # ------------------------------------------------------------ admin / Key Protect (raw REST)
    def admin(self, method: str, path: str, *, json_body=None, kms: bool = False, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        if kms:
            headers["Bluemix-Instance"] = self.kms_instance_id
        return requests.request(method, f"{self.base_url}{path}", json=json_body, headers=headers, timeout=HTTP_TIMEOUT_S, **kw)

    def create_instance(self, name: str | None = None) -> str:
        """A fresh config instance (POST /v2/resource_instances) -> its GUID."""
        r = self.admin("POST", "/v2/resource_instances", json_body={"name": name or f"os-{uuid.uuid4().hex[:8]}", "service": "configsvc"})
        assert r.status_code == 201, f"create config instance: HTTP {r.status_code} {r.text}"
        guid = r.json()["guid"]
        assert isinstance(guid, str) and len(guid) == 36, f"instance guid must be GUID-shaped: {guid!r}"
        return guid

    def create_root_key(self, name: str | None = None) -> dict:
        body = {
            "metadata": {"collectionType": KEY_TYPE, "collectionTotal": 1},
            "resources": [{"type": KEY_TYPE, "name": name or f"byok{uuid.uuid4().hex[:8]}", "extractable": False}],
        }
        r = self.admin("POST", "/api/v2/keys", json_body=body, kms=True)
        assert r.status_code == 201, f"create root key: HTTP {r.status_code} {r.text}"
        key = r.json()["resources"][0]
        assert key.get("id") and isinstance(key.get("crn"), str) and key["crn"].startswith("crn:"), key
        return key

    def key_action(self, key_id: str, action: str) -> None:
        r = self.admin("POST", f"/api/v2/keys/{key_id}/actions/{action}", kms=True)
        assert r.status_code in (200, 204), f"key {action}: HTTP {r.status_code} {r.text}"

    def delete_key(self, key_id: str) -> None:
        r = self.admin("DELETE", f"/api/v2/keys/{key_id}", kms=True)
        assert r.status_code in (200, 204), f"delete key: HTTP {r.status_code} {r.text}"

    def grant_kms_authorization(self) -> None:
        body = {
            "type": "authorization",
            "subjects": [{"attributes": [{"name": "serviceName", "value": "configsvc"}]}],
            "roles": [{"role_id": "crn:v1:bluemix:public:iam::::serviceRole:Reader"}],
            "resources": [
                {
                    "attributes": [
                        {"name": "serviceName", "value": "kms"},
                        {"name": "serviceInstance", "value": self.kms_instance_id},
                    ]
                }
            ],
        }
        r = self.admin("POST", "/v1/policies", json_body=body)
        assert r.status_code == 201, f"authorization policy: HTTP {r.status_code} {r.text}"
        self.kms_authorized = True

    def advance_clock(self, seconds: int) -> None:
        """Advance the server's test clock. Build fresh SDK clients afterwards (new tokens)."""
        r = self.admin("POST", "/admin/test-clock", json_body={"advance_seconds": seconds})
        assert r.status_code == 200, f"test-clock advance failed: HTTP {r.status_code} {r.text}"


class CustomerPostgres:
    """The customer's PostgreSQL that external data marts point at (checked with psql)."""

    def __init__(self, url: str) -> None:
        self.url = url
        u = urlparse(url)
        self.hostname = u.hostname or "127.0.0.1"
        self.port = u.port or 5432
        self.username = unquote(u.username or "postgres")
        self.db = unquote((u.path or "/").lstrip("/")) or "postgres"
        self.created: list[str] = []

    def psql(self, sql: str) -> str:
        r = subprocess.run(["psql", self.url, "-Atc", sql], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout.strip()

    def new_schema_name(self) -> str:
        name = f"wos_{uuid.uuid4().hex[:12]}"
        self.created.append(name)
        return name

    def schema_exists(self, name: str) -> bool:
        return self.psql(f"select 1 from information_schema.schemata where schema_name='{name}'") == "1"

    def credentials(self, password: str, db: str | None = None) -> dict:
        # trust auth: any password is accepted by the database, but the server must still
        # store it as a secret and decrypt it to connect.
        return {
            "hostname": self.hostname,
            "username": self.username,
            "password": password,
            "db": db or self.db,
            "port": self.port,
            "ssl": False,
        }

    def cleanup(self) -> None:
        for name in self.created:
            try:
                self.psql(f'drop schema if exists "{name}" cascade')
            except Exception as e:  # noqa: BLE001 - best effort
                print(f"could not drop schema {name}: {e}")


# ---------------------------------------------------------------- pytest wiring

_failed = False
_log_tail = ""


def pytest_collection_modifyitems(session, config, items):
    """Tests that need the configsvc -> kms authorization to be still missing run first."""
    first = [i for i in items if i.get_closest_marker("before_kms_authorization")]
    rest = [i for i in items if not i.get_closest_marker("before_kms_authorization")]
    items[:] = first + rest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    global _failed
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        _failed = True


@pytest.fixture(scope="session")
def server():
    global _log_tail
    try:
        srv = KeywardServer().start()
    except Exception as e:  # noqa: BLE001 - one clear failure instead of an error per test
        pytest.exit(f"keyward server failed to start: {e}", returncode=1)
    try:
        yield srv
    finally:
        _log_tail = srv.stop(show_log=_failed)


def pytest_terminal_summary(terminalreporter):
    if _log_tail:
        terminalreporter.section("keyward server log (tail)")
        terminalreporter.write_line(_log_tail)


@pytest.fixture(scope="session")
def kms_authorized(server) -> KeywardServer:
    """Grants the service-to-service authorization configsvc -> kms once per session."""
    if not server.kms_authorized:
        server.grant_kms_authorization()
    return server


@pytest.fixture(scope="session")
def pg():
    url = os.environ.get("KEYWARD_TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL
    if shutil.which("psql") is None:
        pytest.fail("psql not found: the data mart tests check the customer database with psql", pytrace=False)
    db = CustomerPostgres(url)
    try:
        assert db.psql("select 1") == "1"
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"customer PostgreSQL {url} (KEYWARD_TEST_DATABASE_URL) not reachable: {e}", pytrace=False)
    try:
        yield db
    finally:
        db.cleanup()


@pytest.fixture(params=AUTHS)
def auth(request) -> str:
    """Runs a test once with BearerTokenAuthenticator and once with IAMAuthenticator."""
    return request.param


@pytest.fixture
def client(server, auth) -> APIClient:
    """SDK client on the bootstrap config instance, for the parametrized authenticator."""
    return server.client(auth)
