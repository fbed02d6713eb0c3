"""What every ``eyhub`` subcommand needs from the kernel: settings, or a clear usage error."""

from __future__ import annotations

import click

from shared.config import ConfigError, Settings, load_settings


def settings_or_usage_error() -> Settings:
    """The settings from the environment; a bad value stops the command with its reason."""
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
