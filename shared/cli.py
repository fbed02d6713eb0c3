"""The ``eyhub`` command: every process and admin task of the platform."""

from __future__ import annotations

import importlib
import sys

import click

from shared.config import COMPONENTS, SERVICES, ConfigError, load_settings


def _settings():  # type: ignore[no-untyped-def]
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """eyhub: CPD bookings, mentoring and funding for early-years practice hubs."""


@main.command()
@click.option("--demo", is_flag=True, help="Load the demo hubs, people and programme first.")
@click.option("--ready-timeout", default=90.0, show_default=True, help="Seconds to wait.")
def up(demo: bool, ready_timeout: float) -> None:
    """Start gateway, services and workers in the foreground (Ctrl-C stops all)."""
    from shared.supervisor import up as run_up

    sys.exit(run_up(_settings(), demo=demo, ready_timeout=ready_timeout))


@main.command()
@click.argument("component", type=click.Choice(COMPONENTS))
@click.option("--bind", help="host:port (default 127.0.0.1:<port of the component>).")
def serve(component: str, bind: str | None) -> None:
    """Serve one component's HTTP API under gunicorn."""
    from shared.serving import serve as run_serve

    run_serve(component, _settings(), bind)


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
def worker(service: str) -> None:
    """Run one service's worker: outbox relay, bus consumers, jobs, mail."""
    from shared.worker import build_worker

    sys.exit(build_worker(service, _settings()).run())


@main.command()
@click.argument("components", nargs=-1, type=click.Choice(COMPONENTS))
def migrate(components: tuple[str, ...]) -> None:
    """Apply database migrations (all components unless some are named)."""
    from shared.logs import configure_logging
    from shared.migrations import upgrade

    settings = _settings()
    configure_logging("migrate", settings.log_level)
    for component in components or COMPONENTS:
        upgrade(component, settings)
        click.echo(f"{component}: up to date")


@main.command()
@click.argument("target", type=click.Choice(("kernel", *COMPONENTS)))
@click.option("-m", "--message", required=True, help="What the revision changes.")
def revision(target: str, message: str) -> None:
    """Autogenerate a migration for TARGET from its models (developers)."""
    from shared.migrations import revision as make_revision

    make_revision(target, _settings(), message)


@main.command("seed-demo")
def seed_demo_cmd() -> None:
    """Load demo hubs, people and a term's programme (idempotent)."""
    from shared.demo import DEMO_LOGINS, seed_demo

    settings = _settings()
    from shared.migrations import upgrade

    for component in COMPONENTS:
        upgrade(component, settings)
    summary = seed_demo(settings)
    for key, value in summary.items():
        click.echo(f"{key}: {value}")
    click.echo("logins:")
    for role, email, password in DEMO_LOGINS:
        click.echo(f"  {role:<14} {email:<40} {password}")


#: Modules contributing more commands (each exposes ``commands: list[click.Command]``).
COMMAND_MODULES: list[str] = ["gateway.cli", "shared.messaging.cli"]

for _name in COMMAND_MODULES:
    for _cmd in importlib.import_module(_name).commands:
        main.add_command(_cmd)


if __name__ == "__main__":
    main()
