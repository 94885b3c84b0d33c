"""graphsim: a local HTTPS stand-in for Microsoft Graph and Entra ID (tests and demo; never deployed).

Start it::

    from local.graphsim.server import start_simulator
    sim = start_simulator(state_dir=Path(".local/graphsim"), tenant_id=T, client_id=C,
                          client_secret=S)            # port=0 picks a free port
    sim.base_url, sim.graph_endpoint, sim.auth_endpoint, sim.ca_path, sim.state; sim.stop()

or ``python -m local.graphsim --port 8443 --state-dir .local/graphsim --tenant-id T
--client-id C`` with the secret in ``GRAPHSIM_CLIENT_SECRET``; it prints
``graphsim ready <base_url> ca=<ca_path>`` when listening.

What callers must pass (checked against azure-identity 1.27, msal 1.39, msgraph-sdk 1.65):

* Trust: the CA is new each run, in ``<state_dir>/ca.pem``.
  - azure-identity (sync and async): ``connection_verify=str(sim.ca_path)``. Setting SSL_CERT_FILE
    also works for the async credential only if it is set before aiohttp is imported, since aiohttp
    builds its default SSL context at import time.
  - httpx (msgraph-sdk): ``httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca))``.
  - requests (MSAL): set ``REQUESTS_CA_BUNDLE``; it overrides a session's ``verify=``.
* azure.identity.aio.ClientSecretCredential(tenant_id, client_id, secret,
  ``authority=sim.auth_endpoint``, connection_verify=...). The async credential does not use MSAL,
  so it needs no ``disable_instance_discovery``; the sync credential does
  (``disable_instance_discovery=True``), otherwise MSAL asks login.microsoftonline.com whether the
  host is a known authority. ``additionally_allowed_tenants`` is not needed when tokens are requested
  for the credential's own tenant. Plain MSAL may instead pass
  ``instance_discovery=f"{sim.base_url}/common/discovery/instance"``.
* msgraph-sdk::

      auth = AzureIdentityAuthenticationProvider(            # from kiota_authentication_azure
          credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"])
      http = GraphClientFactory.create_with_default_middleware(
          client=httpx.AsyncClient(verify=ssl_ctx))
      adapter = GraphRequestAdapter(auth, client=http)
      adapter.base_url = sim.graph_endpoint                  # before GraphServiceClient(...)
      client = GraphServiceClient(request_adapter=adapter)

  ``allowed_hosts`` must name the simulator's host: otherwise kiota silently sends no token and
  Graph answers 401. ``scopes`` must be given: otherwise kiota derives ``https://127.0.0.1/.default``
  from the URL, which the token endpoint rejects (invalid_scope AADSTS70011) as Entra would.
"""

from __future__ import annotations
