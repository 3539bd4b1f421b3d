"""Keyward compatibility suite for the unmodified Python SDK `keyprotect` 3.0.1
(ibm-cloud-sdk-core 3.x). It drives a real `keyward serve` process over a socket; the
server fixture lives in conftest.py.  Run: pytest tests/sdk/python (see tests/sdk/README.md).
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from datetime import datetime
from urllib.parse import quote

import pytest
import requests
from ibm_cloud_sdk_core import ApiException
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from ibm_cloud_sdk_core.authenticators import BearerTokenAuthenticator, IAMAuthenticator, NoAuthAuthenticator
from keyprotect import IbmKeyProtectApiV2

KEY_TYPE = "application/vnd.ibm.kms.key+json"
VERSION_TYPE = "application/vnd.ibm.kms.key.version+json"
RING_TYPE = "application/vnd.ibm.kms.key_ring+json"
ERROR_TYPE = "application/vnd.ibm.kms.error+json"
POLICY_TYPE = "application/vnd.ibm.kms.policy+json"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
FAR_FUTURE = "2099-01-01T00:00:00Z"


# ---------------------------------------------------------------- helpers


def suffix() -> str:
    return os.urandom(4).hex()


def key_name(what: str) -> str:
    return f"py{what}{suffix()}"  # alphanumeric only


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(s: str) -> bytes:
    return base64.b64decode(s)


def parse_date(s: str) -> datetime:
    assert isinstance(s, str) and s, f"expected an RFC 3339 date, got {s!r}"
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def key_body(**fields) -> dict:
    return {
        "metadata": {"collectionType": KEY_TYPE, "collectionTotal": 1},
        "resources": [{"type": KEY_TYPE, **fields}],
    }


def ids(resources) -> list:
    return [r["id"] for r in resources]


def create_key(kp, bi, **kwargs) -> dict:
    """create_key; kwargs starting with sdk_ go to the SDK call, the rest into the key resource."""
    sdk = {k[4:]: kwargs.pop(k) for k in list(kwargs) if k.startswith("sdk_")}
    res = kp.create_key(bi, key_body(**kwargs), **sdk)
    assert res.get_status_code() == 201
    result = res.get_result()
    assert isinstance(result, dict), "response Content-Type must be application/json"
    assert result["metadata"]["collectionType"] == KEY_TYPE
    assert result["metadata"]["collectionTotal"] == 1
    assert len(result["resources"]) == 1
    return result["resources"][0]


def create_root_key(kp, bi, **fields) -> dict:
    return create_key(kp, bi, name=key_name("root"), extractable=False, **fields)


def get_key(kp, bi, key_id, **kw) -> dict:
    res = kp.get_key(key_id, bi, **kw)
    assert res.get_status_code() == 200
    result = res.get_result()
    assert result["metadata"]["collectionType"] == KEY_TYPE
    assert len(result["resources"]) == 1
    return result["resources"][0]


def list_keys(kp, bi, **kw) -> list:
    kw.setdefault("limit", 5000)
    res = kp.get_keys(bi, **kw)
    assert res.get_status_code() == 200
    result = res.get_result()
    assert result["metadata"]["collectionType"] == KEY_TYPE
    resources = result.get("resources") or []
    assert result["metadata"]["collectionTotal"] == len(resources)
    return resources


def key_total(kp, bi, **kw) -> int:
    res = kp.get_key_collection_metadata(bi, **kw)
    assert res.get_status_code() == 200
    assert res.get_result() is None
    total = res.get_headers().get("Key-Total")
    assert total is not None, "Key-Total header missing"
    assert re.fullmatch(r"\d+", total)
    return int(total)


def wrap(kp, bi, key_id, body=None) -> dict:
    res = kp.wrap_key(key_id, bi, key_action_wrap_body=body)
    assert res.get_status_code() == 200
    r = res.get_result()
    assert isinstance(r["ciphertext"], str) and r["ciphertext"]
    assert UUID_RE.match(r["keyVersion"]["id"])
    return r


def unwrap(kp, bi, key_id, body) -> dict:
    res = kp.unwrap_key(key_id, bi, body)
    assert res.get_status_code() == 200
    r = res.get_result()
    assert isinstance(r["plaintext"], str)
    return r


def expect_error(fn, statuses, *, code=None, envelope=True) -> ApiException:
    """Call fn(); it must raise ApiException with one of `statuses`; check the KP error envelope."""
    allowed = statuses if isinstance(statuses, (list, tuple, set)) else [statuses]
    with pytest.raises(ApiException) as exc_info:
        res = fn()
        pytest.fail(f"expected HTTP {allowed}, got success {res.get_status_code()}")
    err = exc_info.value
    body_text = err.http_response.text if err.http_response is not None else ""
    assert err.status_code in allowed, f"expected HTTP {allowed}, got {err.status_code}: {body_text}"
    if envelope:
        body = err.http_response.json()
        assert body["metadata"]["collectionType"] == ERROR_TYPE
        assert body["metadata"]["collectionTotal"] == 1
        assert isinstance(body["resources"][0]["errorMsg"], str)
        if code:
            codes = [r.get("code") for r in body["resources"][0].get("reasons") or []]
            assert code in codes, f"expected reason code {code}, got {codes}"
    return err


# ---------------------------------------------------------------- tests


def test_client_construction_and_json_content_type(server, kp, bi):
    assert isinstance(kp, IbmKeyProtectApiV2)
    res = kp.get_keys(bi, limit=1)
    assert res.get_status_code() == 200
    assert re.match(r"^application/json(\s*;.*)?$", res.get_headers()["Content-Type"])
    assert isinstance(res.get_result(), dict)

    # new_instance() from the documented environment variables.
    env = {
        "IBM_KEY_PROTECT_API_URL": server.base_url,
        "IBM_KEY_PROTECT_API_AUTH_TYPE": "iam",
        "IBM_KEY_PROTECT_API_APIKEY": server.apikey,
        "IBM_KEY_PROTECT_API_AUTH_URL": server.base_url,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        kp2 = IbmKeyProtectApiV2.new_instance()
        assert kp2.get_keys(bi, limit=1).get_status_code() == 200
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_create_generated_root_key_fields(server, kp, bi):
    name = key_name("root")
    k = create_key(
        kp,
        bi,
        name=name,
        description="python sdk root key",
        extractable=False,
        tags=["pytag1", "pytag2"],
        expirationDate=FAR_FUTURE,
    )
    assert k["type"] == KEY_TYPE
    assert UUID_RE.match(k["id"])
    assert k["name"] == name
    assert k["description"] == "python sdk root key"
    assert k["extractable"] is False
    assert k["state"] == 1
    assert k["imported"] is False
    assert k["deleted"] is False
    assert k["keyRingID"] == "default"
    assert sorted(k["tags"]) == ["pytag1", "pytag2"]
    assert parse_date(k["expirationDate"]) == parse_date(FAR_FUTURE)
    parse_date(k["creationDate"])
    assert UUID_RE.match(k["keyVersion"]["id"])
    assert "payload" not in k
    assert k["crn"] == f"crn:v1:keyward:local:kms:local:a/{server.account_id}:{bi}:key:{k['id']}"

    g = get_key(kp, bi, k["id"])
    assert g["id"] == k["id"] and g["name"] == name and g["state"] == 1
    assert g["crn"] == k["crn"]
    assert g["keyVersion"]["id"] == k["keyVersion"]["id"]
    assert "payload" not in g


@pytest.mark.parametrize("length", [16, 24, 32])
def test_import_root_key(kp, bi, length):
    material = os.urandom(length)
    k = create_key(kp, bi, name=key_name("imp"), extractable=False, payload=b64(material))
    assert k["imported"] is True
    assert k["extractable"] is False
    assert k["state"] == 1
    assert "payload" not in k
    assert "payload" not in get_key(kp, bi, k["id"])
    dek = os.urandom(32)
    w = wrap(kp, bi, k["id"], {"plaintext": b64(dek)})
    assert unb64(unwrap(kp, bi, k["id"], {"ciphertext": w["ciphertext"]})["plaintext"]) == dek


def test_import_root_key_bad_length(kp, bi):
    expect_error(
        lambda: kp.create_key(bi, key_body(name=key_name("bad"), extractable=False, payload=b64(os.urandom(10)))),
        400,
    )


def test_standard_keys_payload_only_on_get_key(kp, bi):
    secret = os.urandom(48)
    imp = create_key(kp, bi, name=key_name("std"), extractable=True, payload=b64(secret))
    assert imp["extractable"] is True
    assert imp["imported"] is True
    assert imp["state"] == 1

    g = get_key(kp, bi, imp["id"])
    assert unb64(g["payload"]) == secret

    meta = kp.get_key_metadata(imp["id"], bi)
    assert meta.get_status_code() == 200
    m = meta.get_result()["resources"][0]
    assert m["id"] == imp["id"]
    assert "payload" not in m

    listed = [k for k in list_keys(kp, bi, extractable=True) if k["id"] == imp["id"]]
    assert len(listed) == 1
    assert "payload" not in listed[0]

    gen = create_key(kp, bi, name=key_name("stdgen"), extractable=True)
    assert gen["imported"] is False
    assert len(unb64(get_key(kp, bi, gen["id"])["payload"])) > 0

    rep = create_key(
        kp, bi, name=key_name("stdrep"), extractable=True, payload=b64(secret), sdk_prefer="return=representation"
    )
    assert unb64(rep["payload"]) == secret

    # Standard keys cannot wrap.
    expect_error(lambda: kp.wrap_key(imp["id"], bi), [400, 409, 422])


def test_get_key_and_metadata_by_id_and_alias(kp, bi):
    alias = f"py-alias-{suffix()}"
    k = create_root_key(kp, bi, aliases=[alias])
    assert k["aliases"] == [alias]
    by_alias = get_key(kp, bi, alias)
    assert by_alias["id"] == k["id"]

    meta = kp.get_key_metadata(alias, bi)
    assert meta.get_status_code() == 200
    m = meta.get_result()["resources"][0]
    assert m["id"] == k["id"] and m["name"] == k["name"] and m["state"] == 1 and m["crn"] == k["crn"]
    assert "payload" not in m

    expect_error(lambda: kp.get_key(str(uuid.uuid4()), bi), 404)
    expect_error(lambda: kp.get_key_metadata(str(uuid.uuid4()), bi), 404)
    expect_error(lambda: kp.get_key(f"no-such-alias-{suffix()}", bi), 404)


def test_get_keys_filters_and_paging(kp, bi):
    root_a = create_root_key(kp, bi)
    root_b = create_root_key(kp, bi)
    std = create_key(kp, bi, name=key_name("std"), extractable=True)
    gone = create_root_key(kp, bi)
    assert kp.delete_key(gone["id"], bi).get_status_code() == 204

    # Default (the SDK sends an empty `state=`): destroyed keys excluded.
    all_keys = list_keys(kp, bi)
    for k in (root_a, root_b, std):
        assert k["id"] in ids(all_keys)
    assert gone["id"] not in ids(all_keys)
    assert all(k["state"] != 5 for k in all_keys)
    assert all("payload" not in k for k in all_keys)

    stds = list_keys(kp, bi, extractable=True)
    assert all(k["extractable"] is True for k in stds)
    assert std["id"] in ids(stds) and root_a["id"] not in ids(stds)
    roots = list_keys(kp, bi, extractable=False)
    assert all(k["extractable"] is False for k in roots)
    assert {root_a["id"], root_b["id"]} <= set(ids(roots)) and std["id"] not in ids(roots)

    destroyed = list_keys(kp, bi, state=[5])
    assert all(k["state"] == 5 for k in destroyed)
    assert gone["id"] in ids(destroyed) and root_a["id"] not in ids(destroyed)
    both = list_keys(kp, bi, state=[1, 5])
    assert all(k["state"] in (1, 5) for k in both)
    assert gone["id"] in ids(both) and root_a["id"] in ids(both)
    assert gone["id"] in ids(list_keys(kp, bi, state=[5], extractable=False))
    assert gone["id"] not in ids(list_keys(kp, bi, state=[5], extractable=True))

    # limit / offset
    assert len(all_keys) >= 3
    one = kp.get_keys(bi, limit=1).get_result()
    assert len(one["resources"]) == 1 and one["metadata"]["collectionTotal"] == 1
    assert one["resources"][0]["id"] == all_keys[0]["id"]
    paged = [kp.get_keys(bi, limit=1, offset=off).get_result()["resources"][0]["id"] for off in range(3)]
    assert paged == ids(all_keys)[:3]
    two = kp.get_keys(bi, limit=2, offset=1).get_result()
    assert ids(two["resources"]) == ids(all_keys)[1:3]
    beyond = kp.get_keys(bi, limit=10, offset=len(all_keys)).get_result()
    assert (beyond.get("resources") or []) == []
    assert beyond["metadata"]["collectionTotal"] == 0


def test_get_key_collection_metadata(kp, bi):
    before = key_total(kp, bi)
    assert before == len(list_keys(kp, bi))
    k = create_root_key(kp, bi)
    assert key_total(kp, bi) == before + 1
    std_total = key_total(kp, bi, extractable=True)
    root_total = key_total(kp, bi, extractable=False)
    assert std_total == len(list_keys(kp, bi, extractable=True))
    assert root_total == len(list_keys(kp, bi, extractable=False))
    assert std_total + root_total == before + 1
    destroyed_before = key_total(kp, bi, state=[5])
    kp.delete_key(k["id"], bi)
    assert key_total(kp, bi, state=[5]) == destroyed_before + 1
    assert key_total(kp, bi) == before
    assert key_total(kp, bi, state=[1, 5]) == len(list_keys(kp, bi, state=[1, 5]))


def test_wrap_unwrap(kp, bi):
    k = create_root_key(kp, bi)
    v1 = k["keyVersion"]["id"]

    gen = wrap(kp, bi, k["id"])  # no body: the service generates a 32-byte DEK
    assert len(unb64(gen["plaintext"])) == 32
    assert gen["keyVersion"]["id"] == v1
    u = unwrap(kp, bi, k["id"], {"ciphertext": gen["ciphertext"]})
    assert u["plaintext"] == gen["plaintext"]
    assert u["keyVersion"]["id"] == v1
    assert "rewrappedKeyVersion" not in u

    gen_empty = wrap(kp, bi, k["id"], {})  # `{}` body behaves like no body
    assert len(unb64(gen_empty["plaintext"])) == 32
    assert gen_empty["plaintext"] != gen["plaintext"]

    dek = os.urandom(32)
    w = wrap(kp, bi, k["id"], {"plaintext": b64(dek)})
    assert unb64(unwrap(kp, bi, k["id"], {"ciphertext": w["ciphertext"]})["plaintext"]) == dek

    aad = ["py-aad-1", "tenant:42"]
    wa = wrap(kp, bi, k["id"], {"plaintext": b64(dek), "aad": aad})
    assert unb64(unwrap(kp, bi, k["id"], {"ciphertext": wa["ciphertext"], "aad": aad})["plaintext"]) == dek
    expect_error(lambda: kp.unwrap_key(k["id"], bi, {"ciphertext": wa["ciphertext"], "aad": ["wrong"]}), [400, 422])
    expect_error(lambda: kp.unwrap_key(k["id"], bi, {"ciphertext": wa["ciphertext"]}), [400, 422])

    other = create_root_key(kp, bi)
    expect_error(lambda: kp.unwrap_key(other["id"], bi, {"ciphertext": w["ciphertext"]}), [400, 422])
    expect_error(lambda: kp.wrap_key(k["id"], bi, key_action_wrap_body={"plaintext": "***not base64***"}), 400)


def test_rotate_versions_unwrap_old_and_rewrap(server, bi):
    kp = server.client()
    k = create_root_key(kp, bi)
    v1 = k["keyVersion"]["id"]

    vers = kp.get_key_versions(k["id"], bi)
    assert vers.get_status_code() == 200
    vr = vers.get_result()
    assert vr["metadata"]["collectionType"] == VERSION_TYPE
    assert vr["metadata"]["collectionTotal"] == 1
    assert ids(vr["resources"]) == [v1]
    parse_date(vr["resources"][0]["creationDate"])

    dek = os.urandom(32)
    aad = ["py-rotate"]
    old = wrap(kp, bi, k["id"], {"plaintext": b64(dek), "aad": aad})
    assert old["keyVersion"]["id"] == v1

    rot = kp.rotate_key(k["id"], bi)
    assert rot.get_status_code() == 204
    assert rot.get_result() is None
    g = get_key(kp, bi, k["id"])
    v2 = g["keyVersion"]["id"]
    assert UUID_RE.match(v2) and v2 != v1
    parse_date(g["lastRotateDate"])

    assert ids(kp.get_key_versions(k["id"], bi).get_result()["resources"]) == [v2, v1]
    assert ids(kp.get_key_versions(k["id"], bi, limit=1).get_result()["resources"]) == [v2]
    assert ids(kp.get_key_versions(k["id"], bi, limit=1, offset=1).get_result()["resources"]) == [v1]
    counted = kp.get_key_versions(k["id"], bi, limit=1, total_count=True).get_result()
    assert counted["metadata"]["collectionTotal"] == 1
    assert counted["metadata"]["totalCount"] == 2

    assert wrap(kp, bi, k["id"], {"plaintext": b64(dek), "aad": aad})["keyVersion"]["id"] == v2

    u = unwrap(kp, bi, k["id"], {"ciphertext": old["ciphertext"], "aad": aad})
    assert unb64(u["plaintext"]) == dek
    assert u["keyVersion"]["id"] == v1
    assert isinstance(u["ciphertext"], str)
    assert u["rewrappedKeyVersion"]["id"] == v2
    u2 = unwrap(kp, bi, k["id"], {"ciphertext": u["ciphertext"], "aad": aad})
    assert unb64(u2["plaintext"]) == dek and u2["keyVersion"]["id"] == v2
    assert "rewrappedKeyVersion" not in u2

    rw = kp.rewrap_key(k["id"], bi, {"ciphertext": old["ciphertext"], "aad": aad})
    assert rw.get_status_code() == 200
    r = rw.get_result()
    assert r["keyVersion"]["id"] == v1
    assert r["rewrappedKeyVersion"]["id"] == v2
    assert "plaintext" not in r
    u3 = unwrap(kp, bi, k["id"], {"ciphertext": r["ciphertext"], "aad": aad})
    assert unb64(u3["plaintext"]) == dek and u3["keyVersion"]["id"] == v2

    expect_error(lambda: kp.rotate_key(k["id"], bi), 409, code="KEY_ROTATION_NOT_PERMITTED")
    server.advance_clock(3601)
    kp = server.client()  # tokens from before the clock jump may be expired in server time
    assert kp.rotate_key(k["id"], bi).get_status_code() == 204
    v3 = get_key(kp, bi, k["id"])["keyVersion"]["id"]
    assert v3 not in (v1, v2)
    assert ids(kp.get_key_versions(k["id"], bi).get_result()["resources"]) == [v3, v2, v1]
    u4 = unwrap(kp, bi, k["id"], {"ciphertext": old["ciphertext"], "aad": aad})
    assert unb64(u4["plaintext"]) == dek
    assert u4["keyVersion"]["id"] == v1 and u4["rewrappedKeyVersion"]["id"] == v3


def test_rotate_imported_root_key_with_payload(kp, bi):
    k = create_key(kp, bi, name=key_name("improt"), extractable=False, payload=b64(os.urandom(32)))
    dek = os.urandom(32)
    old = wrap(kp, bi, k["id"], {"plaintext": b64(dek)})
    assert kp.rotate_key(k["id"], bi, key_action_rotate_body={"payload": b64(os.urandom(32))}).get_status_code() == 204
    v2 = get_key(kp, bi, k["id"])["keyVersion"]["id"]
    assert v2 != k["keyVersion"]["id"]
    u = unwrap(kp, bi, k["id"], {"ciphertext": old["ciphertext"]})
    assert unb64(u["plaintext"]) == dek and u["rewrappedKeyVersion"]["id"] == v2


def test_disable_enable(server, bi):
    kp = server.client()
    k = create_root_key(kp, bi)
    dek = os.urandom(32)
    w = wrap(kp, bi, k["id"], {"plaintext": b64(dek)})

    dis = kp.disable_key(k["id"], bi)
    assert dis.get_status_code() == 204 and dis.get_result() is None
    assert get_key(kp, bi, k["id"])["state"] == 2
    assert [x["state"] for x in list_keys(kp, bi) if x["id"] == k["id"]] == [2]
    assert k["id"] in ids(list_keys(kp, bi, state=[2]))

    expect_error(lambda: kp.wrap_key(k["id"], bi, key_action_wrap_body={"plaintext": b64(dek)}), 409)
    expect_error(lambda: kp.unwrap_key(k["id"], bi, {"ciphertext": w["ciphertext"]}), 409)
    expect_error(lambda: kp.disable_key(k["id"], bi), 409, code="KEY_ACTION_INVALID_STATE_ERR")
    # Versions of a non-active key need all_key_states=true.
    expect_error(lambda: kp.get_key_versions(k["id"], bi), 409)
    assert ids(kp.get_key_versions(k["id"], bi, all_key_states=True).get_result()["resources"]) == [
        k["keyVersion"]["id"]
    ]

    expect_error(lambda: kp.enable_key(k["id"], bi), 409)  # < 30 s after disable
    assert get_key(kp, bi, k["id"])["state"] == 2

    server.advance_clock(31)
    kp = server.client()
    en = kp.enable_key(k["id"], bi)
    assert en.get_status_code() == 204 and en.get_result() is None
    assert get_key(kp, bi, k["id"])["state"] == 1
    assert unb64(unwrap(kp, bi, k["id"], {"ciphertext": w["ciphertext"]})["plaintext"]) == dek
    wrap(kp, bi, k["id"])
    expect_error(lambda: kp.enable_key(k["id"], bi), 409, code="KEY_ACTION_INVALID_STATE_ERR")


def test_delete_restore(server, bi):
    kp = server.client()
    k = create_root_key(kp, bi)
    dek = os.urandom(32)
    w = wrap(kp, bi, k["id"], {"plaintext": b64(dek)})

    d = kp.delete_key(k["id"], bi)
    assert d.get_status_code() == 204 and d.get_result() is None
    g = get_key(kp, bi, k["id"])
    assert g["state"] == 5 and g["deleted"] is True
    parse_date(g["deletionDate"])
    assert kp.get_key_metadata(k["id"], bi).get_result()["resources"][0]["state"] == 5

    expect_error(lambda: kp.unwrap_key(k["id"], bi, {"ciphertext": w["ciphertext"]}), 410)
    expect_error(lambda: kp.wrap_key(k["id"], bi), [409, 410])
    expect_error(lambda: kp.delete_key(k["id"], bi), 410, code="KEY_DELETED_ERR")
    expect_error(lambda: kp.restore_key(k["id"], bi), 409)  # < 30 s after delete
    assert get_key(kp, bi, k["id"])["state"] == 5

    server.advance_clock(31)
    kp = server.client()
    r = kp.restore_key(k["id"], bi)
    assert r.get_status_code() == 201
    body = r.get_result()
    assert isinstance(body, dict), "restore response Content-Type must be application/json"
    assert body["metadata"]["collectionType"] == KEY_TYPE
    assert body["resources"][0]["id"] == k["id"]
    assert body["resources"][0]["state"] == 1
    back = get_key(kp, bi, k["id"])
    assert back["state"] == 1 and back["deleted"] is False
    assert back["name"] == k["name"] and back["keyVersion"]["id"] == k["keyVersion"]["id"]
    assert unb64(unwrap(kp, bi, k["id"], {"ciphertext": w["ciphertext"]})["plaintext"]) == dek
    expect_error(lambda: kp.restore_key(k["id"], bi), 409)  # not deleted

    k2 = create_root_key(kp, bi)
    d2 = kp.delete_key(k2["id"], bi, prefer="return=representation")
    assert d2.get_status_code() == 200
    dk = d2.get_result()["resources"][0]
    assert d2.get_result()["metadata"]["collectionType"] == KEY_TYPE
    assert dk["id"] == k2["id"] and dk["state"] == 5 and dk["deleted"] is True
    parse_date(dk["deletionDate"])

    k3 = create_root_key(kp, bi)
    assert kp.delete_key(k3["id"], bi, prefer="return=minimal").get_status_code() == 204
    k4 = create_root_key(kp, bi)
    assert kp.delete_key(k4["id"], bi, force=True).get_status_code() == 204
    assert get_key(kp, bi, k4["id"])["state"] == 5
    expect_error(lambda: kp.delete_key(str(uuid.uuid4()), bi), 404)


def test_restore_standard_key_keeps_payload(server, bi):
    kp = server.client()
    secret = os.urandom(32)
    k = create_key(kp, bi, name=key_name("stdrest"), extractable=True, payload=b64(secret))
    assert kp.delete_key(k["id"], bi).get_status_code() == 204
    server.advance_clock(31)
    kp = server.client()
    r = kp.restore_key(k["id"], bi)
    assert r.get_status_code() == 201
    assert r.get_result()["resources"][0]["state"] == 1
    assert unb64(get_key(kp, bi, k["id"])["payload"]) == secret


def test_purge(server, bi):
    kp = server.client()
    k = create_root_key(kp, bi)
    expect_error(lambda: kp.purge_key(k["id"], bi), [400, 409])  # not deleted
    assert kp.delete_key(k["id"], bi).get_status_code() == 204
    expect_error(lambda: kp.purge_key(k["id"], bi), [400, 409])  # < 4 h after delete
    assert get_key(kp, bi, k["id"])["state"] == 5

    server.advance_clock(4 * 3600 + 1)
    kp = server.client()
    p = kp.purge_key(k["id"], bi)
    assert p.get_status_code() in (200, 204)
    if p.get_status_code() == 200:
        assert p.get_result()["resources"][0]["id"] == k["id"]
    expect_error(lambda: kp.get_key(k["id"], bi), 404)
    expect_error(lambda: kp.get_key_metadata(k["id"], bi), 404)
    expect_error(lambda: kp.restore_key(k["id"], bi), 404)
    assert k["id"] not in ids(list_keys(kp, bi, state=[5]))


def test_aliases(kp, bi):
    k = create_root_key(kp, bi)
    alias = f"py-alias-{suffix()}"
    res = kp.create_key_alias(k["id"], alias, bi)
    assert res.get_status_code() in (200, 201)
    ar = res.get_result()["resources"]
    assert len(ar) == 1 and ar[0]["alias"] == alias and ar[0]["keyId"] == k["id"]

    assert get_key(kp, bi, k["id"])["aliases"] == [alias]
    assert get_key(kp, bi, alias)["id"] == k["id"]
    w = wrap(kp, bi, alias)
    assert unwrap(kp, bi, k["id"], {"ciphertext": w["ciphertext"]})["plaintext"] == w["plaintext"]
    assert unwrap(kp, bi, alias, {"ciphertext": w["ciphertext"]})["plaintext"] == w["plaintext"]
    assert ids(kp.get_key_versions(alias, bi).get_result()["resources"]) == [k["keyVersion"]["id"]]

    alias2 = f"py-alias2-{suffix()}"
    assert kp.create_key_alias(alias, alias2, bi).get_result()["resources"][0]["keyId"] == k["id"]
    assert sorted(get_key(kp, bi, k["id"])["aliases"]) == sorted([alias, alias2])

    other = create_root_key(kp, bi)
    expect_error(lambda: kp.create_key_alias(other["id"], alias, bi), [400, 409])
    expect_error(lambda: kp.create_key_alias(other["id"], "versions", bi), 400)
    expect_error(lambda: kp.create_key_alias(other["id"], str(uuid.uuid4()), bi), 400)

    d = kp.delete_key_alias(k["id"], alias, bi)
    assert d.get_status_code() == 204
    assert get_key(kp, bi, k["id"])["aliases"] == [alias2]
    expect_error(lambda: kp.get_key(alias, bi), 404)
    assert kp.delete_key_alias(k["id"], alias2, bi).get_status_code() == 204
    assert not get_key(kp, bi, k["id"]).get("aliases")


def test_key_rings_create_list_delete_and_create_key_in_ring(server, kp, bi):
    ring = f"py-ring-{suffix()}"
    empty = f"py-empty-{suffix()}"
    try:
        cr = kp.create_key_ring(ring, bi)
        assert cr.get_status_code() == 201
        assert kp.create_key_ring(empty, bi).get_status_code() == 201

        lr = kp.list_key_rings(bi)
        assert lr.get_status_code() == 200
        body = lr.get_result()
        assert body["metadata"]["collectionType"] == RING_TYPE
        assert body["metadata"]["collectionTotal"] == len(body["resources"])
        ring_ids = [r["id"] for r in body["resources"]]
        assert "default" in ring_ids and ring in ring_ids and empty in ring_ids
        mine = next(r for r in body["resources"] if r["id"] == ring)
        parse_date(mine["creationDate"])
        assert isinstance(mine["createdBy"], str)

        counted = kp.list_key_rings(bi, limit=1, total_count=True).get_result()
        assert counted["metadata"]["collectionTotal"] == 1 == len(counted["resources"])
        assert counted["metadata"]["totalCount"] == len(ring_ids)
        page2 = kp.list_key_rings(bi, limit=1, offset=1).get_result()
        assert page2["resources"][0]["id"] == ring_ids[1]

        plain = create_root_key(kp, bi)
        in_ring = create_key(kp, bi, name=key_name("ring"), extractable=False, sdk_x_kms_key_ring=ring)
        assert in_ring["keyRingID"] == ring
        assert get_key(kp, bi, in_ring["id"])["keyRingID"] == ring
        assert get_key(kp, bi, in_ring["id"], x_kms_key_ring=ring)["id"] == in_ring["id"]
        assert ids(list_keys(kp, bi, x_kms_key_ring=ring)) == [in_ring["id"]]
        default_ids = ids(list_keys(kp, bi, x_kms_key_ring="default"))
        assert plain["id"] in default_ids and in_ring["id"] not in default_ids

        expect_error(lambda: kp.delete_key_ring(ring, bi), 409)  # holds an active key
        assert kp.delete_key_ring(empty, bi).get_status_code() == 204
        ring_ids2 = [r["id"] for r in kp.list_key_rings(bi).get_result()["resources"]]
        assert empty not in ring_ids2 and ring in ring_ids2

        expect_error(lambda: kp.create_key_ring("default", bi), [400, 409])
        expect_error(lambda: kp.delete_key_ring("default", bi), [400, 409])
        expect_error(lambda: kp.create_key_ring(ring, bi), 409)
        expect_error(lambda: kp.delete_key_ring(f"py-none-{suffix()}", bi), 404)
        expect_error(
            lambda: kp.create_key(
                bi, key_body(name=key_name("noring"), extractable=False), x_kms_key_ring=f"py-none-{suffix()}"
            ),
            [400, 404],
        )

        # Force delete: a ring holding only destroyed keys; those keys move to `default`.
        assert kp.delete_key(in_ring["id"], bi).get_status_code() == 204
        fr = kp.delete_key_ring(ring, bi, force=True)
        assert fr.get_status_code() == 204
        moved = get_key(kp, bi, in_ring["id"])
        assert moved["keyRingID"] == "default" and moved["state"] == 5
        assert ring not in [r["id"] for r in kp.list_key_rings(bi).get_result()["resources"]]
    finally:
        for r in (ring, empty):
            server.raw_kms("DELETE", f"/api/v2/key_rings/{r}?force=true")


def test_patch_key_moves_key_to_another_ring(server, kp, bi):
    ring_a = f"py-ringa-{suffix()}"
    ring_b = f"py-ringb-{suffix()}"
    try:
        assert kp.create_key_ring(ring_a, bi).get_status_code() == 201
        assert kp.create_key_ring(ring_b, bi).get_status_code() == 201
        k = create_key(kp, bi, name=key_name("move"), extractable=False, sdk_x_kms_key_ring=ring_a)
        assert k["keyRingID"] == ring_a

        p = kp.patch_key(k["id"], bi, key_patch_body={"keyRingID": ring_b}, x_kms_key_ring=ring_a)
        assert p.get_status_code() == 200
        pr = p.get_result()
        assert pr["metadata"]["collectionType"] == KEY_TYPE
        assert pr["resources"][0]["id"] == k["id"]
        assert pr["resources"][0]["keyRingID"] == ring_b

        assert get_key(kp, bi, k["id"])["keyRingID"] == ring_b
        assert ids(list_keys(kp, bi, x_kms_key_ring=ring_b)) == [k["id"]]
        assert k["id"] not in ids(list_keys(kp, bi, x_kms_key_ring=ring_a))
        # Ring A is empty now and can be deleted without force.
        assert kp.delete_key_ring(ring_a, bi).get_status_code() == 204

        # Move back to default without the ring header; the key still works.
        p2 = kp.patch_key(k["id"], bi, key_patch_body={"keyRingID": "default"})
        assert p2.get_result()["resources"][0]["keyRingID"] == "default"
        wrap(kp, bi, k["id"])

        expect_error(
            lambda: kp.patch_key(k["id"], bi, key_patch_body={"keyRingID": f"py-none-{suffix()}"}), [400, 404]
        )
    finally:
        for r in (ring_a, ring_b):
            server.raw_kms("DELETE", f"/api/v2/key_rings/{r}?force=true")


def test_action_on_key_legacy_form(server, bi):
    kp = server.client()
    k = create_root_key(kp, bi)

    w = kp.action_on_key(k["id"], bi, "wrap", {})
    assert w.get_status_code() == 200
    wr = w.get_result()
    assert len(unb64(wr["plaintext"])) == 32
    assert wr["keyVersion"]["id"] == k["keyVersion"]["id"]

    dek = os.urandom(32)
    w2 = kp.action_on_key(k["id"], bi, "wrap", {"plaintext": b64(dek), "aad": ["legacy"]}).get_result()
    u = kp.action_on_key(k["id"], bi, "unwrap", {"ciphertext": w2["ciphertext"], "aad": ["legacy"]})
    assert u.get_status_code() == 200
    assert unb64(u.get_result()["plaintext"]) == dek
    assert unb64(unwrap(kp, bi, k["id"], {"ciphertext": wr["ciphertext"]})["plaintext"]) == unb64(wr["plaintext"])

    r = kp.action_on_key(k["id"], bi, "rotate", {})
    assert r.get_status_code() == 204
    v2 = get_key(kp, bi, k["id"])["keyVersion"]["id"]
    assert v2 != k["keyVersion"]["id"]

    rw = kp.action_on_key(k["id"], bi, "rewrap", {"ciphertext": w2["ciphertext"], "aad": ["legacy"]})
    assert rw.get_status_code() == 200
    assert rw.get_result()["rewrappedKeyVersion"]["id"] == v2
    assert rw.get_result()["keyVersion"]["id"] == k["keyVersion"]["id"]

    assert kp.action_on_key(k["id"], bi, "disable", {}).get_status_code() == 204
    assert get_key(kp, bi, k["id"])["state"] == 2
    server.advance_clock(31)
    kp = server.client()
    assert kp.action_on_key(k["id"], bi, "enable", {}).get_status_code() == 204
    assert get_key(kp, bi, k["id"])["state"] == 1

    expect_error(lambda: kp.action_on_key(k["id"], bi, "nosuchaction", {}), 400)


def test_sync_associated_resources(kp, bi):
    k = create_root_key(kp, bi)
    res = kp.sync_associated_resources(k["id"], bi)
    assert res.get_status_code() == 204
    assert res.get_result() is None


def test_deletion_authorizations_refused_without_dual_authorization(kp, bi):
    k = create_root_key(kp, bi)
    expect_error(lambda: kp.set_key_for_deletion(k["id"], bi), 409, code="NOT_DUAL_AUTH_ERR")
    expect_error(lambda: kp.unset_key_for_deletion(k["id"], bi), 409, code="NOT_DUAL_AUTH_ERR")
    expect_error(lambda: kp.set_key_for_deletion(str(uuid.uuid4()), bi), 404, code="KEY_NOT_FOUND_ERR")
    # Deletion is not gated: the key has no dual-authorization policy.
    assert kp.delete_key(k["id"], bi).get_status_code() == 204


def policy_body(*resources: dict) -> dict:
    return {
        "metadata": {"collectionType": POLICY_TYPE, "collectionTotal": len(resources)},
        "resources": [{"type": POLICY_TYPE, **r} for r in resources],
    }


def test_key_policies_put_and_get(kp, bi):
    k = create_root_key(kp, bi)
    empty = kp.get_policy(k["id"], bi)
    assert empty.get_status_code() == 200
    assert empty.get_result() == {"metadata": {"collectionType": POLICY_TYPE, "collectionTotal": 0}}

    res = kp.put_policy(
        k["id"],
        bi,
        policy_body({"rotation": {"enabled": True, "interval_month": 3}}, {"dualAuthDelete": {"enabled": True}}),
    )
    assert res.get_status_code() == 200
    body = res.get_result()
    assert body["metadata"] == {"collectionType": POLICY_TYPE, "collectionTotal": 2}
    rotation, dual = body["resources"]
    assert rotation["rotation"] == {"enabled": True, "interval_month": 3}
    assert dual["dualAuthDelete"] == {"enabled": True}
    for p in (rotation, dual):
        assert p["id"] == k["id"] and p["crn"] == k["crn"] and p["type"] == POLICY_TYPE
        parse_date(p["creationDate"])
        parse_date(p["lastUpdateDate"])

    kp.put_policy(k["id"], bi, policy_body({"rotation": {"enabled": False, "interval_month": 12}}), policy="rotation")
    (only,) = kp.get_policy(k["id"], bi, policy="rotation").get_result()["resources"]
    assert only["rotation"] == {"enabled": False, "interval_month": 12} and "dualAuthDelete" not in only
    meta = kp.get_key_metadata(k["id"], bi).get_result()["resources"][0]
    assert meta["rotation"] == {"enabled": False, "interval_month": 12}
    assert meta["dualAuthDelete"] == {"enabled": True, "keySetForDeletion": False}

    # Refusals, as Key Protect gives them.
    off = policy_body({"dualAuthDelete": {"enabled": False}})
    expect_error(lambda: kp.put_policy(k["id"], bi, off), 400, code="INVALID_FIELD_ERR")
    long = policy_body({"rotation": {"enabled": True, "interval_month": 13}})
    expect_error(lambda: kp.put_policy(k["id"], bi, long), 400, code="INVALID_FIELD_ERR")
    mismatch = policy_body({"dualAuthDelete": {"enabled": True}})
    expect_error(
        lambda: kp.put_policy(k["id"], bi, mismatch, policy="rotation"), 400, code="BODY_QUERY_PARAM_MISMATCH_ERR"
    )
    std = create_key(kp, bi, name=key_name("stdpolicy"), extractable=True)
    rotate_std = policy_body({"rotation": {"enabled": True, "interval_month": 1}})
    expect_error(lambda: kp.put_policy(std["id"], bi, rotate_std), 400, code="KEY_ROOT_REQ_ERR")


def test_dual_authorization_delete_takes_two_managers(server, kp, bi):
    k = create_root_key(kp, bi)
    kp.put_policy(k["id"], bi, policy_body({"dualAuthDelete": {"enabled": True}}), policy="dualAuthDelete")
    first = server.client(server.new_manager(f"first-{suffix()}"))
    second = server.client(server.new_manager(f"second-{suffix()}"))

    expect_error(lambda: second.delete_key(k["id"], bi), 409, code="AUTHORIZATIONS_NOT_MET")
    assert first.set_key_for_deletion(k["id"], bi).get_status_code() == 204
    dual = kp.get_key_metadata(k["id"], bi).get_result()["resources"][0]["dualAuthDelete"]
    assert dual["enabled"] is True and dual["keySetForDeletion"] is True
    days = (parse_date(dual["authExpiration"]) - parse_date(kp.get_key(k["id"], bi).get_result()["resources"][0]["lastUpdateDate"])).days
    assert days == 7
    # The user who authorized cannot also delete; a withdrawn authorization no longer counts.
    expect_error(lambda: first.delete_key(k["id"], bi), 409, code="AUTHORIZATIONS_NOT_MET")
    assert first.unset_key_for_deletion(k["id"], bi).get_status_code() == 204
    expect_error(lambda: second.delete_key(k["id"], bi), 409, code="AUTHORIZATIONS_NOT_MET")

    assert first.set_key_for_deletion(k["id"], bi).get_status_code() == 204
    assert second.delete_key(k["id"], bi).get_status_code() == 204
    assert get_key(kp, bi, k["id"])["state"] == 5


def instance_policy(kind: str, enabled: bool, attributes: dict | None = None) -> dict:
    data = {"enabled": enabled}
    if attributes is not None:
        data["attributes"] = attributes
    return {"policy_type": kind, "policy_data": data}


def instance_body(*policies: dict) -> dict:
    return {"metadata": {"collectionType": POLICY_TYPE, "collectionTotal": len(policies)}, "resources": list(policies)}


def test_instance_policies_shape_new_keys_and_allowed_ip(server, kp, bi):
    """The suite's server is shared: every policy set here is turned off again at the end."""
    try:
        res = kp.put_instance_policy(
            bi,
            instance_body(
                instance_policy("dualAuthDelete", True),
                instance_policy("rotation", True, {"interval_month": 5}),
                instance_policy("keyCreateImportAccess", True, {"create_standard_key": False}),
                instance_policy("metrics", True),
                # The suite's own addresses, so that its requests still pass.
                instance_policy("allowedIP", True, {"allowed_ip": ["127.0.0.0/8", "::1/128"]}),
            ),
        )
        assert res.get_status_code() == 204
        listed = kp.get_instance_policy(bi).get_result()
        assert listed["metadata"] == {"collectionType": POLICY_TYPE, "collectionTotal": 5}
        by_type = {p["policy_type"]: p for p in listed["resources"]}
        assert by_type["rotation"]["policy_data"] == {"enabled": True, "attributes": {"interval_month": 5}}
        assert by_type["keyCreateImportAccess"]["policy_data"]["attributes"]["create_standard_key"] is False
        for p in by_type.values():
            parse_date(p["creationDate"])
            parse_date(p["lastUpdated"])
            assert p["createdBy"] == p["updatedBy"]
        (only,) = kp.get_instance_policy(bi, policy="metrics").get_result()["resources"]
        assert only == by_type["metrics"]

        port = kp.get_allowed_ip_port(bi).get_result()
        assert port["metadata"]["collectionTotal"] == 1
        assert port["resources"] == [{"private_endpoint_port": server.port}]

        # New keys take the instance's dual authorization and rotation; standard keys are refused.
        k = create_root_key(kp, bi)
        assert k["dualAuthDelete"]["enabled"] is True
        assert k["rotation"] == {"enabled": True, "interval_month": 5}
        expect_error(lambda: kp.delete_key(k["id"], bi), 409, code="AUTHORIZATIONS_NOT_MET")
        expect_error(
            lambda: create_key(kp, bi, name=key_name("nostd"), extractable=True), 409, code="KEY_CREATE_IMPORT_ACCESS_ERR"
        )

        # A key with policies of its own.
        own = json.dumps(
            {
                "metadata": {"collectionType": KEY_TYPE, "collectionTotal": 1},
                "resources": [
                    {
                        "type": KEY_TYPE,
                        "name": key_name("own"),
                        "extractable": False,
                        "rotation": {"enabled": True, "interval_month": 1},
                        "dualAuthDelete": {"enabled": False},
                    }
                ],
            }
        )
        made = kp.create_key_with_policies_overrides(bi, own)
        assert made.get_status_code() == 201
        key = made.get_result()["resources"][0]
        assert key["rotation"] == {"enabled": True, "interval_month": 1}
        assert key["dualAuthDelete"] == {"enabled": False}
        assert kp.delete_key(key["id"], bi).get_status_code() == 204

        # Refusals.
        expect_error(
            lambda: kp.put_instance_policy(
                bi, instance_body(instance_policy("metrics", True), instance_policy("dualAuthDelete", True)), policy="metrics"
            ),
            400,
            code="NUM_COLLECTION_RESOURCE_ERR",
        )
        expect_error(
            lambda: kp.put_instance_policy(bi, instance_body(instance_policy("metrics", True)), policy="rotation"),
            400,
            code="BODY_QUERY_PARAM_MISMATCH_ERR",
        )
        expect_error(
            lambda: kp.put_instance_policy(bi, instance_body(instance_policy("rotation", True))),
            400,
            code="INVALID_FIELD_ERR",
        )
    finally:
        kp.put_instance_policy(
            bi,
            instance_body(
                *(
                    instance_policy(kind, False)
                    for kind in ("allowedIP", "dualAuthDelete", "rotation", "keyCreateImportAccess", "metrics")
                )
            ),
        )
    assert kp.get_allowed_ip_port(bi).get_result()["metadata"]["collectionTotal"] == 0
    assert "rotation" not in create_root_key(kp, bi)


