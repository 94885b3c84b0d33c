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

Limits and tokens (throttle.py, auth.py): ``sim.state.throttle.peak(mailbox_id)`` is the most requests
one app had at once at a mailbox since the last reset, refused ones included (what a client tried, not
what was admitted); ``sim.state.token_requests(client_id=None)`` counts requests to the token endpoint,
refused ones included; ``sim.state.set_token_lifetime(seconds)`` shortens the tokens issued from then on
(None: 3599 s). Over HTTP: ``GET /_sim/concurrency`` ({value: [{clientId, mailbox, inFlight, peak}]}),
``GET|PUT /_sim/tokens`` ({requests, lifetimeSeconds}), ``PUT /_sim/throttle``, ``PUT /_sim/latency``.

Application credentials (appcreds.py, assertions.py, applications.py, identity.py; control_creds.py):

* Token endpoint: accepts exactly the app's current passwords (``add_app``'s secret is the first;
  expired → AADSTS7000222, unknown/removed/not yet propagated → AADSTS7000215) and client
  assertions: certificate ones (x5t or x5t#S256 of a registered unexpired certificate, RS256/PS256,
  aud = this token endpoint, iss = sub = client id; else AADSTS700027 / 700024 expired / 700021 iss /
  700023 aud) and federated ones (a managed identity token matching a federated credential by issuer,
  subject and audience; else AADSTS70021 / 700211 / 700213 / 700212). Scopes: Graph or
  ``https://vault.azure.net/.default`` (for local.vaultsim).
