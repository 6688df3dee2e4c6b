"""Command line of the client: `ltx-mock client ...` or `python -m client ...`.

Reads USEAPI_TOKEN and USEAPI_BASE_URL like the library, so the same commands drive the real service or
the simulator. Results go to stdout (paths, tables); progress and errors to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from contracts.clitools import OneLineErrors, http_url

from ._client import LTXStudioClient
from .exceptions import LTXStudioError, NotFoundError, ValidationError
from .media import describe
from .models import Job, JobCreated

__all__ = ["client", "main"]


def _console(*, stderr: bool = False) -> Console:
    """Lines never wrapped: on a terminal rich knows its width; elsewhere (a CI log, a pipe) it would assume
    80 columns and break error messages and tables mid-line, so it gets room instead."""
    stream = sys.stderr if stderr else sys.stdout
    wide = None if getattr(stream, "isatty", lambda: False)() else 10_000
    return Console(stderr=stderr, soft_wrap=True, width=wide)


out = _console()
err = _console(stderr=True)


def make_client(token: str | None, base_url: str | None) -> LTXStudioClient:
    """Build the client the commands use (tests replace this to inject a clock)."""
    return LTXStudioClient(token=token, base_url=base_url)


class CLIError(click.ClickException):
    """An API or validation error, shown without a traceback."""

    def show(self, file: Any = None) -> None:
        err.print(f"[bold red]error:[/] {self.message}", highlight=False)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        raise CLIError(f"invalid options: {exc}") from exc
    except LTXStudioError as exc:
        raise CLIError(str(exc)) from exc


_KEY = "client.api"


def _api(ctx: click.Context) -> LTXStudioClient:
    """The client, built on first use (so that `--help` of any command works without a token)."""
    # ctx.meta is shared by the whole command tree, so this works when mounted under another group.
    api: LTXStudioClient | None = ctx.meta.get(_KEY)
    if api is None:
        token, base_url = ctx.meta[_KEY + ".options"]
        if not token:
            raise CLIError("no API token: set USEAPI_TOKEN or pass --token (the simulator's demo token is "
                           "demo-token)")
        api = make_client(token, base_url)
        ctx.meta[_KEY] = api
        ctx.find_root().call_on_close(api.close)
    return api


@click.group(name="client", cls=OneLineErrors)
@click.option("--token", envvar="USEAPI_TOKEN", help="API token [env USEAPI_TOKEN].", show_envvar=False)
@click.option("--base-url", envvar="USEAPI_BASE_URL", default=None, callback=http_url,
              help="API base URL [env USEAPI_BASE_URL; default the real service].")
@click.pass_context
def client(ctx: click.Context, token: str | None, base_url: str | None) -> None:
    """Talk to the LTX Studio API (or the simulator) with the reference client."""
    ctx.meta.pop(_KEY, None)
    ctx.meta[_KEY + ".options"] = (token, base_url)


# -- shared pieces -------------------------------------------------------------------------------
def _wait_with_progress(api: LTXStudioClient, job: JobCreated | Job, timeout: float,
                        poll_interval: float) -> Job:
    """wait() behind a rich progress bar (on stderr, so stdout stays scriptable)."""
    if isinstance(job, Job) and job.is_done:
        return job
    job_id = job.job_id or ""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("queued", total=100)

        def on_progress(current: Job) -> None:
            state = current.state or "unknown"
            if state == "completed" and not current.is_done:
                state = "completed, waiting for the artifact"
            progress.update(task, description=state, completed=float(current.progress or 0))

        result = api.wait(job_id, timeout=timeout, poll_interval=poll_interval, on_progress=on_progress)
        progress.update(task, completed=100)
    return result


def _finish(api: LTXStudioClient, created: JobCreated | Job, out_path: str | None, wait: bool,
            timeout: float, poll_interval: float) -> None:
    err.print(f"job [bold]{created.job_id}[/]", highlight=False)
    if not wait:
        out.print(created.job_id or "", highlight=False)
        return
    job = _wait_with_progress(api, created, timeout, poll_interval)
    _saved(api.download(job, out_path or "."))


def _saved(path: Path) -> None:
    """The saved file's path on stdout (scriptable), what it is on stderr: duration, frame size, sound."""
    out.print(str(path), highlight=False)
    media = describe(path)
    if media is not None:
        err.print(f"{path.name}: {media}", highlight=False)


