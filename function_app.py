"""Azure Functions entry point (Python v2 model): the FunctionApp and its blueprints, one per capability
(``entrypoints/``). Each trigger decodes its input, calls one use case and encodes the result."""

from __future__ import annotations

import azure.functions as func

from entrypoints import api, availability, credentials, operator, organizers, people, planning, rooms, tenants

app = func.FunctionApp()
for blueprint in (planning.bp, rooms.bp, credentials.bp, operator.bp, tenants.bp, organizers.bp, people.bp,
                  availability.bp, api.bp):
    app.register_functions(blueprint)
