"""``ltx-mock``: serve the simulator, check a server against the contract, use the client, snapshot state."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from contracts.clitools import OneLineErrors, env_options
from mock_server.config import DEMO_EMAIL, DEMO_TOKEN, SimConfig
from mock_server.server import SERVERS

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _mask(token: str) -> str:
    """A token as the banner shows it: the demo token whole (it is public), others by their first 4 characters."""
    return token if token == DEMO_TOKEN else token[:4] + "…"


def loaded(config: SimConfig, scenario: str | None = None) -> dict[str, Any]:
    """Build the simulator ``config`` describes once, before serving, and say what a server starts with.

    Once: it checks the scenario (``scenario``: its path as the user gave it, so an error names that), sets a
    shared store up (so that N workers do not each reset it) or joins one that is set up already (its clock and
    data stand; our tokens join it), and reads back what the banner reports (a scenario's tokens, clock and
    ``demo: false``, not the flags). Without a store it is a throw-away in-memory simulator. Joining a set-up
    store applies no scenario, so a scenario is then checked on a throw-away one apart: a mistake stops us now,
    not at the next reset.
    """
    from mock_server.scenario import ScenarioError, configured
    from mock_server.sim import Simulator, initialised
    from mock_server.store import open_store

    given = dataclasses.replace(config, background=False, scenario=scenario or config.scenario)
    try:
        store = open_store(config.store_url) if config.store_url else None
    except ValueError as exc:  # StateFileError and bad store URLs: one line, no traceback
        raise click.ClickException(str(exc)) from None
    joining = store is not None and initialised(store)
    try:
        if joining and given.scenario:
            Simulator(dataclasses.replace(given, store_url=None), scenario=configured(given)).close()
        sim = Simulator(given, store, scenario=configured(given))
    except ScenarioError as exc:
        if store is not None:
            store.close()
        raise click.ClickException(f"invalid scenario:\n{exc}") from None
    try:
        if joining:
            for token in config.tokens:
                sim.add_token(token)
            click.echo("note: joining an existing store: its clock, speed and data are kept "
                       "(--speed/--paused/--empty/--scenario apply only to a new store; POST /__admin/reset re-applies "
                       "this server's)", err=True)
        tokens = list(sim.tenant_tokens(1000).values())
        st = sim.clock.state()
        demo = sim.ltx.get_user(DEMO_EMAIL) is not None
        return {"tokens": tokens, "paused": st.paused, "speed": st.speed, "demo": demo}
    finally:
        sim.close()


def _banner(host: str, port: int, config: SimConfig, what: dict[str, Any], *, server: str, workers: int) -> str:
    shown = "[" + host + "]" if ":" in host else host
    base = f"http://{shown}:{port}/v1/ltxstudio"
    tokens = what["tokens"] or list(config.tokens)
    token = DEMO_TOKEN if DEMO_TOKEN in tokens else "<token>"
    clock = "paused" if what["paused"] else f"running at x{what['speed']:g}"
    lines = [
        f"ltxstudio-mock serving the LTX Studio API v1 at {base}",
        f"  tokens: {', '.join(_mask(t) for t in tokens) or '(none)'}",
        f"  scenario: {config.scenario or '(none)'}; store: {config.store_url or 'memory'}; "
        f"server: {server}, {workers} worker{'s' if workers > 1 else ''}",
        f"  clock: {clock}; control API: http://{shown}:{port}/__admin",
        f"  demo LTX Studio account: {DEMO_EMAIL} (configured for every token)" if what["demo"]
        else "  demo LTX Studio account: none",
        "",
        "Try it:",
        f"  curl -s {base}/accounts -H 'Authorization: Bearer {token}'",
        f"  curl -s {base}/images/create -H 'Authorization: Bearer {token}' \\",
        "       -H 'Content-Type: application/json' -d '{\"prompt\": \"A serene mountain landscape at sunset\"}'",
        f"  curl -s -X POST http://{shown}:{port}/__admin/clock -H 'Content-Type: application/json' \\",
        "       -d '{\"advance\": 60}'   # move simulated time 60 s ahead",
        f"  export USEAPI_BASE_URL={base} USEAPI_TOKEN={token}   # for the reference client",
        f"  dashboard: http://{shown}:{port}/__admin/dashboard",
        "",
    ]
    return "\n".join(lines)


def _version() -> str:
    from contracts.version import __version__

    return __version__


def _check_command() -> click.Command:
    from contracts.cli import check

    return check


def _client_command() -> click.Command:
    from client.cli import client

    return client


class _Main(OneLineErrors):
    """``check`` and ``client`` live in the other parts and load when named (or listed by ``--help``), so
    ``ltx-mock serve`` does not import the schemathesis runner and the client's command line (~150 ms)."""

    LAZY: dict[str, Callable[[], click.Command]] = {"check": _check_command, "client": _client_command}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            self.add_command(self.LAZY[cmd_name]())
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Main)
@click.version_option(_version(), prog_name="ltx-mock")  # the one version source (ltxstudio_mock.__version__)
def main() -> None:
    """ltxstudio-mock: an offline, stateful simulator of the useapi.net LTX Studio API v1."""


