"""The local stack: Azurite, the Graph simulator (unless real endpoints are given) and the function
app on the local host. ``python -m local.stack [--demo]``; also used by the end-to-end tests and the
benchmark through ``LocalStack``.

Every connector setting (``CALENDAR_MSGRAPH_*``, ``CONNECTOR_*``) given in the environment wins over the
stack's default, and a part the environment supplies is not started locally: the Graph simulator when
both Graph endpoints are given, the Key Vault simulator when ``CALENDAR_MSGRAPH_KEY_VAULT_URL`` is, the
booking-system receiver when ``CONNECTOR_OUTBOUND_WEBHOOK_URL`` is. The host's log goes to
``<state dir>/host.log`` and, when serving, to the console.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import shutil
import signal
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from local.azurite import RunningAzurite, start_azurite
from local.booking_receiver import BookingReceiver, start_booking_receiver
from local.funchost import HostProcess
from local.graphsim.delegated import auth_of
from local.graphsim.server import RunningSimulator, start_simulator
from local.sample_day import RESOURCES
from local.stack_credentials import (
    DEFAULT_ROTATE_SCHEDULE,
    SECRET_NAME,
    demo_rotation_and_doctor,
    start_vault_for,
)
from local.stack_eventgrid import event_grid_defaults, subscribe_trigger_to_partner_topic, uses_event_grid
from local.vaultsim.server import RunningVault
from shared.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "planning-events"
EXTERNAL_GRAPH = ("CALENDAR_MSGRAPH_GRAPH_ENDPOINT", "CALENDAR_MSGRAPH_AUTH_ENDPOINT")
# The connector's own settings: every name the app reads (shared/config.py) has one of these prefixes.
APP_SETTING = re.compile(r"^(CALENDAR_MSGRAPH|CONNECTOR)_[A-Z0-9_]+$")
HOST_LOG = "host.log"


def app_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The connector's settings set (non-empty) in ``environ``."""
    return {name: value for name, value in environ.items() if APP_SETTING.match(name) and value.strip()}