* Graph: ``/applications(appId='..')`` and ``/applications/{id}`` (+ addPassword, removePassword,
  addKey, removeKey with proof of possession, owners, federatedIdentityCredentials); see
  applications.py for permissions. The application object id (``id``, the proof's ``iss``) differs
  from the service principal id (tokens' ``oid``, ``App.object_id``, what owners list).
* App Service managed identity: ``sim.identity_endpoint`` (GET, api-version 2019-08-01); set
  ``IDENTITY_ENDPOINT=sim.identity_endpoint`` and ``IDENTITY_HEADER=sim.state.creds.identity_header``,
  then ``azure.identity.aio.ManagedIdentityCredential(client_id=..., connection_verify=ca)``. Its
  tokens carry the production issuer ``https://login.microsoftonline.com/{tenant}/v2.0`` and
  ``sub`` = the identity's principal id, which is what a federated credential names.
* ``ClientAssertionCredential(tenant, app_id, func, authority=sim.auth_endpoint,
  connection_verify=ca)``: ``func`` is synchronous; fetch the managed identity token first.
* In process: ``sim.state.creds`` (CredentialStore): add_password/expire_password/revoke_password/
  remove_password, set_password_delay, propagate, add_key/expire_key/revoke_key, add_owner,
  grant_roles, add_federated, add_managed_identity, public(client_id). Over HTTP under
  ``/_sim/apps/{clientId}/``: ``credentials`` (GET), ``passwords`` (POST {secret?, displayName?,
  endDateTime?, delaySeconds?}), ``passwords/{keyId|all}/expire`` (POST), ``passwords/{keyId|all}``
  (DELETE), ``password-delay`` (PUT {seconds}), ``propagate`` (POST), ``keys`` (POST {certificate: PEM
  or base64 DER}), ``keys/{keyId|all}/expire``, ``keys/{keyId|all}`` (DELETE), ``owners`` (POST
  {clientId} or {userPrincipalName}), ``roles`` (POST adds, PUT replaces {roles}),
  ``federated-credentials`` (POST {issuer, subject, audiences?, name?}); and
  ``PUT /_sim/managed-identities/{clientId}`` {tenantId, principalId?, resourceId?, systemAssigned?},
  ``GET /_sim/managed-identity-env`` ({IDENTITY_ENDPOINT, IDENTITY_HEADER}).
* Operator tokens (operator_tokens.py): ``POST /_sim/operator-tokens`` {audience, roles?, tenant?, expiresIn?,
  version?, signedBy?, kid?, user?} mints an access token for the connector's own API, as Entra issues one to an
  operator, signed by the key at ``/{tenant}/discovery/v2.0/keys`` (or by a stranger's key, or under another kid).

Rooms (features.py mixes these into SimState: rooms.py, subscription_state.py, directory.py;
Graph side in graph_rooms.py, delta.py, recurrence.py; control side in control_rooms.py):

* Graph: ``POST/GET /subscriptions``, ``GET/PATCH/DELETE /subscriptions/{id}``,
  ``POST /subscriptions/{id}/reauthorize`` (roles Calendars.Read or .ReadWrite; resource
  ``/users/{id|upn}/events``; notificationUrl https or http to loopback; expiry <= 10,080 min,
  < 45 min raised to 45; same mailbox + changeType + notificationUrl → 409; each app sees only its
  own). POST first validates notificationUrl and lifecycleNotificationUrl
  (``POST url?validationToken=..`` text/plain, 10 s; wrong answer → 400 ValidationError).
  ``GET /users/{u}/calendarView/delta`` (``Prefer: odata.maxpagesize``, $skiptoken, $deltatoken;
  bad/expired token → 410 SyncStateNotFound), ``GET /users/delta`` ($select, ``$deltatoken=latest``),
  ``GET /users`` ($top, $skiptoken), ``GET /places/microsoft.graph.room`` (also ``graph.room``;
  Place.Read.All, not in the default roles: pass ``roles=[..., "Place.Read.All"]``).
* Events: ``recurrence`` (daily, weekly, absoluteMonthly; endDate, noEnd, numbered) makes one
  seriesMaster; calendarView and its delta expand occurrences (type occurrence, seriesMasterId,
  GET-able by id). A room booked as a ``resource`` attendee gets its own copy (own id/changeKey,
  same iCalUId, booker as organizer, ``location.locationEmailAddress`` = room, no extended
  properties); updates follow, cancelling or dropping the room deletes it.
* Notifications go out from a background thread (one POST per item, retried on non-2xx after
  0.5/1/2/4 s): created/updated/deleted for subscribed mailboxes; a room's new copy sends
  ``created`` + ``room_update_echoes`` (2) ``updated``. Expired or deleted subscriptions send nothing.
* In process (``sim.state``): ``add_room(email, display_name, **props)``, ``rooms()``,
  ``outlook_create(mailbox, body)``, ``outlook_update(mailbox, id, body)``,
  ``outlook_delete(mailbox, id)``, ``subscribe(client_id, body)`` (no handshake),
  ``subscriptions()``, ``expire_subscription(id)``, ``send_lifecycle(id, event)``,
  ``set_subscription_lifetime(minutes | None)`` (Graph grants at most that on create and renew and
  shortens live subscriptions to it, as Graph may grant less than asked),
  ``set_notifications(paused=, discard=, retry_delays=, room_update_echoes=)``,
  ``notifications()``, ``notifier.pending()``, ``update_user(upn, account_enabled=, display_name=)``,
  ``delete_user(upn, permanent=)``, ``expire_delta_tokens()``.
* Control over HTTP under ``/_sim``: ``PUT /rooms/{email}`` {displayName, capacity?, building?,
  floorNumber?, ...}, ``GET /rooms``; ``POST /outlook/{mailbox}/events`` (201),
  ``PATCH|DELETE /outlook/{mailbox}/events/{id}``; ``GET /subscriptions`` (all, with clientState,
  ``expired``); ``POST /subscriptions/{id}/lifecycle`` {lifecycleEvent: reauthorizationRequired |
  subscriptionRemoved (also deletes it) | missed} (202); ``POST /subscriptions/{id}/expire``;
  ``PUT /subscriptions/lifetime`` {maxMinutes: int | null};
  ``PUT /notifications`` {paused?, discard?, retryDelays?, roomUpdateEchoes?};
  ``GET /notifications`` ({value: [{url, subscriptionId, changeType, status, attempt, at}], pending,
  paused}); ``PATCH /users/{upn}`` {accountEnabled?, displayName?}; ``DELETE /users/{upn}
  ?permanent=true|false``; ``POST /delta/expire``. ``POST /reset`` also clears subscriptions,
  notifications, delta tokens and journals; users and rooms stay.

People (delegated.py, graph_people.py): ``GET /{tenant}/oauth2/v2.0/authorize`` signs the ``login_hint`` user in at
once and answers with code and state (query, or ``response_mode=form_post``: a page whose form posts them) to a
registered redirect URI (``auth_of(state).register_redirect(client, uri)``,
``PUT /_sim/apps/{clientId}/redirect-uris``);
the token endpoint's ``authorization_code`` (single use, 10 minutes, same redirect_uri, PKCE S256) and
``refresh_token`` grants (rotated on each use; ``POST /_sim/delegated/users/{upn}/revoke`` {code}, ``POST
/_sim/delegated/refresh-tokens/expire`` → invalid_grant with that AADSTS code); ``PUT /_sim/delegated/consent``
{mode: granted | user (AADSTS65001) | admin (AADSTS90094)}, ``PUT /_sim/delegated/sign-in`` {as} (the next sign-in
is another account). Delegated tokens carry ``scp`` and act only as their user; ``/me`` works with them;
``POST /users/{u}/sendMail`` (app role or delegated Mail.Send) keeps mails (``GET /_sim/mails``).
"""

from __future__ import annotations
