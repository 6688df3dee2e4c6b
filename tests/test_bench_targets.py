"""``make bench``'s closing table (benchmarks/run.py): every row of issue 17, each judged from one run's results.

Milliseconds: synthetic benchmark results, no server.
"""

from __future__ import annotations

from typing import Any

from benchmarks.run import targets

ROUTES = ("GET /scheduler/available", "GET /assets/{jobId}", "POST /images/create")


def _fig(rps: float, p99: float, per_connection: list[int]) -> dict[str, Any]:
    return {"rps": rps, "p99_ms": p99, "connections": len(per_connection), "loadavg": [1.2, 1.0, 0.9],
            "answered_connections": sum(1 for c in per_connection if c), "min_per_connection": min(per_connection),
            "starved": sum(1 for c in per_connection if c < 0.1 * sum(per_connection) / len(per_connection))}


def _results(*, starve_post: bool = False) -> dict[str, Any]:
    fair = [100] * 16
    sim = {f"{r} c16": _fig(800, 9.0, fair) for r in ROUTES}
    if starve_post:  # a fine p99 over the 8 connections that were served
        sim["POST /images/create c16"] = _fig(800, 9.0, [200] * 8 + [0] * 8)
    return {
        "http": {"simulator": {"figures": sim},
                 "bare": {"figures": {f"{r} c16": _fig(1000, 5.0, fair) for r in ROUTES}},
                 "wiremock": {"figures": {f"{r} c16": _fig(400, 50.0, fair) for r in ROUTES},
                              "journal": {"on": True, "entries": 10_000}}},
        "scale": {"runs": {"memory x1": {ROUTES[0]: {"rps": 1000, "server_cpu_ms_per_req": 0.2},
                                         ROUTES[2]: {"rps": 800, "server_cpu_ms_per_req": 0.4}},
                           "redis x1": {ROUTES[0]: {"rps": 300, "server_cpu_ms_per_req": 0.5},
                                        ROUTES[2]: {"rps": 200, "server_cpu_ms_per_req": 0.58}}},
                  "per_request": {"GET /scheduler/available": {"round_trips": 2.0},
                                  "POST /images/create": {"round_trips": 23.0}}},
        "jobs": {"in_process": [{"n": 100_000, "peak_rss_mb": 140.0}]},
        "startup": {"startup": [{"server": "waitress", "median_s": 0.42}]},
        "media": {"downloads": 1000, "rss_growth_mb": 120.0},
        "redis_memory": {"jobs": 100_000, "rss_idle_mb": 70.0, "rss_after_mb": 230.0, "delta_mb": 160.0},
        "observe": {"ratios": {"both": {ROUTES[0]: 0.95, ROUTES[2]: 0.85}}},
    }


def _verdicts(rows: list[list[Any]]) -> dict[str, str]:
    return {row[0]: row[3] for row in rows}


def test_every_issue_17_row_is_judged() -> None:
    v = _verdicts(targets(_results(), {}))
    assert len(v) == 19
    assert v["GET /scheduler/available c16: simulator / bare Flask"] == "holds"  # 0.8 >= 0.7
    assert v["POST /images/create c16: simulator / WireMock (journal on, cap 10k)"] == "holds"  # 2.0 >= 1.5
    assert v["POST /images/create c16: p99, no connection starved"] == "holds"
    assert v["Redis 1 worker / memory 1 worker: GET"] == "MISSED"  # 0.3, computed from the runs
    assert v["Redis round trips per GET"] == "holds" and v["Redis round trips per POST"] == "MISSED"
    assert v["peak RSS with 100k completed jobs"] == "holds"
    assert v["start-up to first 200 (median)"] == "holds"
    assert v["RSS growth over 1,000 video downloads (issue 25)"] == "MISSED"  # 120 MB >= 100
    assert v["GET /scheduler/available c16: access log + metrics on / off"] == "holds"  # 0.95 >= 0.9 (issue 27)
    assert v["POST /images/create c16: access log + metrics on / off"] == "MISSED"  # 0.85
    assert v["server CPU per request, Redis 1 worker / memory 1 worker: GET"] == "MISSED"  # 2.5x, computed from runs
    assert v["server CPU per request, Redis 1 worker / memory 1 worker: POST"] == "holds"  # 1.45x
    assert v["RSS of a Redis process that served none of 100,000 jobs, over idle"] == "MISSED"  # +160 MB


def test_issue_28_rows_read_the_benchmarks_own_figures_and_show_an_upper_bound_rounded_up() -> None:
    res = _results()
    res["scale"]["routes"] = {"GET /scheduler/available": {"cpu_redis_over_memory": 1.501},
                              "POST /images/create": {"cpu_redis_over_memory": 1.2}}
    res["redis_memory"] = {"jobs": 20_000, "rss_idle_mb": 70.0, "rss_after_mb": 84.6, "delta_mb": 14.6}
    rows = {r[0]: r for r in targets(res, {"redis_memory": 2.5})}
    get = rows["server CPU per request, Redis 1 worker / memory 1 worker: GET"]
    assert get[1:4] == ["1.51", "<= 1.5", "MISSED"]  # its own figure wins over the runs' 2.5x; 1.501 never shows 1.50
    assert rows["server CPU per request, Redis 1 worker / memory 1 worker: POST"][3] == "holds"
    memory = rows["RSS of a Redis process that served none of 20,000 jobs, over idle"]
    assert memory[1:] == ["+15 MB (70 -> 85 MB)", "<= 20 MB", "holds", 2.5]