@dataclass
class LocalStack:
    """Starts and stops the parts; every part listens on loopback only."""

    state_dir: Path = ROOT / ".local"
    port: int = 7071
    users: Mapping[str, str] = field(default_factory=lambda: dict(RESOURCES))
    settings: Mapping[str, str] = field(default_factory=dict)
    lock_seconds: float | None = None
    azurite: RunningAzurite | None = None
    simulator: RunningSimulator | None = None
    host: HostProcess | None = None
    booking: BookingReceiver | None = None
    vault: RunningVault | None = None
    use_vault: bool = True  # keep the Graph client secret in the Key Vault simulator, as deployed
    environ: Mapping[str, str] | None = None  # where settings are given; None: this process's environment
    stream_log: bool = False  # echo the host's log to the console (the scripts); the file is always written
    env: dict[str, str] = field(default_factory=dict)
    _operator: tuple[str, float] = field(default=("", 0.0), repr=False)

    @property
    def given(self) -> dict[str, str]:
        """The settings given to this stack: the environment's connector settings, then ``lock_seconds`` and
        ``settings``. Each wins over the stack's default for the same name."""
        environ = os.environ if self.environ is None else self.environ
        given = app_settings(environ)
        if self.lock_seconds is not None:
            given["CONNECTOR_LOCAL_QUEUE_LOCK_SECONDS"] = str(self.lock_seconds)
        return given | dict(self.settings)

    @property
    def uses_simulator(self) -> bool:
        given = self.given
        endpoints = [name for name in EXTERNAL_GRAPH if given.get(name)]
        if len(endpoints) == 1:
            missing = next(name for name in EXTERNAL_GRAPH if name not in endpoints)
            raise ConfigurationError(missing, f"must be given with {endpoints[0]} (or neither: the Graph simulator)")
        return not endpoints

    @property
    def log_path(self) -> Path:
        return self.state_dir / HOST_LOG

    def start(self) -> LocalStack:
        given, uses_simulator = self.given, self.uses_simulator
        external_vault = bool(given.get("CALENDAR_MSGRAPH_KEY_VAULT_URL"))
        if given.get("CONNECTOR_OUTBOUND_WEBHOOK_URL") and not given.get("CONNECTOR_OUTBOUND_WEBHOOK_SECRET") \
                and not external_vault:
            raise ConfigurationError("CONNECTOR_OUTBOUND_WEBHOOK_SECRET",
                                     "is required with CONNECTOR_OUTBOUND_WEBHOOK_URL: the booking system's signing"
                                     " secret (the local stack keeps it in its Key Vault for the connector)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        queue_path = self.state_dir / "queue.sqlite3"
        for stale in (queue_path, Path(f"{queue_path}-wal"), Path(f"{queue_path}-shm"), self.log_path):
            stale.unlink(missing_ok=True)  # every run starts from an empty queue, like fresh Azurite
        self.azurite = start_azurite()
        environ = os.environ if self.environ is None else self.environ
        env = {key: value for key, value in environ.items() if not APP_SETTING.match(key)}
        if self.port == 0:
            self.port = _free_port()  # Graph must know the webhook URL before the host starts
        # The stack's defaults; any setting in ``given`` replaces them below.
        env.update({
            "AzureWebJobsStorage": self.azurite.connection_string,
            "CONNECTOR_LOCAL_QUEUE_PATH": str(queue_path),
            "CONNECTOR_TABLE_PREFIX": "connector",
            "CALENDAR_MSGRAPH_SYNCHRONIZE": "true",
            "CALENDAR_MSGRAPH_ROTATE_SCHEDULE": DEFAULT_ROTATE_SCHEDULE,
            "PYTHONUNBUFFERED": "1",
            # Rooms: Graph (the simulator) calls the webhooks on this host; timers far apart locally
            # (tests and the demo run them on demand through POST /admin/functions/{name}).
            "CONNECTOR_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
            "CONNECTOR_CLIENT_STATE_KEY": secrets.token_urlsafe(32),
            "CONNECTOR_SUBSCRIPTION_RENEWAL_SCHEDULE": "0 */30 * * * *",
            "CONNECTOR_USERS_DIRECTORY_SCHEDULE": "0 */15 * * * *",
            "CONNECTOR_DRIFT_SCHEDULE": "0 30 2 * * *",
            # People: a token encryption key of this run, and the host itself as the place a connect returns to.
            "CONNECTOR_TOKEN_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
            "CONNECTOR_CONNECT_RETURN_URLS": f"http://127.0.0.1:{self.port}/",
        })
        webhook_secret = given.get("CONNECTOR_OUTBOUND_WEBHOOK_SECRET")
        if not given.get("CONNECTOR_OUTBOUND_WEBHOOK_URL"):
            # The booking system's side: a local receiver that verifies the signatures.
            self.booking = start_booking_receiver(webhook_secret)
            webhook_secret = self.booking.secret
            env.update({"CONNECTOR_OUTBOUND_WEBHOOK_URL": self.booking.url,
                        "CONNECTOR_OUTBOUND_WEBHOOK_SECRET": webhook_secret,
                        # ... and the page a recruiter returns to after connecting (the people demo).
                        "CONNECTOR_CONNECT_RETURN_URLS": f"{env['CONNECTOR_CONNECT_RETURN_URLS']},"
                                                         f"{self.booking.base_url}/"})
        if uses_simulator:
            # The simulator's tenant and app are the given ones, so given credentials match it.
            tenant = given.get("CALENDAR_MSGRAPH_TENANT_GUID") or str(uuid.uuid4())
            client = given.get("CALENDAR_MSGRAPH_CLIENT_ID") or str(uuid.uuid4())
            secret = given.get("CALENDAR_MSGRAPH_CLIENT_SECRET") or secrets.token_urlsafe(24)
            self.simulator = start_simulator(state_dir=self.state_dir / "graphsim", tenant_id=tenant,
                                             client_id=client, client_secret=secret)
            for upn, name in self.users.items():
                self.simulator.state.add_user(upn, name)
            # People sign in at the simulator, which returns them to this host's callback.
            auth_of(self.simulator.state).register_redirect(
                client, f"http://127.0.0.1:{self.port}/api/connections/callback")
            # Rooms need /places and subscriptions besides the calendar and directory roles.
            self.simulator.state.add_app(client, secret, tenant,
                                         roles=["Calendars.ReadWrite", "User.Read.All", "Place.Read.All"])
            env.update({
                "CALENDAR_MSGRAPH_TENANT_GUID": tenant,
                "CALENDAR_MSGRAPH_CLIENT_ID": client,
                "CALENDAR_MSGRAPH_CLIENT_SECRET": secret,
                "CALENDAR_MSGRAPH_GRAPH_ENDPOINT": self.simulator.graph_endpoint,
                "CALENDAR_MSGRAPH_AUTH_ENDPOINT": self.simulator.auth_endpoint,
                # The simulator's CA is new each run; only the local app process trusts it.
                "SSL_CERT_FILE": str(self.simulator.ca_path),
                "REQUESTS_CA_BUNDLE": str(self.simulator.ca_path),
            })
            if self.use_vault and not external_vault:
                self.vault = start_vault_for(self.state_dir, self.simulator, tenant=tenant, client=client,
                                             secret=secret, env=env,
                                             secret_name=given.get("CALENDAR_MSGRAPH_CLIENT_SECRET_NAME", SECRET_NAME))
                if webhook_secret:
                    # With a vault the connector reads the webhook's signing secret from it, as deployed.
                    name = given.get("CONNECTOR_OUTBOUND_WEBHOOK_SECRET_NAME", "outbound-webhook-secret")
                    self.vault.state.set_secret(name, webhook_secret, content_type="text/plain")
        env.update(given)  # every given setting wins over the stack's default
        env.update(event_grid_defaults(given))
        self.env = env
        self.host = HostProcess("function_app", cwd=ROOT, env=env, state_dir=self.state_dir, port=self.port,
                                log_path=self.log_path, stream_log=self.stream_log)
        try:
            self.host.start(timeout=60)
            if uses_simulator and uses_event_grid(env):
                subscribe_trigger_to_partner_topic(self)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()
        if self.vault is not None:
            self.vault.stop()
        if self.simulator is not None:
            self.simulator.stop()
        if self.booking is not None:
            self.booking.stop()
        if self.azurite is not None:
            self.azurite.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for the demo, the tests and the benchmark --------------------------------------

    @property
    def base_url(self) -> str:
        assert self.host is not None
        return self.host.base_url

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)

    def post_events(self, events: list[dict[str, Any]]) -> httpx.Response:
        assert self.host is not None
        with self.client() as client:
            return client.post("/api/planning/events", json=events,
                               headers={"x-functions-key": self.host.function_key,
                                        "content-type": "application/cloudevents-batch+json"})

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The host's admin API (/admin/...) with the master key; the operator API (/api/manage/...) with an
        operator's access token from the Graph simulator (Connector.Operator)."""
        assert self.host is not None
        headers = {"x-functions-key": self.host.master_key} if path.startswith("/admin/") else \
            {"authorization": f"Bearer {self._operator_bearer()}"}
        with self.client() as client:
            return client.request(method, path, headers=headers, **kwargs)

    def _operator_bearer(self) -> str:
        token, expires = self._operator
        if time.monotonic() > expires:
            token, expires = self.operator_token(), time.monotonic() + 1800  # minted for an hour
            self._operator = (token, expires)
        return token

    def operator_token(self, roles: tuple[str, ...] = ("Connector.Operator",), **claims: Any) -> str:
        """An access token for the connector's API as Entra would issue it to a signed-in operator, minted by the
        Graph simulator (whose keys the app trusts locally). Without the simulator: CONNECTOR_LOCAL_OPERATOR_TOKEN."""
        if self.simulator is None:
            given = (os.environ if self.environ is None else self.environ).get("CONNECTOR_LOCAL_OPERATOR_TOKEN")
            if not given:
                raise ConfigurationError("CONNECTOR_LOCAL_OPERATOR_TOKEN", "is needed for /api/manage without the "
                                         "Graph simulator: an operator's access token for the connector's API")
            return given
        body = {"audience": f"api://{self.env['CALENDAR_MSGRAPH_CLIENT_ID']}", "roles": list(roles),
                "user": "operator@contoso.com", "tenant": self.env["CALENDAR_MSGRAPH_TENANT_GUID"]} | claims
        with httpx.Client(verify=ssl.create_default_context(cafile=str(self.simulator.ca_path)), timeout=30) as sim:
            response = sim.post(f"{self.simulator.base_url}/_sim/operator-tokens", json=body)
            response.raise_for_status()
            return str(response.json()["access_token"])

    def queue_counts(self) -> dict[str, int]:
        response = self.admin("GET", f"/admin/queues/{QUEUE}")
        response.raise_for_status()
        counts: dict[str, int] = response.json()
        return counts

    def wait_until_drained(self, timeout: float = 120) -> None:
        """Until no message is waiting, scheduled or in flight."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.queue_counts()
            if counts.get("active", 0) == 0 and counts.get("scheduled", 0) == 0 and counts.get("locked", 0) == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"queue not drained after {timeout} s: {self.queue_counts()}")

    def calendar(self, mailbox: str) -> list[dict[str, Any]]:
        assert self.simulator is not None, "calendars are read from the simulator"
        return self.simulator.state.events_of(mailbox)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def print_calendars(stack: LocalStack, zone: str = "Europe/Berlin", users: Mapping[str, str] | None = None) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)

    def local(value: dict[str, str]) -> str:
        instant = datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=ZoneInfo("UTC"))
        return instant.astimezone(tz).strftime("%a %d %b %H:%M")

    for mailbox, name in (stack.users if users is None else users).items():
        events = stack.calendar(mailbox)
        print(f"\n{name} <{mailbox}>: {len(events)} event(s)")
        rows = [("Start", "End", "Show as", "Subject", "Location")]
        for event in events:
            rows.append((local(event["start"]), local(event["end"]) if not event.get("isAllDay") else "(all day)",
                         event.get("showAs", ""), event.get("subject", ""),
                         (event.get("location") or {}).get("displayName", "")))
        widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
        for index, row in enumerate(rows):
            print("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
            if index == 0:
                print("  " + "  ".join("-" * width for width in widths))


def _demo(stack: LocalStack) -> None:
    from local.sample_day import sample_day

    events = sample_day()
    print(f"\nPosting a sample planning day: {len(events)} events, all nine change kinds ...")
    response = stack.post_events(events)
    print(f"  POST /api/planning/events -> {response.status_code} {response.text[:120]}")
    response.raise_for_status()
    stack.wait_until_drained()
    print_calendars(stack)
    dead = stack.admin("GET", "/api/manage/deadletters").json()["value"]
    print(f"\nDead letters: {len(dead)}")
    from local.demo_rooms import demo_rooms

    demo_rooms(stack)
    demo_rotation_and_doctor(stack, next(iter(stack.users), None))  # ends with the doctor's report
    from local.demo_drift import demo_drift

    demo_drift(stack)  # an event deleted by hand, and its repair
    from local.demo_tenants import demo_tenants

    demo_tenants(stack)  # two customer organisations side by side, each with its own token and calendars
    from local.demo_people import demo_people

    demo_people(stack)  # last: a recruiter connects, books an interview, a colleague declines, free slots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__)
    parser.add_argument("--demo", action="store_true", help="replay the sample day and print the calendars")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    args = parser.parse_args(argv)
    if shutil.which("node") is None:
        print("Node.js is needed for Azurite", file=sys.stderr)
        return 2
    stack = LocalStack(state_dir=args.state_dir, port=args.port, stream_log=True)
    try:
        parts = ["Azurite", *(["the Graph simulator"] if stack.uses_simulator else []),
                 *([] if stack.given.get("CONNECTOR_OUTBOUND_WEBHOOK_URL") else ["a booking-system receiver"])]
        print(f"Starting {', '.join(parts)} and the function app (its log: {stack.log_path}) ...")
        stack.start()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"Function app: {stack.base_url}/api  (keys in {args.state_dir / 'host-keys.json'})")
        if stack.simulator is not None:
            print(f"Graph simulator: {stack.simulator.base_url}  (calendars: GET {stack.simulator.base_url}"
                  "/_sim/mailboxes/<email>/events)")
        if args.demo:
            _demo(stack)
        print("\nServing until Ctrl-C.")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            while not stopped.wait(0.5):
                if stack.host is not None and stack.host.proc is not None and stack.host.proc.poll() is not None:
                    print("the function host stopped", file=sys.stderr)
                    return 1
        except KeyboardInterrupt:
            pass
    finally:
        print("Stopping ...")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
