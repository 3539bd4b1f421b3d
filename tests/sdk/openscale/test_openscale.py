"""Keyward compatibility suite for the unmodified Python SDK `ibm-watson-openscale` 3.1.11
(ibm-cloud-sdk-core 3.25.0): data marts, service providers, integrated systems and the BYOK
user preference `user_root_key_crn` (envelope encryption of instance secrets under a
customer root key held in keyward's Key Protect API).

It drives a real `keyward serve` process over a socket; fixtures live in conftest.py.
Wire contract: /work/shared/reference/openscale-api.md. Run: tests/sdk/run.sh openscale.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
import requests
from ibm_cloud_sdk_core import ApiException
from ibm_cloud_sdk_core.authenticators import IAMAuthenticator
from ibm_watson_openscale import APIClient
from ibm_watson_openscale.base_classes.watson_open_scale_v2 import (
    CustomCredentials,
    DatabaseConfigurationRequest,
    JsonPatchOperation,
    LocationSchemaName,
    PatchDocument,
    PrimaryStorageCredentialsLong,
    UserPreferences,
)
from ibm_watson_openscale.utils.client_errors import AuthorizationError, DuplicateError

GLOBAL = "global"
PREF = "user_root_key_crn"
DM_TIMEOUT_S = 25.0  # data mart state changes (connect + create schema)
SETTLE_S = 3.0  # a data mart already in the wanted state must stay there this long after a PATCH
SWITCH_TIMEOUT_S = 30.0  # re-encryption after a root key change
GONE_TIMEOUT_S = 25.0  # deleted resources leaving the list
POLL_S = 0.5


# ---------------------------------------------------------------- helpers


def rand() -> str:
    return uuid.uuid4().hex[:8]


def new_secret(what: str) -> str:
    return f"{what}-secret-{uuid.uuid4().hex}"


def ok(response, *codes) -> None:
    status = response.get_status_code()
    if codes:
        assert status in codes, f"HTTP {status}, expected {codes}"
    else:
        assert 200 <= status <= 299, f"HTTP {status}"


def api_error(fn, *statuses) -> ApiException:
    """fn() must raise ApiException with one of `statuses`, a non-empty message and IBM's error
    body {"trace": ..., "errors": [{"code": ..., "message": ...}]}."""
    with pytest.raises(ApiException) as info:
        fn()
    e = info.value
    body = e.http_response.text if e.http_response is not None else ""
    assert e.status_code in statuses, f"HTTP {e.status_code} ({e.message}), expected one of {statuses}; body: {body[:500]}"
    assert isinstance(e.message, str) and e.message.strip(), f"empty error message; body: {body[:500]}"
    parsed = e.http_response.json()
    assert isinstance(parsed.get("trace"), str) and parsed["trace"], f"error body without trace: {parsed}"
    assert isinstance(parsed.get("errors"), list) and parsed["errors"], f"error body without errors: {parsed}"
    first = parsed["errors"][0]
    assert isinstance(first.get("code"), str) and first["code"], f"errors[0].code missing: {parsed}"
    assert first.get("message") == e.message, "the SDK takes its message from errors[0].message"
    return e


def foreign_crn(crn: str) -> str:
    """The same key CRN with another cname/ctype/region (a Key Protect this server cannot reach)."""
    parts = crn.split(":")
    assert len(parts) == 10 and parts[4] == "kms" and parts[8] == "key", f"unexpected key CRN shape: {crn}"
    parts[2], parts[3], parts[5] = "bluemix", "public", "us-south"
    return ":".join(parts)


# --- data marts


def db_config(pg, schema: str, password: str, db: str | None = None) -> DatabaseConfigurationRequest:
    c = pg.credentials(password, db=db)
    return DatabaseConfigurationRequest(
        database_type="postgresql",
        credentials=PrimaryStorageCredentialsLong(
            hostname=c["hostname"],
            username=c["username"],
            password=c["password"],
            db=c["db"],
            port=c["port"],
            ssl=c["ssl"],
        ),
        location=LocationSchemaName(schema_name=schema),
    )


def dm_state(dm) -> str:
    assert dm.entity.status is not None, "data mart without entity.status"
    return dm.entity.status.state


def dm_failure(dm) -> str:
    f = dm.entity.status.failure if dm.entity.status is not None else None
    if f is None or not f.errors:
        return ""
    return f.errors[0].message or ""


def assert_secret_ref(creds) -> str:
    """Credentials as returned by the server: exactly {"secret_id": <non-empty string>}."""
    d = creds if isinstance(creds, dict) else creds.to_dict()
    assert set(d) == {"secret_id"}, f"credentials must be only a secret reference, got {d}"
    assert isinstance(d["secret_id"], str) and d["secret_id"], d
    return d["secret_id"]


def wait_data_mart(client, dm_id: str, want: str, timeout: float = DM_TIMEOUT_S, fail_fast_on=(), settle: float = 0.0):
    """Polls GET data_marts/{id} until entity.status.state == want. With `settle`, the state must
    then stay `want` for that many seconds (used after a PATCH of a data mart that was already
    in `want`, so that a reconnect that has not started yet cannot pass unnoticed)."""
    deadline = time.monotonic() + timeout + settle
    since = None
    while True:
        dm = client.data_marts.get(dm_id).result
        state = dm_state(dm)
        now = time.monotonic()
        if state in fail_fast_on:
            pytest.fail(f"data mart {dm_id} reached {state!r} instead of {want!r}: {dm_failure(dm)}")
        if state == want:
            since = now if since is None else since
            if now - since >= settle:
                return dm
        else:
            since = None
        if now > deadline:
            pytest.fail(f"data mart {dm_id} not {want!r} after {timeout:.0f}s: state {state!r}, failure {dm_failure(dm)!r}")
        time.sleep(POLL_S)


def wait_gone(list_ids, what: str, item_id: str, timeout: float = GONE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while item_id in list_ids():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} {item_id} still listed {timeout:.0f}s after delete")
        time.sleep(POLL_S)


def dm_ids(client) -> list:
    return [dm.metadata.id for dm in client.data_marts.list().result.data_marts]


def add_external_data_mart(client, pg, instance_id: str, password: str, *, db: str | None = None, name: str | None = None):
    """Adds the instance's data mart on the customer PostgreSQL; returns (response model, schema)."""
    schema = pg.new_schema_name()
    resp = client.data_marts.add(
        name=name or f"dm-{rand()}",
        description="keyward openscale sdk suite",
        database_configuration=db_config(pg, schema, password, db=db),
    )
    ok(resp)
    dm = resp.result
    assert dm.metadata.id == instance_id, "the data mart id is the service instance id"
    assert dm.entity.database_configuration.database_type == "postgresql"
    assert_secret_ref(dm.entity.database_configuration.credentials)
    assert dm.entity.database_configuration.location.schema_name == schema
    assert dm_state(dm) == "preparing", f"a new data mart starts in 'preparing', got {dm_state(dm)!r}"
    return dm, schema


