"""The storage service driven by the official Azure Storage Blob SDK for Python.

Run by conformance/tests/it/storage_sdk.rs, which starts the service and sets:

- FABRIC_STORAGE_CONNECTION_STRING: the account's connection string (key1);
- FABRIC_SUBSCRIPTION_TOKEN: the subscription's credential for key changes.

By hand: start `cargo run -- serve storage --listen 127.0.0.1:0 --data DIR`,
export both from what it prints, and run this file with the SDK from
requirements.txt installed (`python sdk_suite.py [CASE ...]` runs only those).

Every refusal is checked for its exact HTTP status and storage error code
(`HttpResponseError.status_code` and `.error_code`, and the x-ms-error-code
header when the response has one). One line per case; the exit code is 1 if
any case failed, naming it.
"""

import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

# Loopback must never go through a proxy the machine may have configured.
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(
        part for part in ("127.0.0.1", "localhost", os.environ.get(_name, "")) if part
    )

from azure.core.exceptions import HttpResponseError  # noqa: E402
from azure.storage.blob import (  # noqa: E402
    AccessPolicy,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    ContentSettings,
    generate_blob_sas,
    generate_container_sas,
)

# Cases that fail today because the service is wrong (never because the test
# is). Each entry must be reported with the request, the expected and the
# actual answer, and removed once the service is fixed: a listed case that
# passes fails the suite ("XPASS") so the list cannot go stale.
EXPECTED_FAILURES = set()

CONNECTION_STRING_ENV = "FABRIC_STORAGE_CONNECTION_STRING"
TOKEN_ENV = "FABRIC_SUBSCRIPTION_TOKEN"


