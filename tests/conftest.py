from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile("ci", max_examples=400, deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
