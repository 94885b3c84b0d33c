"""Pure rotation rules: when a credential is due, which old ones go, when to warn. Time is passed in.

A credential this connector created carries ``OWN_MARK`` at the start of its display name (a
password credential has no tags); only those are removed by routine rotation, so a secret a person added
for another purpose survives every rotation. The one exception is an operator's explicit revocation after
a leak: the credential that was in use goes, whoever created it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["OWN_MARK", "AppCredential", "RotationPolicy", "credentials_to_retire", "days_left",
           "display_name_for", "identify_in_use", "next_rotation", "rotation_due", "warning_due"]

OWN_MARK = "calendar-connector"


@dataclass(frozen=True)
class AppCredential:
    """One entry of an application's ``passwordCredentials`` or ``keyCredentials`` (no secret in it)."""

    key_id: str
    kind: str  # "password" | "certificate"
    display_name: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    hint: str | None = None
    thumbprint: str | None = None  # customKeyIdentifier of a certificate (hex SHA-1)

    @property
    def ours(self) -> bool:
        return (self.display_name or "").startswith(OWN_MARK)

    def expired(self, now: datetime) -> bool:
        return self.end is not None and self.end <= now


@dataclass(frozen=True)
class RotationPolicy:
    days_before: int = 30
    lifetime_days: int = 180
    grace_hours: int = 24
    warn_days_before: int = 60

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.grace_hours)


def display_name_for(now: datetime) -> str:
    return f"{OWN_MARK} {now:%Y-%m-%d %H:%M}Z"


def days_left(end: datetime | None, now: datetime) -> int | None:
    """Whole days until ``end`` (negative once expired); None for a credential that never expires."""
    if end is None:
        return None
    return (end - now) // timedelta(days=1)


def rotation_due(end: datetime | None, now: datetime, policy: RotationPolicy) -> bool:
    """True when the credential in use expires within ``policy.days_before`` days (or has expired)."""
    return end is not None and end - now <= timedelta(days=policy.days_before)


def next_rotation(end: datetime | None, policy: RotationPolicy) -> datetime | None:
    return None if end is None else end - timedelta(days=policy.days_before)


def warning_due(end: datetime | None, now: datetime, last_warned: datetime | None, policy: RotationPolicy) -> bool:
    """When rotation is impossible: warn once a day from ``warn_days_before`` days before expiry."""
    if end is None or end - now > timedelta(days=policy.warn_days_before):
        return False
    return last_warned is None or last_warned.date() < now.date()


def identify_in_use(credentials: Sequence[AppCredential], *, key_id: str | None,
                    secret_hint: str | None = None) -> AppCredential | None:
    """The app credential behind the secret in use: by the key id the vault version is tagged with,
    else by the password hint (its first three characters) when exactly one credential matches."""
    if key_id:
        return next((c for c in credentials if c.key_id.lower() == key_id.lower()), None)
    if secret_hint:
        matches = [c for c in credentials if c.hint and c.hint == secret_hint[: len(c.hint)]]
        if len(matches) == 1:
            return matches[0]
    return None


def credentials_to_retire(credentials: Iterable[AppCredential], in_use: AppCredential | None, now: datetime,
                          policy: RotationPolicy, *, revoke_old: bool = False,
                          previous: AppCredential | None = None) -> list[AppCredential]:
    """Old credentials of ours, of the same kind as ``in_use``, that may be removed now.

    * An older one goes once ``in_use`` has been in use for the grace period (every instance has
      switched by then), at once with ``revoke_old`` (after a leak), and at once when it has expired.
    * A newer one that is not in use is an orphan of an interrupted rotation: it goes after the grace
      period (a rotation in flight stores its new credential in the vault long before that).
    * With ``revoke_old``, ``previous`` (the credential in use before this rotation) goes at once even
      when a person created it: revoking after a leak is an operator's explicit act.
    * Nothing goes while the credential in use is unknown.
    """
    if in_use is None:
        return []
    settled = revoke_old or (in_use.start is not None and in_use.start + policy.grace <= now)
    leaked = previous.key_id if revoke_old and previous is not None and previous.key_id != in_use.key_id else None
    retire: list[AppCredential] = []
    for credential in credentials:
        if credential.key_id == in_use.key_id or credential.kind != in_use.kind:
            continue
        if credential.key_id == leaked:
            retire.append(credential)
            continue
        if not credential.ours:
            continue
        newer = credential.start is not None and in_use.start is not None and credential.start > in_use.start
        if newer:
            if credential.start is not None and credential.start + policy.grace <= now:
                retire.append(credential)  # an orphan of an interrupted rotation
        elif credential.expired(now) or settled:
            retire.append(credential)
    return retire
