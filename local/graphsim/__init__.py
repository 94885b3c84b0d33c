"""graphsim: a local HTTPS stand-in for Microsoft Graph and Entra ID (tests and demo only).

(wiring notes filled in below)
"""

from __future__ import annotations
