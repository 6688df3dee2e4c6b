"""``ltx-mock check``: test a running server (the simulator, or the real service read-only) against the contract."""

from __future__ import annotations

import sys

import click

from contracts.clitools import env_options, http_url
from contracts.demo import DEMO_TOKEN
from contracts.runner import (
    DEFAULT_ARTIFACT_TIMEOUT_S,
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_REQUEST_TIMEOUT_S,
    PHASES,
    UnsafeTarget,
    is_loopback,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8787/v1/ltxstudio"


def _split(values: tuple[str, ...]) -> list[str]:
    """``--include a --include b,c`` -> [a, b, c] (labels like ``GET /assets/{jobId}`` keep their space)."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@env_options("LTX_MOCK_CHECK_")  # every option from the environment too (README: the table)
@click.command("check")
@click.option("--base-url", envvar="USEAPI_BASE_URL", default=DEFAULT_BASE_URL, show_default=True, callback=http_url,
              help="API root of the server to test (env USEAPI_BASE_URL).")
@click.option("--token", envvar="USEAPI_TOKEN", default=None,
              help=f"API token (env USEAPI_TOKEN); defaults to {DEMO_TOKEN} for a loopback server.")
@click.option("--max-examples", type=click.IntRange(min=1), default=DEFAULT_MAX_EXAMPLES, show_default=True,
              help="Generated examples per operation (fuzzing and stateful phases).")
@click.option("--seed", type=int, default=None, help="Reproduce a previous run (its seed is printed).")
@click.option("--read-only", is_flag=True, help="Only operations that spend no credits and change nothing (GETs).")
@click.option("--allow-spend", is_flag=True,
              help="Allow generation and other state-changing operations against a non-loopback host.")
@click.option("--junit-xml", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write a JUnit XML report (one test case per operation).")
@click.option("--include", multiple=True, metavar="OPERATION",
              help="Only this operation (operationId or 'METHOD /path'); repeatable or comma-separated.")
@click.option("--exclude", multiple=True, metavar="OPERATION", help="Skip this operation; repeatable.")
@click.option("--phases", default=",".join(PHASES), show_default=True,
              help="Schemathesis phases to run, comma-separated.")
@click.option("--artifact-timeout", type=float, default=DEFAULT_ARTIFACT_TIMEOUT_S, show_default=True,
              help="Seconds a completed job may take to show its artifact (simulated on a paused simulator).")
@click.option("--request-timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_REQUEST_TIMEOUT_S,
              show_default=True,
              help="Seconds one request may take; the default covers the contract's longest hold "
                   "(pollForResult: 20 polls x 3 s) plus a margin.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
def check(base_url: str, token: str | None, max_examples: int, seed: int | None, read_only: bool,
          allow_spend: bool, junit_xml: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
          phases: str, artifact_timeout: float, request_timeout: float, quiet: bool) -> None:
    """Check a server against openapi.yaml and this API's rules; exit 1 on any failure.

    Runs schemathesis over every operation (stateless, then stateful along the spec's links) with
    all its response checks plus the semantic checks of contracts.checks, and prints each failure
    with the curl command that reproduces it, what was expected and what came back.

    \b
    ltx-mock check                                        # the local simulator on :8787
    ltx-mock check --base-url https://api.useapi.net/v1/ltxstudio --token "$USEAPI_TOKEN" --read-only
    """
    from contracts.runner import run_checks

    if token is None:
        if not is_loopback(base_url):
            raise click.UsageError("--token (or USEAPI_TOKEN) is required for a server that is not this machine")
        token = DEMO_TOKEN
    try:
        report = run_checks(base_url, token, max_examples=max_examples, seed=seed, read_only=read_only,
                            allow_spend=allow_spend, include=_split(include), exclude=_split(exclude),
                            phases=_split((phases,)), artifact_timeout_s=artifact_timeout,
                            request_timeout=request_timeout,
                            progress=None if quiet else lambda msg: click.echo(f"ltx-mock check: {msg}", err=True))
    except (UnsafeTarget, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(report.format())
    if junit_xml:
        report.write_junit(junit_xml)
        click.echo(f"JUnit XML written to {junit_xml}", err=True)
    sys.exit(0 if report.ok else 1)


__all__ = ["check"]
