"""The dashboard in a real headless Chromium against a live simulator.

Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it where it is missing)
driven by Playwright's Python API, never Playwright's own browser download. Without a
browser these tests FAIL with instructions, so a machine without one cannot pass ``make
test`` silently; set ``LTX_MOCK_SKIP_BROWSER=1`` to skip them on purpose (the skip reason
is printed in pytest's summary). ``LTX_MOCK_CHROMIUM`` names another Chromium binary.

The screenshots in ``docs/images/dashboard-*.png`` are taken here: always into the test's
temporary folder (and checked), and into ``docs/images/`` when a file is missing or
``LTX_MOCK_UPDATE_SCREENSHOTS=1`` (so an ordinary test run leaves the work tree clean).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import DEMO_EMAIL, Api
from helpers import Receiver

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
POLL = "?poll=150"  # the page's refresh interval for tests (the default is 1 s)
TIMEOUT_MS = 10_000


def find_chromium() -> str | None:
    """LTX_MOCK_CHROMIUM when set (and only it), else Debian's chromium on PATH or in /usr/bin."""
    named = os.environ.get("LTX_MOCK_CHROMIUM")
    candidates = [named] if named else [shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def no_browser(why: str) -> None:
    """Fail loudly, or skip loudly when the developer asked to."""
    if os.environ.get("LTX_MOCK_SKIP_BROWSER") == "1":
        pytest.skip(f"BROWSER TESTS SKIPPED (LTX_MOCK_SKIP_BROWSER=1): {why}")
    pytest.fail(f"{why}. Install Debian's Chromium (`apt-get install -y chromium`, as .ci/run does) and the test "
                "extras (`pip install -e '.[test]'`), or set LTX_MOCK_SKIP_BROWSER=1 to skip the browser tests "
                "on purpose.", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("The Python package playwright is not installed")
    executable = find_chromium()
    if executable is None:
        no_browser("No Chromium binary found (looked for LTX_MOCK_CHROMIUM, chromium, chromium-browser, "
                   "/usr/bin/chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, ltx_mock: Any) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: print(f"console {msg.type}: {msg.text}"))
    pg.on("dialog", lambda dialog: dialog.accept())
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shoot(page: Any, tmp_path: Path, name: str, *, full_page: bool = False) -> None:
    """Screenshot into tmp (always, checked) and docs/images (when missing or asked for)."""
    shot = tmp_path / f"dashboard-{name}.png"
    page.evaluate("() => { document.getElementById('toast').hidden = true; }")
    page.screenshot(path=str(shot), full_page=full_page, animations="disabled")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
    target = DOCS_IMAGES / shot.name
    if os.environ.get("LTX_MOCK_UPDATE_SCREENSHOTS") == "1" or not target.exists():
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def row(page: Any, table: str, job_id: str) -> Any:
    return page.locator(f'#{table} tr[data-job-id="{job_id}"]')


def progress_of(page: Any, table: str, job_id: str) -> int:
    return int(row(page, table, job_id).locator(".bar").first.get_attribute("data-progress"))


def open_dashboard(page: Any, ltx_mock: Any, tab: str = "jobs") -> None:
    page.goto(f"{ltx_mock.url}/__admin/dashboard{POLL}#{tab}")
    page.wait_for_selector("#live-dot.on")


def test_dashboard_browser_jobs_run_complete_and_open(page: Any, ltx_mock: Any, api: Api, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    open_dashboard(page, ltx_mock)
    expect(page.locator("#clock-state")).to_have_text("paused")
    expect(page.locator("#running-empty")).to_be_visible()

    # jobs made through the API while the page is open appear on their own (polling)
    images = [api.image(p) for p in ("A lighthouse in a storm", "A fox in the snow, watercolor",
                                     "Neon city street at night")]
    video = api.video("Waves rolling onto a beach at dawn")
    ltx_mock.admin.fail_next("Upstream moderation rejected the prompt", progress=60)
    failed = api.image("Something the moderation rejects")
    for job_id in [*images, video, failed]:
        expect(row(page, "running-table", job_id)).to_be_visible()
    expect(page.locator("#stat-running")).to_have_text("5")
    before = progress_of(page, "running-table", video)

    # the page's clock control moves the simulator's clock (seen through the control API)
    now = ltx_mock.admin.clock()["now"]
    page.click("button.advance[data-seconds='1']")
    page.fill("#advance-seconds", "4")
    page.click("#btn-advance")
    expect(page.locator("#toast")).to_have_text("Advanced 4 s")
    assert ltx_mock.admin.clock()["now"] == now + 5000
    page.wait_for_function(f"() => Number(document.body.dataset.clockNow) === {now + 5000}")
    expect(row(page, "running-table", video).locator(".bar")).not_to_have_attribute("data-progress", str(before))
    assert 0 < progress_of(page, "running-table", video) < 100
    shoot(page, tmp_path, "running")

    page.click("button.advance[data-seconds='600']")
    for job_id in [*images, video]:
        expect(row(page, "jobs-table", job_id)).to_have_attribute("data-status", "completed")
        assert api.job(job_id)["status"]["type"] == "completed"
    expect(row(page, "jobs-table", failed)).to_have_attribute("data-status", "failed")
    expect(row(page, "jobs-table", failed)).to_contain_text("Upstream moderation rejected the prompt")
    expect(page.locator("#running-empty")).to_be_visible()
    expect(page.locator("#jobs-table button.thumb")).to_have_count(4)
    page.wait_for_function("() => [...document.querySelectorAll('#jobs-table img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    shoot(page, tmp_path, "jobs")

    # an image artifact opens in the drawer, loaded from the simulator's signed /storage URL
    row(page, "jobs-table", images[0]).locator("button.thumb").click()
    image = page.locator("#artifact-image")
    expect(image).to_be_visible()
    page.wait_for_function("() => { const i = document.querySelector('#artifact-image');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    # the preview is the simulator's signed URL, loaded through /__admin so the journal stays as the tests made it
    src = image.get_attribute("src")
    href = page.locator("#drawer a.open-artifact").get_attribute("href")
    assert re.match(rf"{ltx_mock.url}/storage/lt-infinity-prd/.+\.png\?Expires=\d+&Signature=\w+$", href)
    assert src == href.replace("/storage/", "/__admin/dashboard/storage/")
    assert ltx_mock.admin.count_requests(path="/storage/*") == 0
    fetched = page.request.get(href)
    assert fetched.status == 200 and fetched.headers["content-type"] == "image/png"
    assert fetched.body() == page.request.get(src).body()
    expect(page.locator("#drawer .job-model pre")).to_contain_text('"type": "completed"')
    expect(page.locator("#drawer .job-model pre")).to_contain_text(images[0])
    shoot(page, tmp_path, "job-detail")

    # a video artifact is a playable preview: the MP4 loads and plays
    page.click("#drawer-close")
    row(page, "jobs-table", video).locator("button.thumb").click()
    page.wait_for_function("() => { const v = document.querySelector('#artifact-video');"
                           " return v && v.readyState >= 2; }")
    assert page.evaluate("() => document.querySelector('#artifact-video').videoWidth") > 0
    page.evaluate("() => document.querySelector('#artifact-video').play()")
    page.wait_for_function("() => document.querySelector('#artifact-video').currentTime > 0")


def test_dashboard_browser_controls_drive_the_simulator(page: Any, ltx_mock: Any, api: Api,
                                                        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    open_dashboard(page, ltx_mock)
    page.click("#btn-resume")
    expect(page.locator("#clock-state")).to_have_text("running")
    assert ltx_mock.admin.clock()["paused"] is False
    page.fill("#speed", "5")
    page.click("#btn-speed")
    expect(page.locator("#clock-speed")).to_have_text("×5")
    assert ltx_mock.admin.clock()["speed"] == 5
    page.click("#btn-pause")
    expect(page.locator("#clock-state")).to_have_text("paused")
    assert ltx_mock.admin.clock()["paused"] is True

    # fail the next job: queued through the page, seen by the API, then on the page
    page.fill("#fail-message", "Content policy violation")
    page.fill("#outcome-progress", "40")
    page.click("#btn-fail")
    expect(page.locator("#outcomes")).to_contain_text("failed @40%")
    [queued] = ltx_mock.admin._call("GET", "/next-outcome")
    assert (queued["outcome"], queued["message"], queued["progress"]) == ("failed", "Content policy violation", 40)
    failed = api.image("This one fails")
    page.click("button.advance[data-seconds='600']")
    expect(row(page, "jobs-table", failed)).to_have_attribute("data-status", "failed")
    expect(row(page, "jobs-table", failed)).to_contain_text("Content policy violation")
    assert api.job(failed)["status"] == {"type": "failed", "progress": 40, "message": "Content policy violation"}

    # stall the next job, then release it from its detail drawer
    page.fill("#outcome-progress", "30")
    page.click("#btn-stall")
    expect(page.locator("#outcomes")).to_contain_text("stalled @30%")
    stalled = api.image("This one stalls")
    page.click("button.advance[data-seconds='600']")
    expect(row(page, "running-table", stalled)).to_contain_text("stalled")
    assert api.job(stalled)["status"] == {"type": "active", "progress": 30}
    row(page, "running-table", stalled).click()
    page.click("#btn-release")
    expect(page.locator("#toast")).to_have_text("Released the job")
    page.click("#drawer-close")
    page.click("button.advance[data-seconds='600']")
    expect(row(page, "jobs-table", stalled)).to_have_attribute("data-status", "completed")
    assert api.job(stalled)["status"]["type"] == "completed"

    # a second tenant with two accounts (one whose LTX session has expired) shows up by hint only
    team_token = "team-b-0123456789abcdef"
    ltx_mock.admin.add_token(team_token)
    team = {"Authorization": f"Bearer {team_token}"}
    for email, credits in (("ana@studio.example", 4200), ("ben@studio.example", 150)):
        cookie = ltx_mock.admin.create_ltx_user(email=email, credits=credits)["cookie"]
        assert api.session.post(f"{api.base}/accounts", json={"cookie": cookie, "maxJobs": 5}, headers=team,
                                timeout=10).status_code == 200
    ltx_mock.admin.expire_token("ben@studio.example")

    # drain an account's credits: the next job is refused for want of credits
    page.click("nav.tabs a[data-tab='accounts']")
    expect(page.locator("#accounts-table")).to_contain_text("team…")
    expect(page.locator('#accounts-table tr[data-email="ben@studio.example"]')).to_contain_text("expired")
    assert team_token not in page.content()
    account = page.locator(f'#accounts-table tr[data-email="{DEMO_EMAIL}"]')
    expect(account).to_be_visible()
    expect(page.locator("#users-table")).to_contain_text(DEMO_EMAIL)
    shoot(page, tmp_path, "accounts")
    account.locator("button.drain").click()
    expect(account.locator(".credits")).to_have_text("0")
    assert ltx_mock.admin.get_ltx_user(DEMO_EMAIL)["credits"] == 0
    refused = api.session.post(f"{api.base}/images/create", json={"prompt": "no credits"}, timeout=10)
    assert refused.status_code == 402

    # reset forgets everything (the page asks first; the test accepts)
    page.click("#btn-reset")
    expect(page.locator("#toast")).to_have_text("Simulator reset")
    assert ltx_mock.admin.state()["counts"]["job"] == 0
    assert ltx_mock.admin.get_ltx_user(DEMO_EMAIL)["credits"] == 28000
    page.click("nav.tabs a[data-tab='jobs']")
    expect(page.locator("#jobs-empty")).to_be_visible()


def test_dashboard_browser_requests_and_webhooks(page: Any, ltx_mock: Any, api: Api, receiver: Receiver,
                                                 tmp_path: Path) -> None:
    from playwright.sync_api import expect

    ltx_mock.admin.next_outcome("completed", webhook={"fail_first": 1})
    hooked = api.image("A paper boat on a pond", replyUrl=receiver.url, replyRef="order-42")
    api.image("Mountains at sunrise")
    api.session.get(f"{api.base}/accounts", timeout=10)
    api.session.get(f"{api.base}/scheduler/available", timeout=10)
    api.session.get(f"{api.base}/assets/not-a-job-id", timeout=10)  # a 400 for the journal
    ltx_mock.admin.advance(600)
    api.job(hooked)

    open_dashboard(page, ltx_mock, "requests")
    table = page.locator("#requests-table tbody tr")
    expect(table).to_have_count(6)
    expect(page.locator("#requests-table")).to_contain_text("/v1/ltxstudio/assets/not-a-job-id")
    page.fill("#filter-path", "images/create")
    expect(table).to_have_count(2)
    page.select_option("#filter-method", "POST")
    page.fill("#filter-status", "2xx")
    expect(table).to_have_count(2)
    page.fill("#filter-path", "")
    page.fill("#filter-status", "4xx")
    page.select_option("#filter-method", "")
    expect(table).to_have_count(1)
    page.fill("#filter-status", "")
    expect(table).to_have_count(6)
    shoot(page, tmp_path, "requests")

    table.filter(has_text="/images/create").last.click()  # the oldest: the hooked job
    expect(page.locator("#drawer .request-body pre")).to_contain_text("A paper boat on a pond")
    expect(page.locator("#drawer .response-body pre")).to_contain_text(hooked)
    expect(page.locator("#drawer")).to_contain_text("Bearer …secured…")
    shoot(page, tmp_path, "request-detail")
    page.click("#drawer-close")

    page.click("nav.tabs a[data-tab='webhooks']")
    delivery = page.locator(f'#webhooks-table tr[data-delivery-id="{hooked}"]')
    expect(delivery).to_have_attribute("data-state", "delivered")
    expect(delivery.locator(".chip.bad")).to_have_count(1)
    expect(delivery.locator(".chip.ok")).to_have_text("#2 200")
    expect(delivery).to_contain_text(receiver.url)
    shoot(page, tmp_path, "webhooks")

    # no secret anywhere in what the browser got
    html = page.content()
    user = ltx_mock.simulator.ltx.get_user(DEMO_EMAIL)
    for secret in (ltx_mock.token, user.lt_token, user.lt_refresh_token):
        assert secret not in html


def test_dashboard_browser_timeline_scripted_run(page: Any, ltx_mock: Any, tmp_path: Path) -> None:
    """3 accounts of maxJobs 2, 10 jobs, 4 refusals (429 when all six slots are busy): 10 bars, 4 marks, 3 lanes.

    The run is scripted through the API and the control API on the simulated clock; the page draws it live."""
    import requests
    from playwright.sync_api import expect

    token = "timeline-token"
    ltx_mock.admin.add_token(token)
    headers = {"Authorization": f"Bearer {token}"}
    for i, email in enumerate(["ana@studio.example", "ben@studio.example", "cy@studio.example"]):
        cookie = ltx_mock.admin.create_ltx_user(email=email, credits=400 + 100 * i)["cookie"]
        resp = requests.post(f"{ltx_mock.base_url}/accounts", json={"cookie": cookie, "maxJobs": 2}, headers=headers,
                             timeout=10)
        assert resp.status_code == 200, resp.text

    def create(prompt: str) -> int:
        return requests.post(f"{ltx_mock.base_url}/images/create", json={"prompt": prompt}, headers=headers,
                             timeout=10).status_code

    ltx_mock.admin.fail_next("Upstream moderation rejected the prompt", progress=40)
    statuses = []
    for i in range(6):  # fills all six slots (an image takes several simulated seconds)
        statuses.append(create(f"job {i}"))
        ltx_mock.admin.advance(0.2)
    statuses += [create("refused 1"), create("refused 2")]  # 6/6 busy: 429
    ltx_mock.admin.advance(1)
    statuses += [create("refused 3"), create("refused 4")]  # still busy
    ltx_mock.admin.advance(30)  # all six done
    for i in range(6, 10):
        statuses.append(create(f"job {i}"))
        ltx_mock.admin.advance(1.5)
    assert sorted(statuses) == [200] * 10 + [429] * 4, statuses

    open_dashboard(page, ltx_mock, "timeline")
    svg = page.locator("#timeline-svg")
    expect(svg.locator("g.tl-lane[data-email$='studio.example']")).to_have_count(3)
    lanes = svg.locator("g.tl-lane[data-email$='studio.example']")
    expect(lanes.locator("rect.tl-bar")).to_have_count(10)
    expect(lanes.locator("path.tl-mark[data-status='429']")).to_have_count(4)
    expect(lanes.locator("rect.tl-bar[data-status='failed']")).to_have_count(1)
    for i in range(3):
        assert lanes.nth(i).get_attribute("data-max-jobs") == "2"
        assert lanes.nth(i).locator("polyline.tl-credits").count() == 1
    # each lane is as tall as its maxJobs (two slots) and holds its jobs without overlap; the idle demo lane hides
    heights = page.evaluate("() => [...document.querySelectorAll('g.tl-lane')].map(g => "
                            "g.querySelector('rect.tl-capacity').getBBox().height)")
    assert len(heights) == 3 and len(set(heights)) == 1
    assert svg.get_attribute("data-idle-lanes") == "1"
    # paused with the clock: nothing moves between polls; advancing the clock moves "now"
    end = svg.get_attribute("data-end")
    page.wait_for_timeout(450)
    assert svg.get_attribute("data-end") == end
    ltx_mock.admin.advance(60)
    expect(svg).not_to_have_attribute("data-end", end)
    expect(lanes.locator("rect.tl-bar[data-status='running']")).to_have_count(0)
    # zoom to a window of simulated time: the buttons narrow it, Fit shows everything again
    span = int(svg.get_attribute("data-end")) - int(svg.get_attribute("data-start"))
    page.click("#tl-zoom-in")
    zoomed = int(svg.get_attribute("data-end")) - int(svg.get_attribute("data-start"))
    assert zoomed == pytest.approx(span / 2, rel=0.01)
    page.click("#tl-fit")
    shoot(page, tmp_path, "timeline")
    # live: jobs and a refusal made while the page is open appear on their own
    more = [requests.post(f"{ltx_mock.base_url}/images/create", json={"prompt": f"live {i}", "maxJobs": 1},
                          headers=headers, timeout=10).status_code for i in range(4)]
    assert more == [200, 200, 200, 429]  # one running job per account is the cap these requests ask for
    expect(lanes.locator("rect.tl-bar")).to_have_count(13)
    expect(lanes.locator("rect.tl-bar[data-status='running']")).to_have_count(3)
    expect(lanes.locator("path.tl-mark[data-status='429']")).to_have_count(5)
