"""``eyhub dead-letters SERVICE [--replay ID]``: what a service gave up on, and a way back."""

from __future__ import annotations

import json

import click

from shared.config import COMPONENTS, ConfigError, load_settings


@click.command("dead-letters")
@click.argument("service", type=click.Choice(COMPONENTS))
@click.option("--replay", "replay_id", metavar="ID", help="Re-deliver this dead letter.")
@click.option("--all", "include_replayed", is_flag=True, help="Also list replayed ones.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def dead_letters_cmd(
    service: str, replay_id: str | None, include_replayed: bool, as_json: bool
) -> None:
    """List SERVICE's dead letters, or replay one (its worker applies it again)."""
    from shared.db import Database
    from shared.messaging import dead_letters
    from shared.migrations import upgrade

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if settings.should_migrate_at_start(service):
        upgrade(service, settings)
    db = Database(settings.database_url(service), name=service)
    try:
        if replay_id:
            try:
                done = dead_letters.replay(db, replay_id)
            except dead_letters.NotReplayable as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"replaying {done['id']} (message {done['message_id']} on {done['queue']})")
            return
        rows = dead_letters.list_dead_letters(db, include_replayed=include_replayed)
        for row in rows:
            if as_json:
                click.echo(json.dumps(row))
            else:
                first = (row["error"] or "").splitlines()[0][:120] if row["error"] else ""
                click.echo(
                    f"{row['id']}  {row['created_at'][:19]}  {row['status']:<8} "
                    f"{row['queue']}  {row['event_type'] or '-'}  {row['reason']} "
                    f"x{row['attempts']}  {first}"
                )
        if not as_json:
            click.echo(f"{len(rows)} dead letter(s)")
    finally:
        db.dispose()


commands: list[click.Command] = [dead_letters_cmd]