def seal_for_import(token: dict, material: bytes) -> dict:
    """The client's side of secure import, as Key Protect's tutorial does it: the material under
    the token's RSA public key (OAEP, SHA-256), the token's nonce under the material (AES-GCM)."""
    public = serialization.load_pem_public_key(base64.b64decode(token["payload"]))
    payload = public.encrypt(
        material, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    iv = os.urandom(12)
    encrypted_nonce = AESGCM(material).encrypt(iv, base64.b64decode(token["nonce"]), None)
    return {
        "payload": b64(payload),
        "encryptedNonce": b64(encrypted_nonce),
        "iv": b64(iv),
        "encryptionAlgorithm": "RSAES_OAEP_SHA_256",
    }


def test_import_tokens_and_secure_import(server, kp, bi):
    made = kp.post_import_token(bi, expiration=900, max_allowed_retrievals=2)
    assert made.get_status_code() == 200
    m = made.get_result()
    assert (m["maxAllowedRetrievals"], m["remainingRetrievals"]) == (2, 2)
    assert (parse_date(m["expirationDate"]) - parse_date(m["creationDate"])).total_seconds() == 900
    assert "payload" not in m and "nonce" not in m

    token = kp.get_import_token(bi).get_result()
    assert token["remainingRetrievals"] == 1
    assert base64.b64decode(token["payload"]).startswith(b"-----BEGIN PUBLIC KEY-----")
    assert len(base64.b64decode(token["nonce"])) == 12

    material = os.urandom(32)
    # A tampered IV is refused and spends nothing.
    bad = seal_for_import(token, material)
    iv = bytearray(base64.b64decode(bad["iv"]))
    iv[0] ^= 1
    bad["iv"] = b64(bytes(iv))
    expect_error(lambda: create_key(kp, bi, name=key_name("badiv"), **bad), 400, code="INCORRECT_NONCE_IV_ERR")

    k = create_key(kp, bi, name=key_name("secure"), **seal_for_import(token, material))
    assert k["imported"] is True and k["extractable"] is False
    dek = os.urandom(32)
    w = wrap(kp, bi, k["id"], {"plaintext": b64(dek)})
    assert unb64(unwrap(kp, bi, k["id"], {"ciphertext": w["ciphertext"]})["plaintext"]) == dek
    # The token served one import; retrievals left or not, it is gone.
    expect_error(lambda: kp.get_import_token(bi), 404, code="IMPORT_TOKEN_NOT_FOUND_ERR")

    # Rotation with new material through a new token; the one retrieval allowed is then used up.
    kp.post_import_token(bi)
    token = kp.get_import_token(bi).get_result()
    expect_error(lambda: kp.get_import_token(bi), 409, code="IMPORT_TOKEN_EXPIRED_ERR")
    rotated = kp.rotate_key(k["id"], bi, key_action_rotate_body=seal_for_import(token, os.urandom(16)))
    assert rotated.get_status_code() == 204
    assert get_key(kp, bi, k["id"])["keyVersion"]["id"] != k["keyVersion"]["id"]
    assert unb64(unwrap(kp, bi, k["id"], {"ciphertext": w["ciphertext"]})["plaintext"]) == dek

    expect_error(lambda: kp.post_import_token(bi, expiration=10), 400, code="INVALID_FIELD_ERR")


def register(server, key_id: str, crn: str, *, prevent: bool = False) -> None:
    """Registers a resource on a key as a service does (the SDK has no call for it)."""
    r = requests.post(
        f"{server.base_url}/api/v2/keys/{key_id}/registrations/{quote(crn, safe='')}",
        headers={"Authorization": f"Bearer {server.token()}", "Bluemix-Instance": server.instance_id},
        json={"resources": [{"preventKeyDeletion": prevent, "description": "sdk suite"}]},
        timeout=10,
    )
    assert r.status_code == 201, r.text


def test_get_registrations_of_a_key_and_of_all_keys(server, kp, bi):
    a, b = create_root_key(kp, bi), create_root_key(kp, bi)
    tag = suffix()
    crn_a = f"crn:v1:keyward:local:configsvc:local:a/py:{tag}-a::"
    crn_b = f"crn:v1:keyward:local:configsvc:local:a/py:{tag}-b::"
    register(server, a["id"], crn_a, prevent=True)
    register(server, b["id"], crn_b)

    res = kp.get_registrations(a["id"], bi, total_count=True)
    assert res.get_status_code() == 200
    result = res.get_result()
    assert result["metadata"]["collectionType"] == "application/vnd.ibm.kms.registration+json"
    assert result["metadata"]["totalCount"] == 1
    (reg,) = result["resources"]
    assert (reg["keyId"], reg["resourceCrn"], reg["preventKeyDeletion"]) == (a["id"], crn_a, True)
    assert reg["description"] == "sdk suite"
    assert UUID_RE.match(reg["keyVersion"]["id"])
    parse_date(reg["creationDate"])

    # Every key's registrations, narrowed by a CRN pattern and by preventKeyDeletion.
    everything = kp.get_registrations_all_keys(bi, url_encoded_resource_crn_query=f"*:{tag}-*").get_result()
    assert sorted(r["resourceCrn"] for r in everything["resources"]) == [crn_a, crn_b]
    kept = kp.get_registrations_all_keys(
        bi, url_encoded_resource_crn_query=f"*:{tag}-*", prevent_key_deletion=False
    ).get_result()
    assert [(r["keyId"], r["resourceCrn"]) for r in kept["resources"]] == [(b["id"], crn_b)]
    # A registration that prevents deletion does so.
    expect_error(lambda: kp.delete_key(a["id"], bi), 409)


def test_authentication_and_instance_errors(server, bi):
    bad = IbmKeyProtectApiV2(authenticator=IAMAuthenticator(f"not-a-valid-key-{suffix()}", url=server.base_url))
    bad.set_service_url(server.base_url)
    err = expect_error(lambda: bad.get_keys(bi), 400, envelope=False)  # IBM IAM: 400 BXNIM0415E
    assert err.http_response is not None

    garbage = IbmKeyProtectApiV2(authenticator=BearerTokenAuthenticator(f"garbage.{suffix()}.token"))
    garbage.set_service_url(server.base_url)
    expect_error(lambda: garbage.get_keys(bi), 401)
    expect_error(lambda: garbage.create_key(bi, key_body(name=key_name("x"), extractable=False)), 401)

    noauth = IbmKeyProtectApiV2(authenticator=NoAuthAuthenticator())
    noauth.set_service_url(server.base_url)
    expect_error(lambda: noauth.get_keys(bi), 401)

    kp = server.client()
    expect_error(lambda: kp.get_keys("not-a-uuid"), 400)
    expect_error(lambda: kp.get_keys(str(uuid.uuid4())), [403, 404])
    expect_error(
        lambda: kp.create_key(str(uuid.uuid4()), key_body(name=key_name("x"), extractable=False)), [403, 404]
    )
