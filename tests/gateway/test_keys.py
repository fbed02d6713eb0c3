"""Signing keys: generated once whoever starts first, 0600, rotatable, or given by env."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.keys import KeyRing, rotate
from tests.gateway.conftest import admin_token, auth
from tests.support.backends import Backend
from tests.support.platform import REPO


def test_concurrent_starts_agree_on_one_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    # Four interpreters importing only the key module (not the test's imports): each
    # races to create the key at once.
    code = (
        "import sys; from pathlib import Path; from gateway.keys import ensure_key; "
        "ensure_key(Path(sys.argv[1]))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(keys)], cwd=REPO) for _ in range(4)]
    assert [p.wait(60) for p in procs] == [0] * 4
    pems = list(keys.glob("*.pem"))
    assert len(pems) == 1
    assert stat.S_IMODE(pems[0].stat().st_mode) == 0o600
    assert not list(keys.glob(".*.tmp"))


def test_rotation_signs_with_the_new_key_and_still_verifies_old_tokens(
    backend: Backend, make_gateway
) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway()
    ring: KeyRing = gw.application.extensions["eyhub"].extras["keyring"]
    old_token = admin_token(gw)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    rotate(backend.settings().keys_dir)
    ring._checked = 0.0  # skip the rescan interval instead of sleeping through it
    new_token = admin_token(gw)
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    kids = [k["kid"] for k in gw.get("/.well-known/jwks.json").get_json()["keys"]]
    assert kids == [new_kid, old_kid]
    for token in (old_token, new_token):
        assert gw.get("/api/auth/me", headers=auth(token)).status_code == 200


def test_private_key_from_env(backend: Backend, make_gateway) -> None:  # type: ignore[no-untyped-def]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for seeded in backend.settings().keys_dir.glob("*.pem"):  # the suite's shared key
        seeded.unlink()
    gw = make_gateway(EYHUB_JWT_PRIVATE_KEY=pem)
    token = admin_token(gw)
    jwt.decode(token, key.public_key(), algorithms=["RS256"], audience="eyhub")
    assert not list(backend.settings().keys_dir.glob("*.pem"))  # nothing generated
    assert len(gw.get("/.well-known/jwks.json").get_json()["keys"]) == 1
