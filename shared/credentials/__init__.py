"""Credentials that look after themselves: the pure rules (``policy``, ``certificates``), the token
provider the Graph client uses (``provider``), rotation (``rotation``), health (``health``) and the
composition of it all (``runtime``). Secret values never reach a log line, a reply or an exception.
"""

from __future__ import annotations
