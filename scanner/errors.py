"""kguard's one error hierarchy: every error the CLI catches maps to exit code 2."""


class KguardError(Exception):
    """A problem with what the user gave us (options, files, policies); exit code 2."""

    exit_code = 2


class UsageError(KguardError):
    """Bad options or unusable input (policy directory, templates, config)."""
