"""Project error types: one line for the user, exit code 2 from the CLI."""

from __future__ import annotations


class RealignError(Exception):
    """Base of every error the CLI reports as one line (no traceback unless --debug)."""


class ConfigError(RealignError, ValueError):
    """A params file, an override or a config value is invalid; the message names the key."""


class InputError(RealignError, ValueError):
    """Input data (a manifest, an export, a model folder) cannot be used as given."""


class MissingInputError(RealignError, FileNotFoundError):
    """A required input path does not exist."""
