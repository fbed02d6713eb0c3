"""Alembic, driven from code: one script directory per component plus the kernel's.

Each component's database gets the kernel tables (own version table) and then the
component's own tables. The kernel knows only its own folder; each component hands
over its ``migrations/`` folder (its app factory, and the launcher in ``eyhub/``).
``eyhub migrate`` runs this for every component; in embedded mode each process also
runs it at start (it is idempotent and serialised by the database).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text

from shared.config import Settings
from shared.db import make_engine

log = logging.getLogger("eyhub.migrations")

KERNEL_VERSION_TABLE = "alembic_version_kernel"
#: pg_advisory_lock key serialising migrations of one database ("eyhubmig").
MIGRATION_LOCK_KEY = 0x6579687562_6D6967 % (2**63)


#: The kernel's own tables (mail outbox, messaging outbox/inbox/retries/dead letters).
KERNEL_MIGRATIONS = Path(__file__).parent / "kernel_migrations"


def alembic_config(folder: Path, url: str) -> Config:
    """Alembic config for one script folder; the kernel's keeps its own version table."""
    cfg = Config()
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["version_table"] = (
        KERNEL_VERSION_TABLE if folder == KERNEL_MIGRATIONS else "alembic_version"
    )
    return cfg


def run_env(metadata: MetaData) -> None:
    """Body of every ``migrations/env.py``: online migrations on one connection."""
    cfg = context.config
    connection = cfg.attributes.get("connection")
    version_table = cfg.attributes.get("version_table", "alembic_version")
    if connection is None:
        engine = make_engine(cfg.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            _run(conn, metadata, version_table)
        engine.dispose()
    else:
        _run(connection, metadata, version_table)


def _run(connection, metadata: MetaData, version_table: str) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def upgrade(
    component: str, settings: Settings, migrations: Path | None, revision: str = "head"
) -> None:
    """Bring ``component``'s database to ``revision``: kernel tables, then ``migrations``.

    ``migrations`` is the component's own script folder (None: kernel tables only).
    """
    url = settings.database_url(component)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Several replicas may start at once: one migrates, the others wait.
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()
            try:
                for folder in (KERNEL_MIGRATIONS, migrations):
                    if folder is None or not (folder / "versions").is_dir():
                        continue
                    cfg = alembic_config(folder, url)
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    conn.commit()
            finally:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                    conn.commit()
    finally:
        engine.dispose()
    log.info("migrated", extra={"database_of": component})


def revision(component: str, migrations: Path | None, settings: Settings, message: str) -> None:
    """Autogenerate a revision of ``migrations`` (None: the kernel's) against
    ``component``'s current database."""
    upgrade(component, settings, migrations)
    folder = migrations or KERNEL_MIGRATIONS
    # One template for every script folder: borrow the kernel's while generating.
    template = folder / "script.py.mako"
    borrowed = not template.exists()
    if borrowed:
        shutil.copy(KERNEL_MIGRATIONS / "script.py.mako", template)
    try:
        command.revision(
            alembic_config(folder, settings.database_url(component)),
            message=message,
            autogenerate=True,
        )
    finally:
        if borrowed:
            template.unlink()