@env_options("LTX_MOCK_")  # every option from the environment too: LTX_MOCK_PORT, LTX_MOCK_STORE, ... (README)
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", default=8787, show_default=True, type=int)
@click.option("--token", "tokens", multiple=True, help="An API token (a tenant); repeat for several.")
@click.option("--empty", is_flag=True, help="Start with no demo LTX user or account.")
@click.option("--speed", default=1.0, show_default=True, type=float, help="Simulated seconds per real second.")
@click.option("--paused", is_flag=True, help="Start with the simulated clock frozen.")
@click.option("--seed", type=int, default=None, help="Reproducible ids and fake data.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False), help="YAML scenario to load.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), help="Keep all state in this SQLite file.")
@click.option("--store", "store_url", help="Store URL: memory://, sqlite:///path, redis://host:port/db.")
@click.option("--workers", default=1, show_default=True, type=int, help="Processes (needs a shared store).")
@click.option("--threads", default=8, show_default=True, type=int, help="Request threads per process.")
@click.option("--server", type=click.Choice(SERVERS), default="granian", show_default=True,
              help="granian (default: 2-3x the req/s of waitress, measured in docs/performance.md), waitress "
                   "(an exclusive port, an admission limit answering 503 when saturated), werkzeug (development).")
@click.option("--poll-waits", "poll_waits", default=32, show_default=True, type=click.IntRange(0, 1000),
              help="pollForResult waits held at once (each holds a thread); one more gets 503 + Retry-After.")
@click.option("--body-timeout", "body_timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds a request body may send nothing before it gets 408 and its connection is closed "
                   "(bodies are read before a request takes a thread).")
@click.option("--upload-budget", "upload_budget", default=512, show_default=True, type=click.IntRange(1, 1 << 20),
              metavar="MIB", help="MiB of uploaded files kept at once (all accounts); an upload past it gets 507 "
                                  "until POST /__admin/reset.")
@click.option("--webhook-allow", "webhook_allow", multiple=True, metavar="HOST[:PORT]",
              help="Deliver webhooks only to this host (repeat for several); default: any host.")
@click.option("--webhook-lease", "webhook_lease", default=30.0, show_default=True, type=float,
              help="Seconds a claimed webhook delivery stays with its process before another may retry it "
                   "(keep it above the 5 s delivery timeout).")
@click.option("--admin-token", "admin_token", envvar="LTX_MOCK_ADMIN_TOKEN", default=None,
              help="Require this token on the control API (/__admin): 'Authorization: Bearer T' or "
                   "'X-Admin-Token: T'.")
@click.option("--public-url", "public_url", default=None,
              help="The origin every URL the simulator hands out is built on (artifact URLs, webhooks), "
                   "e.g. http://ltx-mock:8787. Default: each request's own Host; webhooks: the bound host:port.")
@click.option("--log-level", "log_level", type=click.Choice(LOG_LEVELS), default="warning", show_default=True,
              help="The simulator's log (stderr); info and debug also turn granian's own log up.")
@click.option("--access-log", "access_log", metavar="-|FILE", default=None,
              help="One line per request (time, method, path, status, duration, operationId, tenant; no secrets) "
                   "to standard output (-) or appended to FILE. Default: off.")
@click.option("--log-format", "log_format", type=click.Choice(["plain", "json"]), default="plain",
              show_default=True, help="The access log's lines: plain text or one JSON object a line.")
@click.option("--metrics/--no-metrics", "metrics", default=True, show_default=True,
              help="Count requests, latencies, credits, webhooks and store errors for GET /__admin/metrics "
                   "(Prometheus; a few microseconds a request).")
