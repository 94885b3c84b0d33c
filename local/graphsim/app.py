"""Assembles the ASGI app: Entra endpoints, Graph under /v1.0, control API under /_sim."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from . import (
    attendee_responses,
    auth,
    control,
    control_creds,
    control_people,
    delegated,
    graph_people,
    identity,
    operator_tokens,
    principals,
    tenants,
)
from .applications import ApplicationsApi
from .pipeline import GraphPipeline
from .state import SimState


def build_app(state: SimState, signer: auth.Signer | None = None) -> Starlette:
    signer = signer or auth.Signer()
    pipeline = GraphPipeline(state, signer)
    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    routes = [
        # Control and Graph routes come first: the Entra routes start with a {tenant} wildcard.
        *control.build_routes(state),
        *control_creds.build_routes(state),
        *attendee_responses.build_routes(state),
        *identity.build_routes(state, signer),
        *operator_tokens.build_routes(state, signer),
        *delegated.build_routes(state, signer),
        *graph_people.build_routes(state),  # its authorize route ahead of the {tenant} wildcards too
        *control_people.build_routes(state, signer),
        *ApplicationsApi(state, signer).routes(),  # ahead of the /v1.0 catch-all
        *principals.build_routes(state, signer),  # a tenant's service principal and its passwords
        Route("/v1.0", pipeline.handle, methods=methods),
        Route("/v1.0/{path:path}", pipeline.handle, methods=methods),
        *tenants.build_routes(state),  # several tenants: consent, their users and secrets
        *auth.build_routes(state, signer),
    ]
    return Starlette(routes=routes)