def test_a_fine_p99_with_starved_connections_is_missed() -> None:
    rows = targets(_results(starve_post=True), {})
    row = next(r for r in rows if r[0] == "POST /images/create c16: p99, no connection starved")
    assert row[3] == "MISSED" and "8/16 answered" in row[1]


def test_the_redis_benchmarks_own_ratio_wins_and_missing_benchmarks_are_not_measured() -> None:
    res = _results()
    res["scale"]["per_route"] = {"GET /scheduler/available": {"redis_1w_over_memory_1w": 0.75}}
    del res["jobs"], res["startup"], res["http"]["wiremock"], res["media"], res["redis_memory"]
    res["http"]["skipped"] = {"wiremock": "java not found on PATH"}
    rows = targets(res, {})
    v = _verdicts(rows)
    assert v["Redis 1 worker / memory 1 worker: GET"] == "holds"
    assert v["peak RSS with 100k completed jobs"] == "not measured"
    assert v["start-up to first 200 (median)"] == "not measured"
    assert v["RSS growth over 1,000 video downloads (issue 25)"] == "not measured"
    assert v["RSS of a Redis process that served none of 100,000 jobs, over idle"] == "not measured"
    wm = next(r for r in rows if "WireMock" in r[0])
    assert wm[3] == "not measured" and "java not found" in wm[1]


def test_scale_bench_per_request_figures_of_a_store_with_or_without_a_store_wide_lock() -> None:
    """scale_bench's per-request table: lock figures only where the store counts them (issue 28's store may have no
    lock, and counts its optimistic retries as ``conflicts``)."""
    from benchmarks.scale_bench import per_request_counts

    locked = per_request_counts({"round_trips": 800, "blocks": 400, "held_s": 0.4}, 400)
    assert locked == {"round_trips": 2.0, "atomic_blocks": 1.0, "lock_held_ms": 1.0, "lock_bound_rps": 1000,
                      "conflicts": None}
    optimistic = per_request_counts({"round_trips": 400, "conflicts": 8}, 400)
    assert optimistic == {"round_trips": 1.0, "atomic_blocks": None, "lock_held_ms": None, "lock_bound_rps": None,
                          "conflicts": 0.02}


def test_scale_bench_ratios_are_medians_of_side_by_side_pairs_in_alternating_order() -> None:
    """The machine's speed drifts: memory x1 and redis x1 are measured in turns, route by route (A B, B A ...), and
    each ratio is the median of the per-round pairs, not one figure over another taken minutes later."""
    from benchmarks.scale_bench import median, median_run, paired, schedule

    get, asset, post = "GET /scheduler/available", "GET /assets/{jobId}", "POST /images/create"
    m, r = "memory x1", "redis x1"
    assert schedule([m, r, "redis x2"], 2) == [  # per route, back to back, alternating which goes first
        (0, m, get), (0, r, get), (0, r, asset), (0, m, asset), (0, m, post), (0, r, post),
        (1, r, get), (1, m, get), (1, m, asset), (1, r, asset), (1, r, post), (1, m, post),
        (0, "redis x2", None)]
    route = "POST /images/create"
    samples = {"memory x1": [{route: {"rps": 1000, "tool": "wrk"}}, {route: {"rps": 500}}, {route: {"rps": 800}}],
               "redis x1": [{route: {"rps": 600, "tool": "wrk"}}, {route: {"rps": 200}}, {route: {"rps": 440}}]}
    assert paired(samples, route, "rps") == [0.6, 0.4, 0.55]  # round by round
    assert median(paired(samples, route, "rps")) == 0.55  # not median(redis) / median(memory) = 0.44 / 0.8
    assert median([1.0, 2.0]) == 1.5 and median([]) is None
    assert median_run(samples["redis x1"]) == {route: {"rps": 440, "tool": "wrk"}}


def test_simulator_over_bare_flask_is_the_median_of_back_to_back_pairs() -> None:
    """http_bench measures the simulator and bare Flask route by route, back to back: the verdict is the median of
    the pairs' ratios, not the median round of one over the median round of the other, taken apart."""
    from benchmarks.http_bench import median_figure, pair_ratios

    key = "POST /images/create c16"
    fair = [100] * 16
    runs = {"simulator": {key: [_fig(300, 9.0, fair), _fig(900, 9.0, fair), _fig(600, 9.0, fair)]},
            "bare": {key: [_fig(1000, 5.0, fair), _fig(1000, 5.0, fair), _fig(2000, 5.0, fair)]}}
    paired = pair_ratios(runs)
    assert paired[key] == {"rounds": [0.3, 0.9, 0.3], "median": 0.3}
    assert median_figure(runs["simulator"][key])["rps"] == 600  # a whole round's figure: p99 and answers with it
    assert median_figure(runs["bare"][key][:2])["rps"] == 1000
    res = _results()
    res["http"]["paired"] = paired  # 800 / 1000 = 0.8 from the figures alone; 0.3 from the pairs
    v = _verdicts(targets(res, {}))
    assert v["POST /images/create c16: simulator / bare Flask"] == "MISSED"
    assert v["GET /scheduler/available c16: simulator / bare Flask"] == "holds"  # no pairs for it: the figures
