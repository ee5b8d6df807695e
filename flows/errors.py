"""Exceptions of the mediation domain (one root, precise subclasses)."""

from __future__ import annotations


class FlowError(Exception):
    """Root of every error raised by `flows`."""


class InvalidInput(FlowError):  # noqa: N818 - reads as the domain term it is
    """What the person sent cannot be accepted at this step; nothing changed.

    ``reason`` is a stable code the transport turns into a translated message.
    """

    def __init__(self, reason: str, **details: int | str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class StepMismatch(FlowError):  # noqa: N818 - reads as the domain term it is
    """The action belongs to another step than the conversation is at (stale or forged)."""