class Failure(Exception):
    """A check that did not hold."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def check_eq(got, expected, what):
    if got != expected:
        raise Failure(f"{what}: expected {expected!r}, got {got!r}")


def code_text(code):
    """The string value of an SDK error code (a StorageErrorCode or a str)."""
    return getattr(code, "value", code)


def expect_error(what, status, code, action):
    """Runs `action` (no arguments), which must fail with `status` and `code`."""
    try:
        action()
    except HttpResponseError as error:
        got_code = code_text(error.error_code)
        header = None
        if error.response is not None:
            header = error.response.headers.get("x-ms-error-code")
        if error.status_code != status or got_code != code:
            raise Failure(
                f"{what}: expected {status} {code}, got {error.status_code} {got_code} "
                f"(x-ms-error-code: {header})"
            ) from None
        if header is not None and header != code:
            raise Failure(
                f"{what}: status and body say {status} {code} but x-ms-error-code says {header}"
            )
        return error
    raise Failure(f"{what}: expected {status} {code}, but it succeeded")


class Env:
    """The service under test and the account's current key."""

    def __init__(self, connection_string, token):
        fields = dict(
            part.split("=", 1) for part in connection_string.split(";") if "=" in part
        )
        self.account = fields["AccountName"]
        self.key = fields["AccountKey"]
        self.key_slot = "key1"
        self.endpoint = fields["BlobEndpoint"].rstrip("/")
        parts = urlsplit(self.endpoint)
        self.root = f"{parts.scheme}://{parts.netloc}"
        self.token = token
        self.run = uuid.uuid4().hex[:8]
        self.counter = 0

    def credential(self, key=None):
        return {"account_name": self.account, "account_key": key or self.key}

    def service(self, key=None):
        """A client signing with Shared Key (the current key unless told)."""
        return BlobServiceClient(
            account_url=self.endpoint, credential=self.credential(key), retry_total=0
        )

    def name(self, what):
        """A fresh container name for this run."""
        self.counter += 1
        return f"sdk{self.run}-{self.counter}-{what}"[:63].rstrip("-")

    def container_url(self, container):
        return f"{self.endpoint}/{container}"

    def blob_url(self, container, blob):
        return f"{self.endpoint}/{container}/{quote(blob)}"

    def container(self, what, **kwargs):
        """A new container; its client signs with the current key."""
        return self.service().create_container(self.name(what), **kwargs)

    def management(self, account, key_name, authorization):
        """POSTs regenerateKey; answers (status, headers, body)."""
        request = urllib.request.Request(
            f"{self.root}/.management/accounts/{account}/regenerateKey",
            data=json.dumps({"keyName": key_name}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        if authorization is not None:
            request.add_header("Authorization", authorization)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read()
        if status == 200:
            # Keep following the account's keys even if a call that should
            # have been refused was not, so later cases still sign correctly.
            keys = {k["keyName"]: k["value"] for k in json.loads(body)["keys"]}
            self.key = keys[self.key_slot]
        return status, headers, body


E = None
CASES = []


def case(name):
    def register(function):
        CASES.append((name, function))
        return function

    return register


def now():
    return datetime.now(timezone.utc)


def blob_sas(container, blob, permission=None, start=None, expiry=None, policy_id=None):
    if permission is not None and expiry is None:
        expiry = now() + timedelta(hours=1)
    if permission is not None and start is None:
        start = now() - timedelta(minutes=5)
    return generate_blob_sas(
        account_name=E.account,
        container_name=container,
        blob_name=blob,
        account_key=E.key,
        permission=permission,
        start=start,
        expiry=expiry,
        policy_id=policy_id,
    )


def container_sas(container, permission=None, policy_id=None):
    start = expiry = None
    if permission is not None:
        start = now() - timedelta(minutes=5)
        expiry = now() + timedelta(hours=1)
    return generate_container_sas(
        account_name=E.account,
        container_name=container,
        account_key=E.key,
        permission=permission,
        start=start,
        expiry=expiry,
        policy_id=policy_id,
    )


def sas_blob(container, blob, sas):
    return BlobClient.from_blob_url(f"{E.blob_url(container, blob)}?{sas}", retry_total=0)


def sas_container(container, sas):
    return ContainerClient.from_container_url(
        f"{E.container_url(container)}?{sas}", retry_total=0
    )


def anonymous_blob(container, blob):
    return BlobClient.from_blob_url(E.blob_url(container, blob), retry_total=0)


def anonymous_container(container):
    return ContainerClient.from_container_url(E.container_url(container), retry_total=0)


def read(blob_client, **kwargs):
    return blob_client.download_blob(**kwargs).readall()


def names(container_client, **kwargs):
    return [blob.name for blob in container_client.list_blobs(**kwargs)]


# ---------------------------------------------------------------- containers


@case("container_create_list_properties_delete")
def _():
    service = E.service()
    name = E.name("life")
    container = service.create_container(name, metadata={"purpose": "sdk"})
    listed = [c.name for c in service.list_containers(name_starts_with=name)]
    check_eq(listed, [name], "list_containers(name_starts_with)")
    properties = container.get_container_properties()
    check_eq(properties.name, name, "container properties name")
    check_eq(dict(properties.metadata), {"purpose": "sdk"}, "container metadata")
    check(properties.etag, "container properties carry an ETag")
    container.delete_container()
    expect_error(
        "get_container_properties after delete_container",
        404,
        "ContainerNotFound",
        container.get_container_properties,
    )
    listed = [c.name for c in service.list_containers(name_starts_with=name)]
    check_eq(listed, [], "list_containers after delete")


@case("container_create_twice")
def _():
    service = E.service()
    name = E.name("twice")
    service.create_container(name)
    expect_error(
        "second create_container",
        409,
        "ContainerAlreadyExists",
        lambda: service.create_container(name),
    )


@case("container_get_missing")
def _():
    container = E.service().get_container_client(E.name("missing"))
    expect_error(
        "get_container_properties of a missing container",
        404,
        "ContainerNotFound",
        container.get_container_properties,
    )


# --------------------------------------------------------------------- blobs


@case("blob_round_trip_small")
def _():
    container = E.container("small")
    data = b"hello, fabric storage \x00\x01\xfe\xff"
    blob = container.get_blob_client("greeting.bin")
    blob.upload_blob(data)
    check_eq(read(blob), data, "downloaded bytes")


@case("blob_round_trip_1mib")
def _():
    container = E.container("big")
    data = os.urandom(1024 * 1024 + 17)
    blob = container.get_blob_client("dir/big.bin")
    blob.upload_blob(data)
    got = read(blob)
    check(got == data, f"1 MiB round trip differs: sent {len(data)} bytes, got {len(got)}")


@case("blob_ranged_download")
def _():
    container = E.container("range")
    data = os.urandom(100_000)
    blob = container.get_blob_client("ranged.bin")
    blob.upload_blob(data)
    got = read(blob, offset=1000, length=5000)
    check(got == data[1000:6000], f"range 1000+5000: got {len(got)} bytes, not the slice")


@case("blob_list")
def _():
    container = E.container("list")
    for name in ("b/c", "a", "d"):
        container.upload_blob(name, name.encode())
    check_eq(names(container), ["a", "b/c", "d"], "list_blobs")
    check_eq(names(container, name_starts_with="b/"), ["b/c"], "list_blobs(prefix b/)")
    sizes = {blob.name: blob.size for blob in container.list_blobs()}
    check_eq(sizes, {"a": 1, "b/c": 3, "d": 1}, "listed sizes")


@case("blob_metadata_set_get")
def _():
    container = E.container("meta")
    blob = container.get_blob_client("m.txt")
    blob.upload_blob(b"m", metadata={"origin": "sdk"})
    check_eq(dict(blob.get_blob_properties().metadata), {"origin": "sdk"}, "metadata on upload")
    blob.set_blob_metadata({"color": "blue", "size": "large"})
    check_eq(
        dict(blob.get_blob_properties().metadata),
        {"color": "blue", "size": "large"},
        "metadata after set_blob_metadata (replaces)",
    )
    check_eq(read(blob), b"m", "content unchanged by set_blob_metadata")


@case("blob_get_properties")
def _():
    container = E.container("props")
    blob = container.get_blob_client("p.txt")
    data = b"properties!"
    uploaded = blob.upload_blob(
        data, content_settings=ContentSettings(content_type="text/plain; charset=utf-8")
    )
    properties = blob.get_blob_properties()
    check_eq(properties.size, len(data), "size")
    check_eq(
        properties.content_settings.content_type, "text/plain; charset=utf-8", "content type"
    )
    check_eq(properties.blob_type, "BlockBlob", "blob type")
    check_eq(properties.etag, uploaded["etag"], "ETag of get_blob_properties vs upload")
    check(properties.last_modified is not None, "last_modified is set")
    check_eq(properties.lease.state, "available", "lease state")


@case("blob_download_missing")
def _():
    container = E.container("nob")
    expect_error(
        "download_blob of a missing blob",
        404,
        "BlobNotFound",
        lambda: read(container.get_blob_client("nothing-here")),
    )


# ----------------------------------------------------------------------- SAS


@case("sas_blob_read")
def _():
    container = E.container("sasb")
    container.upload_blob("s.txt", b"signed")
    sas = blob_sas(container.container_name, "s.txt", BlobSasPermissions(read=True))
    client = sas_blob(container.container_name, "s.txt", sas)
    check_eq(read(client), b"signed", "download with a read blob SAS")
    check_eq(client.get_blob_properties().size, 6, "properties with a read blob SAS")


@case("sas_container_read_list")
def _():
    container = E.container("sasc")
    container.upload_blob("one", b"1")
    container.upload_blob("two", b"22")
    sas = container_sas(
        container.container_name, ContainerSasPermissions(read=True, list=True)
    )
    client = sas_container(container.container_name, sas)
    check_eq(names(client), ["one", "two"], "list with a read+list container SAS")
    check_eq(read(client.get_blob_client("two")), b"22", "read with a read+list container SAS")


@case("sas_stored_access_policy")
def _():
    container = E.container("sasp")
    container.upload_blob("p", b"policy")
    container.set_container_access_policy(
        signed_identifiers={
            "readers": AccessPolicy(
                permission=ContainerSasPermissions(read=True, list=True),
                start=now() - timedelta(minutes=5),
                expiry=now() + timedelta(hours=1),
            )
        }
    )
    stored = container.get_container_access_policy()["signed_identifiers"]
    check_eq([identifier.id for identifier in stored], ["readers"], "stored policies")
    check_eq(stored[0].access_policy.permission, "rl", "stored policy permissions")
    sas = container_sas(container.container_name, policy_id="readers")
    client = sas_container(container.container_name, sas)
    check_eq(names(client), ["p"], "list with a policy SAS")
    check_eq(read(client.get_blob_client("p")), b"policy", "read with a policy SAS")


# ------------------------------------------------------------------- attacks


def tamper(sas):
    """The SAS with one character of its signature changed."""
    pairs = parse_qsl(sas, keep_blank_values=True)
    out = []
    for key, value in pairs:
        if key == "sig":
            middle = len(value) // 2
            flipped = "A" if value[middle] != "A" else "B"
            value = value[:middle] + flipped + value[middle + 1 :]
        out.append((key, value))
    check(any(key == "sig" for key, _ in pairs), f"the SAS has a sig: {sas}")
    return urlencode(out, quote_via=quote, safe="")


@case("attack_tampered_signature")
def _():
    container = E.container("tamper")
    container.upload_blob("t", b"secret")
    sas = blob_sas(container.container_name, "t", BlobSasPermissions(read=True))
    check_eq(read(sas_blob(container.container_name, "t", sas)), b"secret", "untampered SAS")
    expect_error(
        "download with one character of sig flipped",
        403,
        "AuthenticationFailed",
        lambda: read(sas_blob(container.container_name, "t", tamper(sas))),
    )


@case("attack_expired_sas")
def _():
    container = E.container("expired")
    container.upload_blob("e", b"old")
    sas = blob_sas(
        container.container_name,
        "e",
        BlobSasPermissions(read=True),
        start=now() - timedelta(hours=2),
        expiry=now() - timedelta(hours=1),
    )
    expect_error(
        "download with a SAS that expired an hour ago",
        403,
        "AuthenticationFailed",
        lambda: read(sas_blob(container.container_name, "e", sas)),
    )


@case("attack_sas_without_write_upload")
def _():
    container = E.container("nowrite")
    container.upload_blob("w", b"original")
    sas = blob_sas(container.container_name, "w", BlobSasPermissions(read=True))
    expect_error(
        "upload_blob with a read-only blob SAS",
        403,
        "AuthorizationPermissionMismatch",
        lambda: sas_blob(container.container_name, "w", sas).upload_blob(
            b"overwritten", overwrite=True
        ),
    )
    check_eq(read(container.get_blob_client("w")), b"original", "blob after refused upload")


@case("attack_revoked_policy")
def _():
    container = E.container("revoked")
    container.upload_blob("r", b"revocable")
    container.set_container_access_policy(
        signed_identifiers={
            "temp": AccessPolicy(
                permission=ContainerSasPermissions(read=True),
                expiry=now() + timedelta(hours=1),
            )
        }
    )
    sas = container_sas(container.container_name, policy_id="temp")
    client = sas_container(container.container_name, sas).get_blob_client("r")
    check_eq(read(client), b"revocable", "read before the policy is removed")
    container.set_container_access_policy(signed_identifiers={})
    expect_error(
        "read with a SAS whose stored policy was removed",
        403,
        "AuthenticationFailed",
        lambda: read(client),
    )


@case("attack_changed_policy")
def _():
    container = E.container("narrowed")
    container.upload_blob("n", b"narrow")

    def policy(permission):
        return {
            "pol": AccessPolicy(permission=permission, expiry=now() + timedelta(hours=1))
        }

    container.set_container_access_policy(
        signed_identifiers=policy(ContainerSasPermissions(read=True, list=True))
    )
    sas = container_sas(container.container_name, policy_id="pol")
    client = sas_container(container.container_name, sas)
    check_eq(names(client), ["n"], "list before the policy is narrowed")
    container.set_container_access_policy(
        signed_identifiers=policy(ContainerSasPermissions(read=True))
    )
    expect_error(
        "list with a SAS whose policy was narrowed to read",
        403,
        "AuthorizationPermissionMismatch",
        lambda: names(client),
    )
    check_eq(read(client.get_blob_client("n")), b"narrow", "read still allowed by the policy")


# -------------------------------------------------------------- key rotation


def parse_keys(body):
    return {k["keyName"]: k["value"] for k in json.loads(body)["keys"]}


@case("key_rotation")
def _():
    key1 = E.key
    check_eq(E.key_slot, "key1", "the suite starts on key1")
    old = E.service(key1).get_container_client(E.name("rotate"))
    old.create_container()
    old.upload_blob("k", b"before")

    status, _, body = E.management(E.account, "key2", f"Bearer {E.token}")
    check_eq(status, 200, f"regenerate key2 (body {body[:200]!r})")
    keys = parse_keys(body)
    check_eq(keys["key1"], key1, "key1 after regenerating key2")
    key2 = keys["key2"]
    check_eq(read(old.get_blob_client("k")), b"before", "key1 client after key2 changed")

    new = E.service(key2).get_container_client(old.container_name)
    new.upload_blob("k", b"on key2", overwrite=True)
    check_eq(read(new.get_blob_client("k")), b"on key2", "key2 client")
    E.key, E.key_slot = key2, "key2"

    status, _, body = E.management(E.account, "key1", f"Bearer {E.token}")
    check_eq(status, 200, f"regenerate key1 (body {body[:200]!r})")
    keys = parse_keys(body)
    check(keys["key1"] != key1, "regenerating key1 changed it")
    check_eq(keys["key2"], key2, "key2 after regenerating key1")
    expect_error(
        "old key1 client's next request",
        403,
        "AuthenticationFailed",
        lambda: read(old.get_blob_client("k")),
    )
    expect_error(
        "old key1 client's next write",
        403,
        "AuthenticationFailed",
        lambda: old.upload_blob("k2", b"x"),
    )
    new.upload_blob("k2", b"still")
    check_eq(read(new.get_blob_client("k2")), b"still", "key2 client after key1 changed")
    check_eq(names(new), ["k", "k2"], "key2 client lists")


@case("management_requires_subscription_token")
def _():
    probe = E.container("mgmt")
    for label, authorization in (
        ("no Authorization header", None),
        ("a wrong bearer token", "Bearer not-the-subscription-token"),
        ("the token without the Bearer scheme", E.token),
    ):
        before = E.key
        status, headers, body = E.management(E.account, E.key_slot, authorization)
        code = headers.get("x-ms-error-code")
        check(
            (status, code) == (403, "ForbiddenError"),
            f"regenerateKey with {label}: expected 403 ForbiddenError, "
            f"got {status} {code} (body {body[:200]!r})",
        )
        check_eq(E.key, before, f"key after a refused regenerateKey ({label})")
    probe.upload_blob("after", b"ok")
    check_eq(read(probe.get_blob_client("after")), b"ok", "current key still works")


# ------------------------------------------------------------- public access


@case("public_blob_anonymous_read")
def _():
    container = E.container("pubb", public_access="blob")
    container.upload_blob("open.txt", b"anyone may read")
    check_eq(
        read(anonymous_blob(container.container_name, "open.txt")),
        b"anyone may read",
        "anonymous download from a blob-public container",
    )


@case("public_blob_anonymous_list_refused")
def _():
    container = E.container("publ", public_access="blob")
    container.upload_blob("x", b"x")
    expect_error(
        "anonymous list of a blob-public container",
        404,
        "ResourceNotFound",
        lambda: names(anonymous_container(container.container_name)),
    )


@case("public_container_anonymous_list")
def _():
    container = E.container("pubc", public_access="container")
    container.upload_blob("x", b"x")
    container.upload_blob("y", b"yy")
    anonymous = anonymous_container(container.container_name)
    check_eq(names(anonymous), ["x", "y"], "anonymous list of a container-public container")
    check_eq(read(anonymous.get_blob_client("y")), b"yy", "anonymous read")


@case("public_anonymous_upload_refused")
def _():
    container = E.container("pubw", public_access="container")
    expect_error(
        "anonymous upload_blob into a container-public container",
        401,
        "NoAuthenticationInformation",
        lambda: anonymous_blob(container.container_name, "intruder").upload_blob(b"x"),
    )
    check_eq(names(container), [], "blobs after the refused anonymous upload")


@case("private_anonymous_read_refused")
def _():
    container = E.container("priv")
    container.upload_blob("hidden", b"h")
    expect_error(
        "anonymous download from a private container",
        404,
        "ResourceNotFound",
        lambda: read(anonymous_blob(container.container_name, "hidden")),
    )


# ----------------------------------------------------------------- snapshots


def with_snapshot(what):
    container = E.container(what)
    base = container.get_blob_client("snap.txt")
    base.upload_blob(b"version 1")
    snapshot = base.create_snapshot()["snapshot"]
    check(snapshot, "create_snapshot answers a snapshot id")
    base.upload_blob(b"version 2", overwrite=True)
    return container, base, snapshot


@case("snapshot_read_old_bytes")
def _():
    container, base, snapshot = with_snapshot("snapr")
    old = container.get_blob_client("snap.txt", snapshot=snapshot)
    check_eq(read(old), b"version 1", "snapshot after the base was overwritten")
    check_eq(read(base), b"version 2", "base blob")
    check_eq(old.get_blob_properties().snapshot, snapshot, "snapshot properties")


@case("snapshot_list_include")
def _():
    container, _, snapshot = with_snapshot("snapl")
    listed = [(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"])]
    check_eq(
        sorted(listed, key=lambda pair: pair[1] or "~"),
        [("snap.txt", snapshot), ("snap.txt", None)],
        "list_blobs(include=snapshots)",
    )
    check_eq(
        [(b.name, b.snapshot) for b in container.list_blobs()],
        [("snap.txt", None)],
        "list_blobs without snapshots",
    )


@case("snapshot_upload_refused")
def _():
    container, _, snapshot = with_snapshot("snapw")
    target = BlobClient(
        E.endpoint,
        container.container_name,
        "snap.txt",
        snapshot=snapshot,
        credential=E.credential(),
        retry_total=0,
    )
    check("snapshot=" in target.url, f"the SDK puts the snapshot in the URL: {target.url}")
    expect_error(
        "upload_blob to a snapshot URL",
        400,
        "InvalidOperation",
        lambda: target.upload_blob(b"rewrite history", overwrite=True),
    )
    check_eq(read(target), b"version 1", "snapshot after the refused upload")


@case("snapshot_delete_without_option_refused")
def _():
    container, base, _ = with_snapshot("snapn")
    expect_error(
        "delete_blob of a blob with snapshots, without delete_snapshots",
        409,
        "SnapshotsPresent",
        base.delete_blob,
    )
    check_eq(read(base), b"version 2", "base after the refused delete")


@case("snapshot_delete_include")
def _():
    container, base, snapshot = with_snapshot("snapd")
    base.delete_blob(delete_snapshots="include")
    old = container.get_blob_client("snap.txt", snapshot=snapshot)
    expect_error("get_blob_properties of the deleted base", 404, "BlobNotFound",
                 base.get_blob_properties)
    expect_error("download of the deleted base", 404, "BlobNotFound", lambda: read(base))
    expect_error("get_blob_properties of the deleted snapshot", 404, "BlobNotFound",
                 old.get_blob_properties)
    expect_error("download of the deleted snapshot", 404, "BlobNotFound", lambda: read(old))
    check_eq(list(container.list_blobs(include=["snapshots"])), [], "listing after delete")


# -------------------------------------------------------------------- delete


@case("delete_then_read")
def _():
    container = E.container("del")
    blob = container.get_blob_client("gone")
    blob.upload_blob(b"soon gone")
    container.upload_blob("kept", b"k")
    blob.delete_blob()
    expect_error("download right after delete", 404, "BlobNotFound", lambda: read(blob))
    expect_error("properties right after delete", 404, "BlobNotFound", blob.get_blob_properties)
    check_eq(names(container), ["kept"], "list right after delete")


# -------------------------------------------------------------------- leases


def leased(what, duration=-1):
    container = E.container(what)
    blob = container.get_blob_client("leased.txt")
    blob.upload_blob(b"v0")
    lease = blob.acquire_lease(lease_duration=duration)
    return container, blob, lease


@case("lease_infinite_write_rules")
def _():
    _, blob, lease = leased("lsinf")
    lease_properties = blob.get_blob_properties().lease
    check_eq(
        (lease_properties.state, lease_properties.status, lease_properties.duration),
        ("leased", "locked", "infinite"),
        "lease properties",
    )
    expect_error(
        "upload_blob without the lease id",
        412,
        "LeaseIdMissing",
        lambda: blob.upload_blob(b"v1", overwrite=True),
    )
    expect_error(
        "upload_blob with a wrong lease id",
        412,
        "LeaseIdMismatchWithBlobOperation",
        lambda: blob.upload_blob(b"v1", overwrite=True, lease=str(uuid.uuid4())),
    )
    expect_error(
        "set_blob_metadata without the lease id",
        412,
        "LeaseIdMissing",
        lambda: blob.set_blob_metadata({"a": "b"}),
    )
    blob.upload_blob(b"v1", overwrite=True, lease=lease)
    check_eq(read(blob), b"v1", "content after the write with the lease id")


@case("lease_acquire_again_other_id")
def _():
    _, blob, lease = leased("lsdup")
    expect_error(
        "acquire_lease with another id while leased",
        409,
        "LeaseAlreadyPresent",
        lambda: blob.acquire_lease(lease_id=str(uuid.uuid4())),
    )
    blob.upload_blob(b"v1", overwrite=True, lease=lease)


@case("lease_fixed_15s")
def _():
    _, blob, lease = leased("ls15", duration=15)
    lease_properties = blob.get_blob_properties().lease
    check_eq(
        (lease_properties.state, lease_properties.duration),
        ("leased", "fixed"),
        "15 s lease properties",
    )
    expect_error(
        "upload_blob without the 15 s lease id",
        412,
        "LeaseIdMissing",
        lambda: blob.upload_blob(b"v1", overwrite=True),
    )
    blob.upload_blob(b"v1", overwrite=True, lease=lease)
    check_eq(read(blob), b"v1", "content after the write under the 15 s lease")


@case("lease_change")
def _():
    _, blob, lease = leased("lschg")
    old_id = lease.id
    new_id = str(uuid.uuid4())
    lease.change(proposed_lease_id=new_id)
    check_eq(lease.id, new_id, "lease id after change")
    expect_error(
        "upload_blob with the lease id from before the change",
        412,
        "LeaseIdMismatchWithBlobOperation",
        lambda: blob.upload_blob(b"v1", overwrite=True, lease=old_id),
    )
    blob.upload_blob(b"v1", overwrite=True, lease=new_id)
    check_eq(read(blob), b"v1", "content after the write with the changed id")


@case("lease_renew")
def _():
    _, blob, lease = leased("lsren", duration=15)
    lease_id = lease.id
    lease.renew()
    check_eq(lease.id, lease_id, "lease id after renew")
    check_eq(blob.get_blob_properties().lease.state, "leased", "lease state after renew")
    blob.upload_blob(b"v1", overwrite=True, lease=lease)


@case("lease_release")
def _():
    _, blob, lease = leased("lsrel")
    lease.release()
    check_eq(blob.get_blob_properties().lease.state, "available", "lease state after release")
    blob.upload_blob(b"v1", overwrite=True)
    check_eq(read(blob), b"v1", "content after a write without lease")


@case("lease_break")
def _():
    _, blob, lease = leased("lsbrk")
    remaining = lease.break_lease(lease_break_period=0)
    check_eq(remaining, 0, "break_lease(0) answers the remaining seconds")
    check_eq(blob.get_blob_properties().lease.state, "broken", "lease state after break")
    blob.upload_blob(b"v1", overwrite=True)
    check_eq(read(blob), b"v1", "content after a write without lease")


@case("lease_delete_without_id")
def _():
    container, blob, lease = leased("lsdel")
    expect_error(
        "delete_blob under a lease without its id",
        412,
        "LeaseIdMissing",
        blob.delete_blob,
    )
    check_eq(read(blob), b"v0", "blob after the refused delete")
    blob.delete_blob(lease=lease)
    check_eq(names(container), [], "list after delete with the lease id")


# -------------------------------------------------------------------- runner


def describe_unexpected(error):
    """A refusal no check expected: the status, the code and where."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == __file__
    ]
    where = f" at line {frames[-1].lineno}: {frames[-1].line}" if frames else ""
    request = error.response.request if error.response is not None else None
    sent = f" for {request.method} {request.url}" if request is not None else ""
    message = (error.message or "").splitlines()[0] if error.message else ""
    return (
        f"unexpected {error.status_code} {code_text(error.error_code)}{sent}{where} ({message})"
    )


def main(argv):
    global E
    missing = [name for name in (CONNECTION_STRING_ENV, TOKEN_ENV) if not os.environ.get(name)]
    if missing:
        print(f"sdk suite: set {' and '.join(missing)}", file=sys.stderr)
        return 2
    E = Env(os.environ[CONNECTION_STRING_ENV], os.environ[TOKEN_ENV])
    known = {name for name, _ in CASES}
    unknown = [name for name in argv if name not in known] + sorted(EXPECTED_FAILURES - known)
    if unknown:
        print(f"sdk suite: unknown cases {unknown}", file=sys.stderr)
        return 2
    selected = [(name, function) for name, function in CASES if not argv or name in argv]
    failed, expected, passed = [], [], 0
    for name, function in selected:
        started = time.monotonic()
        try:
            function()
            error = None
        except Failure as failure:
            error = str(failure)
        except HttpResponseError as unexpected:
            error = describe_unexpected(unexpected)
        except Exception:  # anything else the SDK raised is a failure too
            error = traceback.format_exc().rstrip()
        took = f"{(time.monotonic() - started) * 1000:.0f} ms"
        if error is None and name in EXPECTED_FAILURES:
            print(f"XPASS {name} ({took}): listed in EXPECTED_FAILURES; remove it", flush=True)
            failed.append(name)
        elif error is None:
            print(f"PASS  {name} ({took})", flush=True)
            passed += 1
        elif name in EXPECTED_FAILURES:
            print(f"XFAIL {name} ({took}): {error}", flush=True)
            expected.append(name)
        else:
            print(f"FAIL  {name} ({took}): {error}", flush=True)
            failed.append(name)
    print(
        f"sdk suite: {passed} passed, {len(failed)} failed, "
        f"{len(expected)} expected failures, of {len(selected)} cases",
        flush=True,
    )
    if failed:
        print(f"sdk suite: FAILED: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
