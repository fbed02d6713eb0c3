"""Operator commands of the bus: ``eyhub dead-letters`` and ``eyhub queues``."""

from __future__ import annotations

import json
from collections.abc import Callable

import click

from shared.cli_support import settings_or_usage_error
from shared.config import COMPONENTS
from shared.messaging.topology import Subscription


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

    settings = settings_or_usage_error()
    if settings.should_migrate_at_start(service):
        upgrade(service, settings, None)  # the kernel's tables are all this reads
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


def queues_command(subscriptions: Callable[[], tuple[Subscription, ...]]) -> click.Command:
    """``eyhub queues`` over the topology the launcher composes from the handlers."""

    @click.command("queues")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    def queues_cmd(as_json: bool) -> None:
        """Each queue: depth, consumers and the age of its oldest waiting message.

        '-' means not known: the embedded transport cannot count consumers, a queue no
        worker has declared yet has no depth, and an empty queue has no oldest message.
        """
        from shared.messaging.queues import queue_report

        report = queue_report(settings_or_usage_error(), subscriptions())
        if as_json:
            for row in report:
                click.echo(json.dumps(row.as_dict()))
            return

        def show(value: object, unit: str = "") -> str:
            return "-" if value is None else f"{value}{unit}"

        click.echo(f"{'QUEUE':<36} {'DEPTH':>6} {'CONSUMERS':>9} {'OLDEST':>10}")
        for row in report:
            click.echo(
                f"{row.queue:<36} {show(row.depth):>6} {show(row.consumers):>9} "
                f"{show(row.oldest_age_s, 's'):>10}"
            )
        click.echo(f"{len(report)} queue(s); '-' = not known or none (`eyhub queues --help`)")

    return queues_cmd


commands: list[click.Command] = [dead_letters_cmd]
