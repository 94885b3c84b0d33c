"""vaultsim: a local HTTPS stand-in for Azure Key Vault secrets (tests and demo; never deployed).

Start it next to the Graph/Entra simulator, which issues its tokens::

    from local.vaultsim.server import start_vault
    vault = start_vault(state_dir, port=0, tenant_id=T, authority=sim.base_url,
                        authority_ca=sim.ca_path)
    vault.vault_url, vault.ca_path, vault.state; vault.stop()

or ``python -m local.vaultsim --port 8444 --tenant-id T --authority https://127.0.0.1:8443
--authority-ca .local/graphsim/ca.pem``, which prints ``vaultsim ready <vault_url> ca=<ca_path>``.

What it does (azure-keyvault-secrets 4.12, default api-version 2026-04-01; any api-version accepted):

* Challenge authentication: a request without a token answers 401 with
  ``WWW-Authenticate: Bearer authorization="{authority}/{tenant}", resource="https://vault.azure.net"``;
  then a bearer token for https://vault.azure.net, signed by the Entra simulator (its JWKS at
  ``{authority}/{tenant}/discovery/v2.0/keys``), unexpired, of the vault's tenant. Entra simulator
  tokens for that resource come from its token endpoint (scope ``https://vault.azure.net/.default``) or
  its managed identity endpoint (resource ``https://vault.azure.net``).
* Secrets: set (value, contentType, attributes enabled/nbf/exp, tags) makes a new version; get latest
  or a version; list versions (paged, ``maxresults``, ``nextLink``); list secrets; update properties
  (enabled, nbf, exp, contentType, tags) of a version or the latest. A disabled version answers 403
  ``Forbidden`` with innererror ``SecretDisabled``; an expired or not-yet-valid one is returned like
  Key Vault does, so the client must check ``expires_on`` itself. Unknown: 404 ``SecretNotFound``.
* Not simulated: delete/recover/purge/backup/restore, certificates and keys, PoP tokens, CAE claims
  challenges, access policies (only an allow-list of principal ids: ``state.set_allowed_principals``).

What callers must pass:

* ``SecretClient(vault.vault_url, credential, verify_challenge_resource=False,
  connection_verify=str(vault.ca_path))``. ``verify_challenge_resource=False`` is required for a
  loopback URL: the SDK checks that the vault host ends with ``.vault.azure.net`` (the challenge's
  resource) and otherwise raises ``ValueError: The challenge resource 'vault.azure.net' does not match
  the requested domain``. In Azure leave it at its default (True).
* The credential as for the Graph simulator (``authority=sim.base_url``,
  ``connection_verify=str(sim.ca_path)``); it is asked for ``https://vault.azure.net/.default`` with
  the tenant named in the challenge.
* Trust: the vault makes its own CA in ``state_dir`` unless started with ``tls_dir=<graphsim state dir>``
  (CLI ``--tls-dir``), which serves the Entra simulator's certificate so that its one ``ca.pem`` trusts
  both (handy for a process that trusts a single SSL_CERT_FILE). Otherwise
  ``server.write_ca_bundle(path, sim.ca_path, vault.ca_path)`` writes one bundle for both.

Control (no auth), in-process on ``vault.state`` (VaultState) or over HTTP:
``PUT /_sim/secrets/{name}`` {value, contentType?, enabled?, notBefore?, expiresOn? (ISO), tags?};
``GET /_sim/secrets/{name}`` (versions, no values); ``POST /_sim/secrets/{name}/{version|latest}/
disable|enable|expire``; ``PUT /_sim/outage`` {status|null}; ``PUT /_sim/access`` {principalIds|null};
``GET /_sim/requests``; ``POST /_sim/reset``.
"""

from __future__ import annotations
