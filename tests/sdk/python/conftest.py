"""Start/stop a real `keyward serve` process for the Python SDK compatibility suite.

Contract (see tests/sdk/README.md):
  $KEYWARD_BIN serve --data-dir <tmp> --listen 127.0.0.1:<port> --unsafe-test-clock
  readiness: GET /healthz -> 200 (30 s timeout)
  <tmp>/admin.apikey, <tmp>/bootstrap.json {account_id, kms_instance_id, url}
  POST /identity/token (IBM form) -> {access_token}
  POST /admin/test-clock {advance_seconds} -> {now}
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
from pathlib import Path

import pytest
import requests
from ibm_cloud_sdk_core.authenticators import IAMAuthenticator
from keyprotect import IbmKeyProtectApiV2

REPO_ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 30


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


class KeywardServer:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.data_dir: Path | None = None
        self.log_file: Path | None = None
        self.port: int | None = None
        self.base_url = ""
        self.apikey = ""
        self.account_id = ""
        self.instance_id = ""

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "KeywardServer":
        binary = resolve_binary()
        self.data_dir = Path(tempfile.mkdtemp(prefix="keyward-py-sdk-"))
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
                if apikey and boot.get("kms_instance_id"):
                    self.apikey = apikey
                    self.account_id = str(boot["account_id"])
                    self.instance_id = boot["kms_instance_id"]
                    url = str(boot.get("url") or self.base_url).rstrip("/")
                    if url != self.base_url:
                        raise RuntimeError(f"bootstrap.json url {url} != {self.base_url}")
                    return
                last = "empty admin.apikey or missing kms_instance_id"
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

    # ------------------------------------------------------------ helpers
    def client(self, apikey: str | None = None) -> IbmKeyProtectApiV2:
        """A new SDK client with its own IAMAuthenticator (hence its own token cache)."""
        kp = IbmKeyProtectApiV2(authenticator=IAMAuthenticator(apikey or self.apikey, url=self.base_url))
        kp.set_service_url(self.base_url)
        kp.set_http_config({"timeout": HTTP_TIMEOUT_S})
        return kp

    def token(self) -> str:
        """Raw IBM-form token request (only for the non-SDK admin endpoints)."""
        r = requests.post(
            f"{self.base_url}/identity/token",
            data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": self.apikey},
            headers={"Accept": "application/json"},
            timeout=10,
        )
        assert r.status_code == 200, f"token request failed: HTTP {r.status_code} {r.text}"
        return r.json()["access_token"]

    def new_manager(self, name: str) -> str:
        """A new user of the bootstrap account with the Manager role on the KMS instance, made
        through the IAM API as an administrator would; returns its API key."""
        headers = {"Authorization": f"Bearer {self.token()}"}

        def post(path: str, body: dict) -> dict:
            r = requests.post(f"{self.base_url}{path}", json=body, headers=headers, timeout=10)
            assert r.status_code == 201, f"POST {path}: HTTP {r.status_code} {r.text}"
            return r.json()

        iam_id = post("/v1/users", {"name": name})["iam_id"]
        apikey = post("/v1/apikeys", {"name": f"{name} key", "iam_id": iam_id})["apikey"]
        post(
            "/v1/policies",
            {
                "type": "access",
                "subjects": [{"attributes": [{"name": "iam_id", "value": iam_id}]}],
                "roles": [{"role_id": "crn:v1:bluemix:public:iam::::serviceRole:Manager"}],
                "resources": [
                    {
                        "attributes": [
                            {"name": "serviceName", "value": "kms"},
                            {"name": "serviceInstance", "value": self.instance_id},
                        ]
                    }
                ],
            },
        )
        return apikey

    def advance_clock(self, seconds: int) -> str:
        """Advance the server's test clock. Use a fresh `client()` afterwards: tokens issued
        before the advance may be expired in server time."""
        r = requests.post(
            f"{self.base_url}/admin/test-clock",
            json={"advance_seconds": seconds},
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=10,
        )
        assert r.status_code == 200, f"test-clock advance failed: HTTP {r.status_code} {r.text}"
        return r.json()["now"]

    def raw_kms(self, method: str, path: str):
        """Best-effort raw request, for cleanup only (never used for assertions)."""
        try:
            r = requests.request(
                method,
                f"{self.base_url}{path}",
                headers={"Authorization": f"Bearer {self.token()}", "Bluemix-Instance": self.instance_id},
                timeout=10,
            )
            return r.status_code
        except Exception as e:  # noqa: BLE001
            return str(e)


_failed = False
_log_tail = ""


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


@pytest.fixture
def kp(server) -> IbmKeyProtectApiV2:
    """A fresh client per test (fresh token, robust against earlier test-clock advances)."""
    return server.client()


@pytest.fixture
def bi(server) -> str:
    return server.instance_id