def _asset_id(api: LTXStudioClient, value: str | None, kind: str) -> str | None:
    """A file path is uploaded first (as `kind`); anything else is taken as an asset id."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        uploaded = api.upload_asset(path, type=kind)
        err.print(f"uploaded {path} as [bold]{uploaded.file_id}[/]", highlight=False)
        if not uploaded.file_id:
            raise CLIError(f"the upload of {path} returned no fileId")
        return uploaded.file_id
    return value


def _wait_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--poll-interval", type=float, default=2.0, show_default=True,
                     help="Seconds between the first polls (grows up to 15).")(f)
    f = click.option("--timeout", type=float, default=900.0, show_default=True,
                     help="Give up waiting after this many seconds.")(f)
    f = click.option("--wait/--no-wait", default=True, show_default=True,
                     help="Wait for the result and download it, or print the job id and exit.")(f)
    f = click.option("--out", "out_path", type=click.Path(dir_okay=True, writable=True),
                     help="File (or directory) to save the result to [default: current directory].")(f)
    f = click.option("--email", help="Account to use (needed when several are configured).")(f)
    return f


# -- generation ----------------------------------------------------------------------------------
@client.command()
@click.argument("prompt")
@click.option("--model", type=click.Choice(["flux", "flux-premium", "nano-banana"]))
@click.option("--aspect-ratio", help="16:9, 9:16 or 1:1.")
@click.option("--style", help="flux only: cinematic, anime, ...")
@click.option("--reference", help="Reference image: a file (uploaded first) or an asset id (flux only).")
@click.option("--reference-strength", type=int, help="0-100 (flux only).")
@click.option("--seed", type=int)
@_wait_options
@click.pass_context
def image(ctx: click.Context, prompt: str, model: str | None, aspect_ratio: str | None, style: str | None,
          reference: str | None, reference_strength: int | None, seed: int | None, email: str | None,
          out_path: str | None, wait: bool, timeout: float, poll_interval: float) -> None:
    """Create an image from PROMPT, wait for it and save it."""
    api = _api(ctx)
    with _errors():
        reference_id = _asset_id(api, reference, "reference-image")
        created = api.create_image(prompt, model=model, aspect_ratio=aspect_ratio, style=style,
                                   reference_asset_id=reference_id, reference_strength=reference_strength,
                                   seed=seed, email=email)
        _finish(api, created, out_path, wait, timeout, poll_interval)


@client.command()
@click.argument("prompt")
@click.option("--start-asset", help="First frame: an image file (uploaded first) or an asset id.")
@click.option("--end-asset", help="Last frame: an image file (uploaded first) or an asset id.")
@click.option("--model", type=click.Choice(["ltxv", "ltxv-turbo"]))
@click.option("--duration", help="Seconds: 3, 5, 7, 9, 15 or 30.")
@click.option("--aspect-ratio", help="16:9, 9:16 or 1:1.")
@click.option("--intensity", type=click.Choice(["low", "medium", "high"]))
@click.option("--audio-sfx/--no-audio-sfx", default=None, help="Generate sound effects.")
@click.option("--seed", type=int)
@_wait_options
@click.pass_context
def video(ctx: click.Context, prompt: str, start_asset: str | None, end_asset: str | None, model: str | None,
          duration: str | None, aspect_ratio: str | None, intensity: str | None, audio_sfx: bool | None,
          seed: int | None, email: str | None, out_path: str | None, wait: bool, timeout: float,
          poll_interval: float) -> None:
    """Create an LTX-Video clip from PROMPT and a start and/or end frame, wait for it and save it."""
    api = _api(ctx)
    with _errors():
        if start_asset is None and end_asset is None:
            raise ValidationError("give --start-asset and/or --end-asset")
        start_id = _asset_id(api, start_asset, "image")
        end_id = _asset_id(api, end_asset, "image")
        created = api.create_ltx_video(prompt, start_asset_id=start_id, end_asset_id=end_id, model=model,
                                       duration=duration, aspect_ratio=aspect_ratio, intensity=intensity,
                                       audio_sfx=audio_sfx, seed=seed, email=email)
        _finish(api, created, out_path, wait, timeout, poll_interval)


@client.command()
@click.option("--prompt", help="Text description.")
@click.option("--start-asset", help="First frame: an image file (uploaded first) or an asset id.")
@click.option("--model", type=click.Choice(["veo2", "veo3", "veo3-fast"]))
@click.option("--duration", help="Seconds: 5-8 for veo2, 8 for veo3/veo3-fast.")
@click.option("--aspect-ratio", help="16:9 (or 9:16 with veo2).")
@click.option("--resolution", type=click.Choice(["720p", "1080p"]), help="veo3/veo3-fast only.")
@click.option("--audio-sfx/--no-audio-sfx", default=None, help="Generate sound effects.")
@click.option("--seed", type=int)
@_wait_options
@click.pass_context
def veo(ctx: click.Context, prompt: str | None, start_asset: str | None, model: str | None,
        duration: str | None, aspect_ratio: str | None, resolution: str | None, audio_sfx: bool | None,
        seed: int | None, email: str | None, out_path: str | None, wait: bool, timeout: float,
        poll_interval: float) -> None:
    """Create a Veo video (veo2 needs --start-asset), wait for it and save it."""
    api = _api(ctx)
    with _errors():
        start_id = _asset_id(api, start_asset, "reference-image")
        created = api.create_veo_video(prompt=prompt, start_asset_id=start_id, model=model, duration=duration,
                                       aspect_ratio=aspect_ratio, resolution=resolution, audio_sfx=audio_sfx,
                                       seed=seed, email=email)
        _finish(api, created, out_path, wait, timeout, poll_interval)


@client.command(name="wait")
@click.argument("job_id")
@click.option("--out", "out_path", type=click.Path(dir_okay=True, writable=True),
              help="Save the result here (file or directory); without it only the URL is printed.")
@click.option("--timeout", type=float, default=900.0, show_default=True)
@click.option("--poll-interval", type=float, default=2.0, show_default=True)
@click.pass_context
def wait_command(ctx: click.Context, job_id: str, out_path: str | None, timeout: float,
                 poll_interval: float) -> None:
    """Wait for JOB_ID to finish (progress bar), then save or print its result."""
    api = _api(ctx)
    with _errors():
        job = _wait_with_progress(api, JobCreated(job_id=job_id), timeout, poll_interval)
        if out_path:
            _saved(api.download(job, out_path))
        else:
            out.print(job.asset_url or "", highlight=False)


@client.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--type", "kind", type=click.Choice(["image", "reference-image"]), default="image",
              show_default=True, help="image: LTX video frames; reference-image: image endpoints and Veo.")
@click.option("--content-type", help="MIME type [default: guessed].")
@click.option("--email")
@click.pass_context
def upload(ctx: click.Context, file: str, kind: str, content_type: str | None, email: str | None) -> None:
    """Upload FILE and print its asset id (fileId)."""
    api = _api(ctx)
    with _errors():
        asset = api.upload_asset(file, content_type=content_type, type=kind, email=email)
        out.print(asset.file_id or "", highlight=False)


@client.command()
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Stop the scheduler tracking JOB_ID."""
    with _errors():
        _api(ctx).cancel_job(job_id)
    err.print(f"cancelled {job_id}", highlight=False)


