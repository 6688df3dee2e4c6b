"""Video downloads (issue 25): resident memory after 1,000 downloads of mixed parameters, and what one costs.

Videos are made on first download (``mock_server/video.py``) and cached by what they are, in a bounded cache, so
memory must level off however many are fetched. This starts ``ltx-mock serve`` (granian, the default) in a
subprocess and makes one job for each of 84 documented video variants (the models, durations, aspect ratios,
resolutions and audioSFX the docs allow; 46 distinct files, as several models share frame sizes) and completes
them. It takes the server's RSS (process tree) after one image download (the baseline: the app warmed up, PyAV
not yet loaded), downloads ``--downloads`` videos round-robin over the variants, and takes RSS again. Target:
growth under 100 MB. Also reported: the first download of each variant (encoding included) and the later ones,
median and p95 in milliseconds.

    python -m benchmarks.media_bench [--downloads 1000] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from typing import Any

import requests

from benchmarks import API, AUTH, DEMO_EMAIL, DEMO_TOKEN, admin, emit, machine_info, simulator, table, write_results

TARGET_MB = 100.0


def variants() -> list[tuple[str, dict[str, Any]]]:
    """Every documented video request shape (models, durations, aspect ratios, resolutions, audioSFX)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for model, duration, aspect, audio in itertools.product(("ltxv-turbo", "ltxv"), ("3", "5", "7", "9", "15", "30"),
                                                            ("16:9", "9:16", "1:1"), (False, True)):
        if model == "ltxv" and aspect == "1:1":
            continue  # keeps the set small; ltxv-turbo covers 1:1
        out.append(("videos/ltx-create", {"model": model, "duration": duration, "aspectRatio": aspect,
                                          "audioSFX": audio}))
    for duration, aspect, audio in itertools.product(("5", "6", "7", "8"), ("16:9", "9:16"), (False, True)):
        out.append(("videos/veo-create", {"model": "veo2", "duration": duration, "aspectRatio": aspect,
                                          "audioSFX": audio}))
    for model, resolution, audio in itertools.product(("veo3", "veo3-fast"), ("720p", "1080p"), (False, True)):
        out.append(("videos/veo-create", {"model": model, "resolution": resolution, "audioSFX": audio}))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(downloads: int) -> dict[str, Any]:
    shapes = variants()
    session = requests.Session()
    with simulator("--paused", name="media") as srv:
        base = srv.url + API
        admin(srv.url, "PATCH", f"/accounts/{DEMO_EMAIL}", {"token": DEMO_TOKEN, "maxJobs": 100})
        admin(srv.url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"credits": 10**9})
        frame = session.post(f"{base}/assets/", params={"type": "reference-image"}, headers={
            **AUTH, "Content-Type": "image/png"}, data=_png(), timeout=30).json()["asset"]["fileId"]
        job_ids = []
        for operation, body in shapes:
            body = {"prompt": "waves", **body}
            if operation == "videos/ltx-create" or body["model"] == "veo2":
                body["startAssetId"] = frame
            resp = session.post(f"{base}/{operation}", json=body, headers=AUTH, timeout=30)
            resp.raise_for_status()
            job_ids.append(resp.json()["jobId"])
        image = session.post(f"{base}/images/create", json={"prompt": "p"}, headers=AUTH, timeout=30).json()["jobId"]
        admin(srv.url, "POST", "/clock", {"advance": 3600})
        urls = [_asset_url(session, base, j) for j in job_ids]
        session.get(_asset_url(session, base, image), timeout=30).raise_for_status()
        rss_before = srv.rss_mb()
        first: list[float] = []
        cached: list[float] = []
        total_bytes = 0
        for i in range(downloads):
            url = urls[i % len(urls)]
            t0 = time.perf_counter()
            resp = session.get(url, timeout=60)
            elapsed_ms = (time.perf_counter() - t0) * 1000
            resp.raise_for_status()
            assert resp.headers["Content-Type"].startswith("video/mp4")
            total_bytes += len(resp.content)
            (first if i < len(urls) else cached).append(elapsed_ms)
        rss_after = srv.rss_mb()
    growth = rss_after - rss_before
    return {
        "machine": machine_info(), "variants": len(shapes), "downloads": downloads,
        "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1), "rss_growth_mb": round(growth, 1),
        "target_growth_mb": TARGET_MB, "ok": growth < TARGET_MB,
        "mean_file_kb": round(total_bytes / downloads / 1024, 1),
        "first_ms": {"median": round(statistics.median(first), 1), "p95": round(percentile(first, 0.95), 1),
                     "max": round(max(first), 1)},
        "cached_ms": ({"median": round(statistics.median(cached), 1), "p95": round(percentile(cached, 0.95), 1)}
                      if cached else None),
    }


def _asset_url(session: requests.Session, base: str, job_id: str) -> str:
    job = session.get(f"{base}/assets/{requests.utils.quote(job_id, safe='')}", headers=AUTH, timeout=30).json()
    assert job["status"]["type"] == "completed", job
    return str(job["status"]["artifact"]["assetUrl"])


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 36), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--downloads", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 downloads: a smoke run")
    args = parser.parse_args(argv)
    result = run(200 if args.quick else args.downloads)
    write_results("media", result)
    emit(table("Video downloads (issue 25)", ["figure", "value"], [
        ("video requests (variants)", result["variants"]),
        ("downloads", result["downloads"]),
        ("RSS before / after (MB)", f"{result['rss_before_mb']} / {result['rss_after_mb']}"),
        ("RSS growth (MB, target < 100)", f"{result['rss_growth_mb']} {'ok' if result['ok'] else 'MISSED'}"),
        ("mean file (KB)", result["mean_file_kb"]),
        ("first download ms (median / p95 / max)",
         f"{result['first_ms']['median']} / {result['first_ms']['p95']} / {result['first_ms']['max']}"),
        ("cached download ms (median / p95)",
         f"{result['cached_ms']['median']} / {result['cached_ms']['p95']}" if result["cached_ms"] else "-"),
        ("load average", machine_info().get("loadavg", "?")),
    ]))
    return result


if __name__ == "__main__":
    main()
