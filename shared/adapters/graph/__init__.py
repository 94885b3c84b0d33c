"""Microsoft Graph adapters over one session (client, per-mailbox limiter, credential)."""