def patch_dm(client, dm_id: str, *ops: JsonPatchOperation):
    resp = client.data_marts.patch(dm_id, list(ops))
    ok(resp)
    return resp.result


def best_effort(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - cleanup only
        print(f"cleanup: {getattr(fn, '__qualname__', fn)} failed: {e}")


# --- user preferences


def crn_value(v):
    """A preference value as the server may return it: a bare CRN string, {"value": crn} or
    {"user_root_key_crn": crn}; None when unset."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        for k in (PREF, "value"):
            if k in v:
                return crn_value(v[k])
        return None
    raise AssertionError(f"unexpected preference value {v!r}")


def prefs(up: UserPreferences) -> dict:
    r = up.list()
    ok(r, 200)
    m = r.get_result()
    assert isinstance(m, dict), f"GET /v2/user_preferences must return a JSON object, got {m!r}"
    kp = m.get("key_protection")
    assert isinstance(kp, dict), f"user preferences without key_protection object: {m}"
    assert isinstance(kp.get("root_key"), str) and kp["root_key"], kp
    assert kp.get("switching_to") is None or isinstance(kp["switching_to"], str), kp
    # progress {"done", "total"}; null is accepted only while no switch is running
    progress = kp.get("progress")
    if progress is not None or kp["switching_to"] is not None:
        assert isinstance(progress, dict), f"a running switch needs progress {{done, total}}: {kp}"
        assert isinstance(progress.get("done"), int) and isinstance(progress.get("total"), int), kp
        assert 0 <= progress["done"] <= progress["total"], kp
    return m


def snapshot(up: UserPreferences) -> tuple:
    m = prefs(up)
    kp = m["key_protection"]
    return crn_value(m.get(PREF)), kp["root_key"], kp["switching_to"]


def wait_switch(up: UserPreferences, root: str, timeout: float = SWITCH_TIMEOUT_S) -> dict:
    """Polls until re-encryption is finished (switching_to null) under `root` (a CRN or "global")."""
    deadline = time.monotonic() + timeout
    while True:
        m = prefs(up)
        kp = m["key_protection"]
        if kp["switching_to"] is None and kp["root_key"] == root:
            if kp["progress"] is not None:
                assert kp["progress"]["done"] == kp["progress"]["total"], f"finished switch with progress {kp}"
            expected = None if root == GLOBAL else root
            assert crn_value(m.get(PREF)) == expected, f"{PREF} is {m.get(PREF)!r}, expected {expected!r}"
            return m
        if time.monotonic() > deadline:
            pytest.fail(f"root key switch to {root} not finished after {timeout:.0f}s: {m}")
        time.sleep(POLL_S)


def set_root_key(up: UserPreferences, crn: str) -> None:
    r = up.update(PREF, {PREF: crn})
    ok(r, 200)
    assert isinstance(r.get_result(), (dict, list, str)), "PUT user_root_key_crn must answer JSON"
    wait_switch(up, crn)


def pref_get(up: UserPreferences):
    """GET /v2/user_preferences/user_root_key_crn -> the CRN, or None if unset (404 accepted)."""
    try:
        r = up.get(PREF)
    except ApiException as e:
        assert e.status_code == 404, f"GET {PREF}: HTTP {e.status_code} {e.message}"
        return None
    ok(r, 200)
    return crn_value(r.get_result())


# --- service providers / integrated systems


def sp_ids(client) -> list:
    return [sp.metadata.id for sp in client.service_providers.list().result.service_providers]


def add_service_provider(client, password: str, name: str | None = None):
    resp = client.service_providers.add(
        name=name or f"sp-{rand()}",
        service_type="custom_machine_learning",
        description="custom ML engine",
        credentials=CustomCredentials(url="http://127.0.0.1:9/ml", username="ml-user", password=password),
    )
    ok(resp)
    sp = resp.result
    assert sp.metadata.id
    assert sp.entity.service_type == "custom_machine_learning"
    assert_secret_ref(sp.entity.credentials)
    return sp


def is_ids(client, **kw) -> list:
    return [s.metadata.id for s in client.integrated_systems.list(**kw).result.integrated_systems]


# ---------------------------------------------------------------- construction and discovery


def test_heartbeat_answers_without_auth(server):
    r = requests.get(f"{server.base_url}/v2/fairness/heartbeat", headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json().get("is_cloud") is True


def test_client_construction(server, auth):
    c = server.client(auth)
    assert c.service_instance_id == server.config_instance_id
    assert c.service_url == f"{server.base_url}/openscale/{server.config_instance_id}"
    assert c.is_cp4d is False, "heartbeat is_cloud=true -> cloud mode"
    assert c.check_entitlements is (auth == "iam")
    r = requests.get(
        f"{c.service_url}/v2/monitor_definitions",
        headers={"Authorization": f"Bearer {server.token()}", "Accept": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"monitor_definitions": []}


def test_entitlements_list_created_instances(server):
    guid = server.create_instance()
    r = requests.get(
        f"{server.base_url}/v1/entitlements?nocache=true",
        headers={"Authorization": f"Bearer {server.token()}", "Accept": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    ids = [i["id"] for i in r.json()["entitlements"]["ai_openscale"]]
    assert server.config_instance_id in ids and guid in ids, ids
    # and the IAM client (which checks entitlements) works on the fresh instance
    c = server.client("iam", guid)
    assert c.data_marts.list().result.data_marts == []


def test_iam_client_for_unlisted_instance_is_refused(server):
    with pytest.raises(AuthorizationError):
        APIClient(
            authenticator=IAMAuthenticator(server.apikey, url=server.base_url),
            service_url=server.base_url,
            service_instance_id=str(uuid.uuid4()),
        )


# ---------------------------------------------------------------- data marts


def test_data_mart_external_postgres_lifecycle(server, pg, auth):
    iid = server.create_instance()
    c = server.client(auth, iid)
    pw = new_secret("dm")
    dm, schema = add_external_data_mart(c, pg, iid, pw, name="dm-main")
    deleted = False
    try:
        first_secret = assert_secret_ref(dm.entity.database_configuration.credentials)
        active = wait_data_mart(c, iid, "active", fail_fast_on=("error",))
        assert pg.schema_exists(schema), f"schema {schema} not created in the customer database"
        assert active.entity.name == "dm-main"
        assert assert_secret_ref(active.entity.database_configuration.credentials) == first_secret

        listed = c.data_marts.list().result.data_marts
        assert [d.metadata.id for d in listed] == [iid], "one data mart per instance"
        c.data_marts.show()  # the SDK's table view parses every listed data mart

        # description
        patched = patch_dm(c, iid, JsonPatchOperation(op="replace", path="/description", value="new"))
        assert patched.entity.description == "new"
        assert c.data_marts.get(iid).result.entity.description == "new"
        wait_data_mart(c, iid, "active", fail_fast_on=("error",), settle=SETTLE_S)

        # new credentials: still only a secret reference, and the server reconnects with them
        pw2 = new_secret("dm2")
        patched = patch_dm(
            c,
            iid,
            JsonPatchOperation(op="replace", path="/database_configuration/credentials", value=pg.credentials(pw2)),
        )
        assert_secret_ref(patched.entity.database_configuration.credentials)
        assert json.dumps(patched.to_dict()).find(pw2) < 0
        wait_data_mart(c, iid, "active", fail_fast_on=("error",), settle=SETTLE_S)
        assert pg.schema_exists(schema)

        got = c.data_marts.get(iid)
        assert pw not in json.dumps(got.result.to_dict()) and pw2 not in json.dumps(got.result.to_dict())
        c.recorder.assert_never_contains(pw, pw2)

        ok(c.data_marts.delete(iid))
        deleted = True
        wait_gone(lambda: dm_ids(c), "data mart", iid)
    finally:
        if not deleted:
            best_effort(c.data_marts.delete, iid)


def test_data_mart_unknown_database_reaches_error(server, pg):
    iid = server.create_instance()
    c = server.client("bearer", iid)
    pw = new_secret("dm")
    missing_db = f"keyward_missing_{rand()}"
    add_external_data_mart(c, pg, iid, pw, db=missing_db)
    try:
        dm = wait_data_mart(c, iid, "error", fail_fast_on=("active",))
        msg = dm_failure(dm)
        assert msg.strip(), "state 'error' needs status.failure.errors[0].message"
        assert missing_db in msg or "does not exist" in msg.lower(), f"failure should explain the missing database: {msg!r}"
        assert dm.entity.status.failure.trace, "status.failure.trace is required by the SDK model"
        c.recorder.assert_never_contains(pw)
    finally:
        best_effort(c.data_marts.delete, iid)


def test_data_mart_internal_database(server):
    iid = server.create_instance()
    c = server.client("iam", iid)
    resp = c.data_marts.add(name="internal", internal_database=True)
    ok(resp)
    assert resp.result.metadata.id == iid
    assert resp.result.entity.internal_database is True
    try:
        deadline = time.monotonic() + DM_TIMEOUT_S
        while True:
            dm = c.data_marts.get(iid).result
            if dm_state(dm) in ("active", "error"):
                break
            assert time.monotonic() < deadline, f"internal data mart still {dm_state(dm)!r}"
            time.sleep(POLL_S)
        if os.environ.get("KEYWARD_PROVISIONING_DATABASE_URL"):
            # The server provisions a role and schema in the provisioning database.
            assert dm_state(dm) == "active", f"internal data mart not provisioned: {dm_failure(dm)!r}"
        if dm_state(dm) == "error":
            assert dm_failure(dm).strip(), "internal data mart in 'error' without a failure message"
        else:
            assert dm.entity.internal_database is True
            if dm.entity.database_configuration is not None:
                assert_secret_ref(dm.entity.database_configuration.credentials)
    finally:
        best_effort(c.data_marts.delete, iid)


# ---------------------------------------------------------------- service providers


def test_service_provider_lifecycle(client, auth):
    pw = new_secret("sp")
    name = f"sp-{auth}-{rand()}"
    sp = add_service_provider(client, pw, name=name)
    sp_id = sp.metadata.id
    deleted = False
    try:
        assert sp.entity.name == name
        got = client.service_providers.get(sp_id)
        ok(got, 200)
        assert got.result.entity.name == name
        assert_secret_ref(got.result.entity.credentials)
        assert pw not in json.dumps(got.result.to_dict())
        assert sp_id in sp_ids(client)
        listed = client.service_providers.list(service_type="custom_machine_learning").result.service_providers
        assert sp_id in [s.metadata.id for s in listed]

        # the SDK's own duplicate check works off the listed names
        with pytest.raises(DuplicateError):
            add_service_provider(client, new_secret("dup"), name=name)

        # (the SDK's ServiceProviderResponseEntity has no `description`; rename instead)
        renamed = f"{name}-renamed"
        upd = client.service_providers.update(sp_id, [PatchDocument(op="replace", path="/name", value=renamed)])
        ok(upd)
        assert upd.result.entity.name == renamed
        assert client.service_providers.get(sp_id).result.entity.name == renamed

        pw2 = new_secret("sp2")
        upd = client.service_providers.update(
            sp_id,
            [PatchDocument(op="replace", path="/credentials", value={"url": "http://127.0.0.1:9/ml2", "username": "u2", "password": pw2})],
        )
        ok(upd)
        assert_secret_ref(upd.result.entity.credentials)
        assert_secret_ref(client.service_providers.get(sp_id).result.entity.credentials)
        client.service_providers.show()
        client.recorder.assert_never_contains(pw, pw2)

        ok(client.service_providers.delete(sp_id))
        deleted = True
        wait_gone(lambda: sp_ids(client), "service provider", sp_id)
    finally:
        if not deleted:
            best_effort(client.service_providers.delete, sp_id)


# ---------------------------------------------------------------- integrated systems


@pytest.mark.parametrize("system_type", ["webhook", "open_pages"])
def test_integrated_system_lifecycle(client, auth, system_type):
    pw = new_secret("is")
    name = f"is-{system_type}-{auth}-{rand()}"
    creds = {"auth_type": "basic", "username": "hook", "password": pw, "url": "http://127.0.0.1:9/hook"}
    resp = client.integrated_systems.add(
        name=name,
        type=system_type,
        description="integrated system",
        credentials=creds,
        connection={"display_name": name, "url": "http://127.0.0.1:9/hook"},
    )
    ok(resp)
    isys = resp.result
    is_id = isys.metadata.id
    deleted = False
    try:
        assert is_id
        assert isys.entity.name == name and isys.entity.type == system_type
        assert_secret_ref(isys.entity.credentials)
        got = client.integrated_systems.get(is_id)
        ok(got, 200)
        assert got.result.entity.name == name
        assert_secret_ref(got.result.entity.credentials)
        assert pw not in json.dumps(got.result.to_dict())
        assert is_id in is_ids(client)
        assert is_id in is_ids(client, type=system_type)

        upd = client.integrated_systems.update(is_id, [JsonPatchOperation(op="replace", path="/description", value="changed")])
        ok(upd)
        assert upd.result.entity.description == "changed"
        pw2 = new_secret("is2")
        upd = client.integrated_systems.update(
            is_id, [JsonPatchOperation(op="replace", path="/credentials", value={**creds, "password": pw2})]
        )
        ok(upd)
        assert_secret_ref(upd.result.entity.credentials)
        assert_secret_ref(client.integrated_systems.get(is_id).result.entity.credentials)
        client.integrated_systems.show()
        client.recorder.assert_never_contains(pw, pw2)

        client.integrated_systems.delete(is_id)  # the SDK wrapper returns None; errors raise
        deleted = True
        wait_gone(lambda: is_ids(client), "integrated system", is_id)
    finally:
        if not deleted:
            best_effort(client.integrated_systems.delete, is_id)


# ---------------------------------------------------------------- user preferences: refusals


@pytest.mark.before_kms_authorization
def test_root_key_refused_without_authorization_policy(server):
    assert not server.kms_authorized, "this test must run before the authorization policy is granted"
    key = server.create_root_key()
    c = server.client("bearer", server.create_instance())
    up = UserPreferences(c)
    before = snapshot(up)
    assert before == (None, GLOBAL, None), f"fresh instance: {before}"
    api_error(lambda: up.update(PREF, {PREF: key["crn"]}), 403)
    api_error(lambda: up.patch([JsonPatchOperation(op="add", path=f"/{PREF}", value=key["crn"])]), 403)
    assert snapshot(up) == before


def test_root_key_refusals_leave_preference_unchanged(server, kms_authorized):
    c = server.client("bearer", server.create_instance())
    up = UserPreferences(c)
    before = snapshot(up)
    assert before == (None, GLOBAL, None), f"fresh instance: {before}"

    # malformed CRNs, in every accepted body form -> 400
    for bad in ("not-a-crn", "crn:v1:keyward:local:kms"):
        api_error(lambda: up.update(PREF, {PREF: bad}), 400)
        api_error(lambda: up.update(PREF, {"value": bad}), 400)
        api_error(lambda: up.update(PREF, bad), 400)
        api_error(lambda: up.patch([JsonPatchOperation(op="add", path=f"/{PREF}", value=bad)]), 400)
        assert snapshot(up) == before

    # disabled key -> 409 naming the key state
    disabled = server.create_root_key()
    server.key_action(disabled["id"], "disable")
    e = api_error(lambda: up.update(PREF, {PREF: disabled["crn"]}), 409)
    assert "disabled" in e.message.lower() or "suspended" in e.message.lower(), e.message
    assert snapshot(up) == before

    # deleted key -> 409/410
    deleted = server.create_root_key()
    server.delete_key(deleted["id"])
    api_error(lambda: up.update(PREF, {PREF: deleted["crn"]}), 409, 410)
    assert snapshot(up) == before

    # a key in a Key Protect the server does not know / cannot reach -> 502/503
    good = server.create_root_key()
    api_error(lambda: up.update(PREF, {PREF: foreign_crn(good["crn"])}), 502, 503)
    assert snapshot(up) == before

    # with a root key in place, refusals keep it
    set_root_key(up, good["crn"])
    kept = snapshot(up)
    assert kept == (good["crn"], good["crn"], None)
    api_error(lambda: up.update(PREF, {PREF: "not-a-crn"}), 400)
    e = api_error(lambda: up.update(PREF, {PREF: disabled["crn"]}), 409)
    assert "disabled" in e.message.lower() or "suspended" in e.message.lower(), e.message
    api_error(lambda: up.patch([JsonPatchOperation(op="replace", path=f"/{PREF}", value=deleted["crn"])]), 409, 410)
    api_error(lambda: up.update(PREF, {PREF: foreign_crn(good["crn"])}), 502, 503)
    assert snapshot(up) == kept
    assert pref_get(up) == good["crn"]


# ---------------------------------------------------------------- user preferences: every SDK form


def test_user_preference_forms_switch_root_key(server, kms_authorized, auth):
    iid = server.create_instance()
    c = server.client(auth, iid)
    up = UserPreferences(c)
    a, b = server.create_root_key(), server.create_root_key()
    sp_pw = new_secret("sp")
    sp = add_service_provider(c, sp_pw)  # something to re-encrypt

    assert snapshot(up) == (None, GLOBAL, None)
    assert pref_get(up) is None

    # PUT {"user_root_key_crn": crn} (IBM's documented form)
    set_root_key(up, a["crn"])
    assert pref_get(up) == a["crn"]
    # PUT {"value": crn}
    r = up.update(PREF, {"value": b["crn"]})
    ok(r, 200)
    wait_switch(up, b["crn"])
    assert pref_get(up) == b["crn"]
    # PUT "crn" (bare JSON string)
    r = up.update(PREF, a["crn"])
    ok(r, 200)
    wait_switch(up, a["crn"])
    # PATCH replace / remove / add
    ok(up.patch([JsonPatchOperation(op="replace", path=f"/{PREF}", value=b["crn"])]))
    wait_switch(up, b["crn"])
    ok(up.patch([JsonPatchOperation(op="remove", path=f"/{PREF}")]))
    wait_switch(up, GLOBAL)
    assert pref_get(up) is None
    ok(up.patch([JsonPatchOperation(op="add", path=f"/{PREF}", value=a["crn"])]))
    wait_switch(up, a["crn"])
    # DELETE -> back to the global key
    ok(up.delete(PREF))
    wait_switch(up, GLOBAL)
    assert pref_get(up) is None

    got = c.service_providers.get(sp.metadata.id)
    ok(got, 200)
    assert_secret_ref(got.result.entity.credentials)
    c.recorder.assert_never_contains(sp_pw)
    best_effort(c.service_providers.delete, sp.metadata.id)


# ---------------------------------------------------------------- BYOK cases from the docs


def test_case1_root_key_before_data_mart(server, pg, kms_authorized):
    """Case 1: fresh instance, user_root_key_crn first, then the data mart."""
    iid = server.create_instance()
    c = server.client("iam", iid)
    up = UserPreferences(c)
    key = server.create_root_key()
    assert snapshot(up) == (None, GLOBAL, None)
    set_root_key(up, key["crn"])

    pw = new_secret("dm")
    _, schema = add_external_data_mart(c, pg, iid, pw)
    try:
        wait_data_mart(c, iid, "active", fail_fast_on=("error",))
        assert pg.schema_exists(schema)
        sp_pw = new_secret("sp")
        sp = add_service_provider(c, sp_pw)
        assert_secret_ref(c.service_providers.get(sp.metadata.id).result.entity.credentials)
        assert snapshot(up) == (key["crn"], key["crn"], None)
        c.recorder.assert_never_contains(pw, sp_pw)
    finally:
        best_effort(c.data_marts.delete, iid)


def test_case2_root_key_after_setup_and_back_to_global(server, pg, kms_authorized):
    """Case 2: data mart, service provider and integrated system under the global key, then the
    customer key (re-encryption), then back to the global key."""
    iid = server.create_instance()
    c = server.client("bearer", iid)
    up = UserPreferences(c)
    secrets = [new_secret("dm"), new_secret("sp"), new_secret("is")]
    _, schema = add_external_data_mart(c, pg, iid, secrets[0])
    try:
        wait_data_mart(c, iid, "active", fail_fast_on=("error",))
        sp = add_service_provider(c, secrets[1])
        isys = c.integrated_systems.add(
            name=f"is-{rand()}", type="webhook", description="hook", credentials={"username": "h", "password": secrets[2]}
        ).result
        assert snapshot(up) == (None, GLOBAL, None)

        # switch to the customer key: every existing secret is re-encrypted
        key = server.create_root_key()
        set_root_key(up, key["crn"])
        patched = patch_dm(c, iid, JsonPatchOperation(op="replace", path="/description", value="after byok"))
        assert patched.entity.description == "after byok"
        wait_data_mart(c, iid, "active", fail_fast_on=("error",), settle=SETTLE_S)
        assert pg.schema_exists(schema)
        assert_secret_ref(c.service_providers.get(sp.metadata.id).result.entity.credentials)
        assert_secret_ref(c.integrated_systems.get(isys.metadata.id).result.entity.credentials)

        # proof that the old data mart password now depends on the customer key: with the key
        # disabled, the reconnect of a PATCH fails; after enable it works again
        server.key_action(key["id"], "disable")
        patch_dm(c, iid, JsonPatchOperation(op="replace", path="/description", value="key disabled"))
        dm = wait_data_mart(c, iid, "error")
        assert "disabled" in dm_failure(dm).lower(), f"failure should name the key state: {dm_failure(dm)!r}"
        server.advance_clock(31)
        server.key_action(key["id"], "enable")
        c = server.client("bearer", iid)
        up = UserPreferences(c)
        patch_dm(c, iid, JsonPatchOperation(op="replace", path="/description", value="key enabled"))
        wait_data_mart(c, iid, "active", settle=SETTLE_S)

        # back to the global key: the customer key is no longer needed
        ok(up.delete(PREF))
        wait_switch(up, GLOBAL)
        server.key_action(key["id"], "disable")
        patch_dm(c, iid, JsonPatchOperation(op="replace", path="/description", value="global again"))
        wait_data_mart(c, iid, "active", fail_fast_on=("error",), settle=SETTLE_S)
        assert_secret_ref(c.service_providers.get(sp.metadata.id).result.entity.credentials)
        assert_secret_ref(c.integrated_systems.get(isys.metadata.id).result.entity.credentials)
        c.recorder.assert_never_contains(*secrets)
    finally:
        best_effort(c.data_marts.delete, iid)


def test_disabled_root_key_breaks_reconnect_until_enabled(server, pg, kms_authorized):
    iid = server.create_instance()
    c = server.client("iam", iid)
    up = UserPreferences(c)
    key = server.create_root_key()
    set_root_key(up, key["crn"])
    pw = new_secret("dm")
    _, schema = add_external_data_mart(c, pg, iid, pw)
    try:
        wait_data_mart(c, iid, "active", fail_fast_on=("error",))

        server.key_action(key["id"], "disable")
        # Revocation takes effect at once: new credentials cannot be sealed under the disabled key
        # (409, nothing changed), and the data mart cannot decrypt its stored password.
        pw2 = new_secret("dm2")
        api_error(
            lambda: patch_dm(
                c, iid, JsonPatchOperation(op="replace", path="/database_configuration/credentials", value=pg.credentials(pw2))
            ),
            409,
        )
        patch_dm(c, iid, JsonPatchOperation(op="replace", path="/description", value="key disabled"))
        dm = wait_data_mart(c, iid, "error")
        msg = dm_failure(dm)
        assert "disabled" in msg.lower(), f"failure should name the key state: {msg!r}"
        assert snapshot(up) == (key["crn"], key["crn"], None), "disabling the key does not change the preference"

        server.advance_clock(31)  # enable is allowed only >= 30 s after disable
        server.key_action(key["id"], "enable")
        c2 = server.client("iam", iid)
        pw3 = new_secret("dm3")
        patched = patch_dm(
            c2, iid, JsonPatchOperation(op="replace", path="/database_configuration/credentials", value=pg.credentials(pw3))
        )
        assert_secret_ref(patched.entity.database_configuration.credentials)
        wait_data_mart(c2, iid, "active", settle=SETTLE_S)
        assert pg.schema_exists(schema)
        c.recorder.assert_never_contains(pw, pw2)
        c2.recorder.assert_never_contains(pw, pw2, pw3)
    finally:
        best_effort(c.data_marts.delete, iid)
