"""Configuration comes from the environment only, with the documented defaults."""

from pathlib import Path

import pytest

from shared.config import (
    COMPONENTS,
    ENV_VARS,
    ConfigError,
    load_settings,
    password_hash_profile,
)


def test_defaults_follow_the_design(tmp_path: Path) -> None:
    s = load_settings({"EYHUB_DATA_DIR": str(tmp_path)})
    assert s.port_base == 8080
    assert [s.port(c) for c in COMPONENTS] == [8080, 8081, 8082, 8083, 8084]
    assert s.database_url("bookings") == f"sqlite:///{tmp_path}/bookings.db"
    assert s.broker_url == "filesystem://" and s.embedded_broker
    assert s.broker_dir == tmp_path / "broker"
    assert s.public_url == "http://127.0.0.1:8080"
    assert s.jwks_url == "http://127.0.0.1:8080/.well-known/jwks.json"
    assert s.smtp_url is None
    assert s.should_migrate_at_start("catalogue")


def test_port_base_moves_every_port_and_url(tmp_path: Path) -> None:
    s = load_settings({"EYHUB_DATA_DIR": str(tmp_path), "EYHUB_PORT_BASE": "9100"})
    assert s.port("budget") == 9104
    assert s.service_url("mentoring") == "http://127.0.0.1:9103"
    assert s.public_url == "http://127.0.0.1:9100"


def test_server_urls_override(tmp_path: Path) -> None:
    s = load_settings(
        {
            "EYHUB_DATA_DIR": str(tmp_path),
            "EYHUB_CATALOGUE_DATABASE_URL": "postgresql://db/cat",
            "EYHUB_CATALOGUE_URL": "http://catalogue:8081/",
            "EYHUB_BROKER_URL": "amqp://guest:guest@mq:5672//",
        }
    )
    assert s.database_url("catalogue") == "postgresql://db/cat"
    assert s.service_url("catalogue") == "http://catalogue:8081"
    assert not s.embedded_broker
    assert not s.should_migrate_at_start("catalogue")
    assert s.should_migrate_at_start("bookings")  # still SQLite


def test_bad_values_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EYHUB_PORT_BASE"):
        load_settings({"EYHUB_DATA_DIR": str(tmp_path), "EYHUB_PORT_BASE": "eighty"})
    with pytest.raises(ConfigError, match="EYHUB_PORT_BASE"):
        load_settings({"EYHUB_DATA_DIR": str(tmp_path), "EYHUB_PORT_BASE": "70000"})


def test_every_documented_design_variable_is_known() -> None:
    for name in (
        "EYHUB_DATA_DIR",
        "EYHUB_PORT_BASE",
        "EYHUB_BROKER_URL",
        "EYHUB_SMTP_URL",
        "EYHUB_PUBLIC_URL",
        "EYHUB_ADMIN_EMAIL",
        "EYHUB_ADMIN_PASSWORD",
        *(f"EYHUB_{c.upper()}_DATABASE_URL" for c in COMPONENTS),
    ):
        assert name in ENV_VARS


def test_password_hashes_are_strong_unless_the_fast_profile_is_asked_for(tmp_path: Path) -> None:
    base = {"EYHUB_DATA_DIR": str(tmp_path)}
    assert load_settings(base).password_hash_profile == "default"
    assert password_hash_profile({}) == "default"
    fast = {**base, "EYHUB_PASSWORD_HASH_PROFILE": "fast"}
    assert load_settings(fast).password_hash_profile == password_hash_profile(fast) == "fast"
    with pytest.raises(ConfigError, match="EYHUB_PASSWORD_HASH_PROFILE"):
        load_settings({**base, "EYHUB_PASSWORD_HASH_PROFILE": "cheap"})


def test_each_profile_verifies_the_others_hashes_and_only_default_rehashes() -> None:
    from argon2 import extract_parameters, profiles

    from gateway import operations

    strong, fast = operations.build_hasher("default"), operations.build_hasher("fast")
    strong_hash, fast_hash = strong.hash("s3cret pass"), fast.hash("s3cret pass")
    assert extract_parameters(strong_hash) == profiles.RFC_9106_LOW_MEMORY  # 64 MiB, t=3
    assert extract_parameters(fast_hash).memory_cost == profiles.CHEAPEST.memory_cost
    # The parameters travel in the hash: a switch of profile locks nobody out.
    assert fast.verify(strong_hash, "s3cret pass") and strong.verify(fast_hash, "s3cret pass")
    # The default upgrades a cheap hash at the next login; fast never downgrades one.
    assert strong.check_needs_rehash(fast_hash) and not strong.check_needs_rehash(strong_hash)
    assert not fast.check_needs_rehash(strong_hash)
    # The gateway's own hasher follows the environment (fast under this suite).
    active = operations.build_hasher(password_hash_profile())
    assert type(operations.hasher) is type(active)
    assert operations.hasher.memory_cost == active.memory_cost
