"""``eyhub users ...`` and ``eyhub keys ...``: identity administration from the shell."""

from __future__ import annotations

import click

from shared.auth import ROLES
from shared.cli_support import settings_or_usage_error
from shared.config import Settings
from shared.vocabulary import SETTING_TYPES


def _settings() -> Settings:
    return settings_or_usage_error()


@click.group()
def users() -> None:
    """Manage accounts in the gateway's database."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given.",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(ROLES),
    default=("practitioner",),
    show_default=True,
    help="Repeat for several roles.",
)
@click.option("--hub", "hubs", multiple=True, type=click.UUID, help="Hub id; repeat for several.")
@click.option(
    "--setting-type",
    type=click.Choice(SETTING_TYPES),
)
@click.option("--setting-name")
def create(
    email: str,
    name: str,
    password: str,
    roles: tuple[str, ...],
    hubs: tuple[object, ...],
    setting_type: str | None,
    setting_name: str | None,
) -> None:
    """Create an account (e.g. the first hub lead)."""
    from gateway import MIGRATIONS, operations
    from shared.db import Database
    from shared.migrations import upgrade
    from shared.problems import Problem

    settings = _settings()
    if len(password) < 8:
        raise click.UsageError("--password must be at least 8 characters")
    upgrade("gateway", settings, MIGRATIONS)
    db = Database(settings.database_url("gateway"), name="gateway")
    try:
        user = operations.create_user(
            db,
            email=email,
            password=password,
            name=name,
            roles=roles,
            hub_ids=[str(h) for h in hubs],
            setting_type=setting_type,
            setting_name=setting_name,
        )
    except Problem as exc:
        raise click.ClickException(exc.detail or exc.title) from exc
    finally:
        db.dispose()
    click.echo(f"created {user.email} ({', '.join(user.roles)}) id={user.id}")


@click.group()
def keys() -> None:
    """Token signing keys in $EYHUB_DATA_DIR/keys."""


@keys.command("rotate")
def rotate_cmd() -> None:
    """Add a new signing key: it signs from now on, older keys still verify."""
    from gateway.keys import rotate

    path = rotate(_settings().keys_dir)
    click.echo(f"new signing key {path.name}; gateways pick it up within seconds")


commands: list[click.Command] = [users, keys]
