"""Refused by the host: a function whose name begins with ``admin``."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
def adminCleanup(timer: func.TimerRequest) -> None:  # noqa: N802 - the name is the point
    pass
