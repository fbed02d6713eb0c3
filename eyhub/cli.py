"""The ``eyhub`` command: every process and admin task of the platform."""

from __future__ import annotations

import sys

import click

from eyhub.components import COMPONENTS, subscriptions, worker_for
from gateway.cli import commands as gateway_commands
from shared.cli_support import settings_or_usage_error as _settings
from shared.messaging.cli import commands as messaging_commands
from shared.messaging.cli import queues_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """eyhub: CPD bookings, mentoring and funding for early-years practice hubs."""


@main.command()
@click.option("--demo", is_flag=True, help="Load the demo hubs, people and programme first.")
@click.option(
    "--demo-activity/--no-demo-activity",
    default=True,
    show_default=True,
    help="With --demo: once ready, pay for places and ask for funded ones as the demo people.",
)
@click.option("--ready-timeout", default=90.0, show_default=True, help="Seconds to wait.")
def up(demo: bool, demo_activity: bool, ready_timeout: float) -> None:
    """Start gateway, services and workers in the foreground (Ctrl-C stops all)."""
    from eyhub.supervisor import up as run_up

    sys.exit(
        run_up(_settings(), demo=demo, demo_activity=demo_activity, ready_timeout=ready_timeout)
    )


@main.command()
@click.argument("component", type=click.Choice(list(COMPONENTS)))
@click.option("--bind", help="host:port (default 127.0.0.1:<port of the component>).")
def serve(component: str, bind: str | None) -> None:
    """Serve one component's HTTP API under gunicorn."""
    from eyhub.serving import serve as run_serve

    run_serve(component, _settings(), bind)


@main.command()
@click.argument("service", type=click.Choice(list(COMPONENTS)))
def worker(service: str) -> None:
    """Run one component's worker: outbox relay, bus consumers, jobs, mail."""
    sys.exit(worker_for(service, _settings()).run())


@main.command()
@click.argument("components", nargs=-1, type=click.Choice(list(COMPONENTS)))
def migrate(components: tuple[str, ...]) -> None:
    """Apply database migrations (all components unless some are named)."""
    from shared.logs import configure_logging
    from shared.migrations import upgrade

    settings = _settings()
    configure_logging("migrate", settings.log_level)
    for component in components or COMPONENTS:
        upgrade(component, settings, COMPONENTS[component].migrations)
        click.echo(f"{component}: up to date")


@main.command()
@click.argument("target", type=click.Choice(("kernel", *COMPONENTS)))
@click.option("-m", "--message", required=True, help="What the revision changes.")
def revision(target: str, message: str) -> None:
    """Autogenerate a migration for TARGET from its models (developers)."""
    from shared.migrations import revision as make_revision

    if target == "kernel":  # kernel tables live in every database: diff the gateway's
        make_revision("gateway", None, _settings(), message)
    else:
        make_revision(target, COMPONENTS[target].migrations, _settings(), message)


@main.command("seed-demo")
def seed_demo_cmd() -> None:
    """Load demo hubs, people and a term's programme (idempotent)."""
    from eyhub.demo import DEMO_LOGINS, seed_demo
    from shared.migrations import upgrade

    settings = _settings()
    for component, c in COMPONENTS.items():
        upgrade(component, settings, c.migrations)
    summary = seed_demo(settings)
    for key, value in summary.items():
        click.echo(f"{key}: {value}")
    click.echo("logins:")
    for role, email, password in DEMO_LOGINS:
        click.echo(f"  {role:<14} {email:<40} {password}")


@main.command(
    "stripe-local",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def stripe_local_cmd(args: tuple[str, ...]) -> None:
    """Run the local Stripe stand-in (development and tests; `eyhub stripe-local --help`)."""
    from shared.stripe_local.__main__ import main as run

    sys.exit(run(list(args)))


@main.command("check")
def check_cmd() -> None:
    """Check the bus wiring: every bound queue has handlers and every handler a binding."""
    from eyhub.components import check_wiring

    try:
        check_wiring(_settings())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    for sub in subscriptions():
        click.echo(f"{sub.service}.{sub.purpose}: {', '.join(sub.binding_keys)}")
    click.echo("bus wiring: ok")


for _cmd in [*gateway_commands, *messaging_commands, queues_command(subscriptions)]:
    main.add_command(_cmd)


if __name__ == "__main__":
    main()