def serve(host: str, port: int, tokens: tuple[str, ...], empty: bool, speed: float, paused: bool,
          seed: int | None, scenario: str | None, state_path: str | None, store_url: str | None, workers: int,
          threads: int, server: str, poll_waits: int, body_timeout: float, upload_budget: int,
          webhook_allow: tuple[str, ...],
          webhook_lease: float, admin_token: str | None, public_url: str | None, log_level: str = "warning",
          access_log: str | None = None, log_format: str = "plain", metrics: bool = True) -> None:
    """Start the simulator (Ctrl-C or SIGTERM to stop)."""
    from mock_server.access_log import configure_logging
    from mock_server.server import BindError, bind, run

    configure_logging(log_level)
    if access_log and access_log != "-":
        try:
            with open(access_log, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise click.UsageError(f"--access-log {access_log}: {exc.strerror or exc}") from None

    if state_path and store_url:
        raise click.UsageError("--state and --store are alternatives: give one")
    store = store_url or (f"sqlite://{Path(state_path).resolve()}" if state_path else None)
    if workers > 1 and not store:
        raise click.UsageError("--workers > 1 needs shared state: add --store redis://... or --state PATH")
    if speed <= 0:
        raise click.UsageError("--speed must be > 0")
    if threads < 1:
        raise click.UsageError("--threads must be >= 1")
    if server == "granian":
        try:
            import granian  # noqa: F401
        except ImportError:
            raise click.ClickException("--server granian needs granian: pip install granian, "
                                       "or use --server waitress") from None
    config = SimConfig(tokens=list(tokens) or [DEMO_TOKEN], demo=not empty, speed=speed, paused=paused, seed=seed,
                       store_url=store, scenario=str(Path(scenario).resolve()) if scenario else None,
                       webhook_lease_s=webhook_lease, poll_waits=poll_waits, body_timeout_s=body_timeout,
                       upload_budget_bytes=upload_budget * 1024 * 1024,
                       webhook_allow=[h.strip() for h in webhook_allow if h.strip()] or None,
                       admin_token=admin_token or None, public_url=_check_public_url(public_url), host=host, port=port,
                       metrics=metrics, access_log=access_log or None, log_format=log_format, log_level=log_level)
    for warning in (exposure_warning(config), lease_warning(config)):
        if warning:
            click.echo(warning, err=True)
    try:
        sock = bind(host, port, listen=False)  # first: a taken port is refused before anything is loaded
    except BindError as exc:
        raise click.ClickException(str(exc)) from None
    banner = _banner(host, port, config, loaded(config, scenario), server=server, workers=workers)

    def announce() -> None:
        click.echo(banner)
        sys.stdout.flush()

    from mock_server.metrics import MULTIPROC_ENV

    previous = os.environ.get(MULTIPROC_ENV)
    # Several workers: prometheus-client's multiprocess mode (a directory per run, set before any process imports
    # it). One worker: that process's own registry, ~3x cheaper a request (docs/service.md).
    folder = metrics_dir() if metrics and workers > 1 else None
    try:
        run(config, host, port, server=server, workers=workers, threads=threads, sock=sock, on_bound=announce)
    except BindError as exc:  # granian re-binds the port itself
        raise click.ClickException(str(exc)) from None
    finally:
        if folder:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            if previous is None:  # serve called in a longer-lived process (tests): leave its environment as it was
                os.environ.pop(MULTIPROC_ENV, None)
            else:
                os.environ[MULTIPROC_ENV] = previous


METRICS_DIR_PREFIX = "ltx-mock-metrics-"


def metrics_dir() -> str:
    """A fresh directory for this run's metrics, named in ``PROMETHEUS_MULTIPROC_DIR`` for every worker.

    prometheus-client's multiprocess mode keeps each process's counters in files there and sums them at scrape
    time; a directory of an earlier run would add that run's counts, so each run gets its own. Most serving paths
    end with ``os._exit`` (no cleanup), so the directories of runs whose process is gone are removed here.
    """
    import shutil
    import tempfile

    from mock_server.metrics import MULTIPROC_ENV

    base = Path(tempfile.gettempdir())
    for old in base.glob(METRICS_DIR_PREFIX + "*"):
        pid = old.name[len(METRICS_DIR_PREFIX):].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
    os.environ[MULTIPROC_ENV] = folder
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_public_url(url: str | None) -> str | None:
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
        raise click.UsageError(f"--public-url must be an origin like http://host:8787, got {url!r}")
    return url.rstrip("/")


def exposure_warning(config: SimConfig) -> str | None:
    """The warning a bind beyond loopback without --admin-token gets (None when there is nothing to say)."""
    from mock_server.admin.guard import loopback_bind

    if loopback_bind(config.host) or config.admin_token:
        return None
    return (f"WARNING: binding {config.host} exposes the simulator beyond this machine with an unprotected control "
            "API: anyone who can reach the port can reset it, add API tokens, read the request journal and "
            "snapshots. Add --admin-token TOKEN (or bind 127.0.0.1).")


def lease_warning(config: SimConfig) -> str | None:
    """The warning a webhook lease no longer than the delivery timeout gets (None when there is nothing to say): a
    delivery still in flight when its lease runs out may be taken by another process and arrive twice."""
    if config.webhook_lease_s > config.webhook_timeout_s:
        return None
    return (f"WARNING: --webhook-lease {config.webhook_lease_s:g} s is not above the {config.webhook_timeout_s:g} s "
            "webhook delivery timeout: a receiver slower than the lease can get a webhook twice (another process "
            "takes the delivery while it is still in flight). Keep the lease above the timeout.")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--url", default="http://127.0.0.1:8787", show_default=True, help="A running simulator.")
@click.option("--assets-dir", type=click.Path(file_okay=False),
              help="Write uploaded assets as files here (beside FILE) instead of inline base64.")
@click.option("--admin-token", "admin_token", envvar="LTX_MOCK_ADMIN_TOKEN", default=None,
              help="The server's --admin-token, if it has one [env LTX_MOCK_ADMIN_TOKEN].")
def snapshot(file: str, url: str, assets_dir: str | None, admin_token: str | None) -> None:
    """Write a running simulator's state to FILE as a scenario (serve it with --scenario FILE)."""
    import base64
    import mimetypes

    from mock_server.scenario import dump_yaml

    doc = _read_snapshot(url, admin_token)
    target = Path(file)
    if assets_dir:
        folder = Path(assets_dir)
        folder = folder if folder.is_absolute() else target.parent / folder
        folder.mkdir(parents=True, exist_ok=True)
        for asset in doc.get("assets", []):
            name = asset["uuid"] + (mimetypes.guess_extension(asset["mimeType"]) or ".bin")
            (folder / name).write_bytes(base64.b64decode(asset.pop("base64")))
            asset["file"] = Path(os.path.relpath(folder / name, target.parent)).as_posix()
    target.write_text(dump_yaml(doc), encoding="utf-8")
    click.echo(f"wrote {file}")


@env_options("LTX_MOCK_PROXY_")  # every option from the environment too: LTX_MOCK_PROXY_UPSTREAM, ... (README)
@main.command()
@click.option("--upstream", required=True, help="The API root to forward to, e.g. https://api.useapi.net/v1/ltxstudio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", default=8788, show_default=True, type=int)
@click.option("--record", type=click.Path(dir_okay=False, writable=True),
              help="On exit, write what was seen as a scenario file (serve it with --scenario FILE).")
@click.option("--junit-xml", "junit_xml", type=click.Path(dir_okay=False, writable=True),
              help="On exit, write a JUnit report: one test case per operation seen.")
@click.option("--allow-spend", is_flag=True, help="Forward credit-spending operations to a non-loopback upstream.")
@click.option("--har", type=click.Path(dir_okay=False, writable=True),
              help="Write every exchange to this HAR 1.2 file as it completes (secrets masked; closed on exit).")
def proxy(upstream: str, host: str, port: int, record: str | None, junit_xml: str | None, allow_spend: bool,
          har: str | None = None) -> None:
    """Forward to a real API, report where its answers leave the contract, record a scenario (docs/proxy.md)."""
    from mock_server.proxy import ProxyApp, run

    recorder = None
    if har:
        from mock_server.har import HarRecorder

        try:
            recorder = HarRecorder(har, f"http://{host}:{port}")
        except OSError as exc:
            raise click.UsageError(f"--har {har}: {exc.strerror or exc}") from None
    try:
        app = ProxyApp(upstream, allow_spend=allow_spend, record=bool(record), har=recorder)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    run(app, host, port, junit_xml=junit_xml, record=record,
        banner=f"ltx-mock proxy: http://{host}:{{port}}/v1/ltxstudio -> {upstream.rstrip('/')}\n"
               f"  violations: http://{host}:{{port}}/__proxy/violations (and one line each on stderr)")


def _read_snapshot(url: str, admin_token: str | None = None) -> dict:
    """GET /__admin/snapshot, every failure one line that names --url."""
    import requests

    target = f"{url.rstrip('/')}/__admin/snapshot"
    headers = {"X-Admin-Token": admin_token} if admin_token else {}
    try:
        resp = requests.get(target, headers=headers, timeout=60)
    except requests.ConnectionError:
        raise click.ClickException(f"nothing is listening at {url} (--url): start `ltx-mock serve` there, "
                                   "or point --url at a running simulator") from None
    except requests.RequestException as exc:
        reason = " ".join(str(exc).split())
        raise click.ClickException(f"cannot read a snapshot from {url} (--url): {reason}") from None
    if resp.status_code != 200:
        body = " ".join(resp.text[:300].split())
        raise click.ClickException(f"{url} (--url) answered GET /__admin/snapshot with {resp.status_code}: "
                                   f"{body} (is it an ltx-mock simulator?)")
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise click.ClickException(f"{url} (--url) did not answer with a snapshot (is it an ltx-mock simulator?)")
    return doc


if __name__ == "__main__":  # pragma: no cover
    main()

__all__ = ["json", "main"]