# -- listings ------------------------------------------------------------------------------------
def _table(table: Table) -> None:
    """Tables at the terminal's width; piped, wide enough that ids are never folded (grep-able)."""
    (out if out.is_terminal else Console(width=250)).print(table)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@client.command()
@click.option("--balance", is_flag=True, help="Also fetch each account's credit balance (one call each).")
@click.pass_context
def accounts(ctx: click.Context, balance: bool) -> None:
    """List the configured accounts."""
    api = _api(ctx)
    with _errors():
        try:
            found = api.list_accounts()
        except NotFoundError:
            found = {}
        table = Table(title="Accounts")
        for column in ("email", "maxJobs", "updated (UTC)", "token expires (UTC)", "error"):
            table.add_column(column)
        if balance:
            table.add_column("credits", justify="right")
        for key, account in found.items():
            row = [account.email or key, _cell(account.max_jobs), _cell(account.updated_utc),
                   _cell(account.token_expire_utc), _cell(account.error)]
            if balance:
                row.append(_cell(api.get_account(account.email or key).credits))
            table.add_row(*row)
        if not found:
            err.print("no account configured (POST /accounts; `create_account(cookie)`)")
        _table(table)


@client.command()
@click.option("--email")
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--filter", "kind", type=click.Choice(["images", "videos", "audio", "other"]))
@click.pass_context
def assets(ctx: click.Context, email: str | None, page: int, limit: int, kind: str | None) -> None:
    """List the account's assets (one page)."""
    api = _api(ctx)
    with _errors():
        result = api.list_assets(email=email, page=page, limit=limit, filter=kind)
    meta = result.meta
    title = "Assets"
    if meta is not None:
        pages = f"{_cell(meta.current_page)}/{_cell(meta.total_pages)}"
        title += f" (page {pages}, {_cell(meta.total_items)} total)"
    table = Table(title=title)
    for column in ("fileId", "type", "jobId", "url"):
        table.add_column(column, overflow="fold")
    for item in result.items:
        table.add_row(_cell(item.file_id), _cell(item.mime_type), _cell(item.job_id),
                      _cell(item.signed_asset.asset_url if item.signed_asset else None))
    _table(table)


@client.command()
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """List the running jobs."""
    with _errors():
        running = _api(ctx).list_running_jobs()
    table = Table(title="Running jobs")
    for column in ("jobId", "email", "started", "elapsed", "replyRef"):
        table.add_column(column, overflow="fold")
    for job in running:
        table.add_row(_cell(job.job_id), _cell(job.email), _cell(job.started), _cell(job.elapsed),
                      _cell(job.reply_ref))
    _table(table)


@client.command()
@click.argument("job_id")
@click.pass_context
def status(ctx: click.Context, job_id: str) -> None:
    """Show JOB_ID's current status once (no waiting)."""
    with _errors():
        job = _api(ctx).get_job(job_id)
    line = f"{job_id}: {job.state} {_cell(job.progress)}% {_cell(job.message)} {_cell(job.asset_url)}"
    out.print(line.rstrip(), highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m ltxstudio_mock.client` (`python -m client` in the checkout)."""
    client.main(args=argv if argv is not None else sys.argv[1:], prog_name=f"python -m {__name__.rpartition('.')[0]}",
                auto_envvar_prefix=None)


if __name__ == "__main__":  # pragma: no cover
    main()
