"""Readers for single app settings: each returns a typed value or raises ``ConfigurationError`` naming the
setting and what is wrong. Pure; ``shared.config`` composes them into ``Settings``."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from shared.domain.timezones import TimeZone, resolve_time_zone
from shared.errors import ConfigurationError

__all__ = ["is_loopback", "read_bool", "read_https_url", "read_int", "read_schedule", "read_text",
           "read_time_zone"]


# App Service replaces a Key Vault reference by the secret's value; when it cannot (the identity lacks the role, the
# secret or vault is missing), the app sees the reference text itself.
_KEY_VAULT_REFERENCE = re.compile(r"^@Microsoft\.KeyVault\((?P<body>.*)\)$", re.IGNORECASE | re.DOTALL)
_SECRET_URI = re.compile(r"^https://(?P<vault>[^./]+)\.[^/]+/secrets/(?P<secret>[^/]+)", re.IGNORECASE)


def read_text(env: Mapping[str, str], name: str) -> str | None:
    """The setting's trimmed value, or None when unset or blank.

    Raises ``ConfigurationError`` for an unresolved Key Vault reference: its text is never a usable value.
    """
    value = env.get(name)
    if value is None or not value.strip():
        return None
    value = value.strip()
    if match := _KEY_VAULT_REFERENCE.match(value):
        raise ConfigurationError(name, _unresolved_reference(match.group("body")))
    return value


def _unresolved_reference(body: str) -> str:
    """What an unresolved ``@Microsoft.KeyVault(...)`` names and what is likely missing (one line)."""
    fields: dict[str, str] = {}
    for part in body.split(";"):
        key, _, field_value = part.partition("=")
        fields[key.strip().lower()] = field_value.strip()
    vault, secret = fields.get("vaultname"), fields.get("secretname")
    if uri := _SECRET_URI.match(fields.get("secreturi", "")):
        vault, secret = uri.group("vault"), uri.group("secret")
    return (f"is an unresolved Key Vault reference (vault {vault or '?'}, secret {secret or '?'}): give the app's "
            f"identity (keyVaultReferenceIdentity) the role Key Vault Secrets User on vault {vault or '?'}, or create "
            f"the secret {secret or '?'}, then restart the app; the app settings' configreferences API names the "
            "cause")


def read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = read_text(env, name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigurationError(name, f"must be true or false, not {value!r}")


def read_int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    value = read_text(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(name, f"must be a whole number, not {value!r}") from None
    if not minimum <= number <= maximum:
        raise ConfigurationError(name, f"must be between {minimum} and {maximum}, not {number}")
    return number


def read_time_zone(env: Mapping[str, str], name: str, default: str) -> TimeZone:
    try:
        return resolve_time_zone(read_text(env, name) or default)
    except ValueError as exc:
        raise ConfigurationError(name, str(exc)) from None


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses: the only hosts plain http or relaxed checks may reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_https_url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (read_text(env, name) or default).rstrip("/")
    parts = urlsplit(value)
    if not parts.hostname:
        raise ConfigurationError(name, f"must be an absolute URL, not {value!r}")
    # Tokens travel to these endpoints: plain http only to this machine.
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname)):
        raise ConfigurationError(name, "must use https")
    return value


def read_schedule(env: Mapping[str, str], name: str, default: str) -> str:
    value = read_text(env, name) or default
    if len(value.split()) != 6:
        raise ConfigurationError(name, "must be an NCRONTAB expression with six fields (seconds first)")
    return value
