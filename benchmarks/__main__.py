"""``python -m benchmarks``: every workload, see benchmarks/run.py and docs/benchmarks.md."""

from __future__ import annotations

from benchmarks.run import main

main()
