"""What each generation costs and how long it takes.

Prices come from the docs' pricing table (Standard plan: one credit = $0.00125):
FLUX $0.015 = 12, LTXV Turbo $0.025 = 20, LTXV $0.081 = 65, Veo 2 $1.129 = 903.
The table says N/A for the rest; the values below are our estimates, explained
in docs/fidelity.md. Durations (simulated seconds) resemble what users report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Generation:
    """One kind of generation: its price, its typical run time and what it produces."""

    name: str
    credits: int
    base_seconds: float
    per_video_second: float  # extra run time per second of requested video
    media: str  # "image" or "video"
    mime: str
    subtype: str  # artifactSubtype of the produced asset
    seconds: int = 0  # videos: the default duration
    resolution: str | None = None  # videos: the default (veo3, veo3-fast) or only (ltxv, veo2) resolution
    resolutions: tuple[str, ...] = ()  # videos: the `resolution` values the model takes (docs/fidelity.md)


CATALOG: dict[str, Generation] = {
    g.name: g
    for g in (
        Generation("flux", 12, 12, 0, "image", "image/png", "vertex-ai"),
        Generation("flux-premium", 24, 18, 0, "image", "image/png", "vertex-ai"),
        Generation("nano-banana", 12, 10, 0, "image", "image/png", "vertex-ai"),
        Generation("upscale", 12, 8, 0, "image", "image/png", "vertex-ai"),
        Generation("ltxv-turbo", 20, 10, 2, "video", "video/mp4", "model-serving", 3, "720p"),
        Generation("ltxv", 65, 20, 6, "video", "video/mp4", "model-serving", 3, "720p"),
        Generation("veo2", 903, 60, 6, "video", "video/mp4", "vertex-ai", 5, "720p"),
        Generation("veo3", 1160, 90, 6, "video", "video/mp4", "vertex-ai", 8, "1080p", ("720p", "1080p")),
        Generation("veo3-fast", 433, 45, 3, "video", "video/mp4", "vertex-ai", 8, "1080p", ("720p", "1080p")),
    )
}
DEFAULT_MODEL = {"images/create": "flux", "images/edit": "flux", "images/upscale": "upscale",
                 "videos/ltx-create": "ltxv-turbo", "videos/veo-create": "veo2"}

TIMING_META = "timing"  # store meta: recorded run times, a list of scenario ``timing`` entries
TIMING_APPLIED_META = "timing_applied"  # store meta: which recorded entry each requested key used (admin state)

ASPECT_SIZES = {"16:9": (640, 360), "9:16": (360, 640), "1:1": (512, 512)}  # images (and thumbnails)
# Video frame sizes by resolution and aspect ratio: the docs give veo2 720p and veo3/veo3-fast 720p or 1080p; the
# LTX models' size is not documented, 720p is our choice (docs/fidelity.md).
VIDEO_SIZES = {
    "720p": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)},
    "1080p": {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)},
}


MAX_VIDEO_SECONDS = 60  # the docs' longest is 30 s; a scenario asking for more gets 60 s, not an hour of video


def model_of(operation: str, params: dict[str, Any]) -> str:
    """The model a generation request runs on: its ``model``, else the operation's documented default."""
    return "upscale" if operation == "images/upscale" else params.get("model") or DEFAULT_MODEL[operation]


def video_seconds(operation: str, model: str, params: dict[str, Any]) -> int:
    """The requested video length: ``duration`` (a string of whole seconds), else the model's default; 0 for
    images."""
    gen = CATALOG.get(model)
    if gen is None or gen.media != "video" or not operation.startswith("videos/"):
        return 0
    try:  # the API admits only the documented strings; a scenario's or a recording's params are not checked so
        seconds = int(params.get("duration") or gen.seconds)
    except (TypeError, ValueError):
        return gen.seconds
    return min(max(seconds, 1), MAX_VIDEO_SECONDS)


def video_resolution(operation: str, model: str, params: dict[str, Any]) -> str | None:
    """The resolution a video job renders at where its model offers a choice (Veo 3: ``resolution``, else 1080p);
    None where the model has one size (it then changes no run time)."""
    gen = CATALOG.get(model)
    if gen is None or gen.media != "video" or not gen.resolutions:
        return None
    requested = params.get("resolution")
    return requested if requested in gen.resolutions else gen.resolution


def video_format(operation: str, params: dict[str, Any]) -> tuple[int, int, int, bool]:
    """What a video job's file is, from its request: (seconds, width, height, has sound).

    Sound exactly when ``audioSFX`` is true (its documented default is false, for every model); the frame size from
    the model's resolution (``resolution`` where the model takes one) and ``aspectRatio`` (default 16:9)."""
    text = {k: v for k, v in params.items() if isinstance(v, str)}  # a scenario's params are not checked: no lists
    model = model_of(operation, text)
    gen = CATALOG.get(model)
    if gen is None or gen.media != "video":  # ... nor models: the operation's own default, else LTX's
        model = DEFAULT_MODEL.get(operation, "ltxv-turbo")
        model = model if CATALOG[model].media == "video" else "ltxv-turbo"
        gen = CATALOG[model]
    sizes = VIDEO_SIZES[video_resolution(operation, model, text) or gen.resolution or "720p"]
    width, height = sizes.get(text.get("aspectRatio") or "16:9", sizes["16:9"])
    audio = params.get("audioSFX") is True or text.get("audioSFX") in ("true", "1")
    return video_seconds(operation, model, params), width, height, audio


def planned_seconds(gen: Generation, video_seconds: float, jitter: float) -> float:
    """Simulated run time; ``jitter`` in [-1, 1] spreads it by +-20%."""
    return (gen.base_seconds + gen.per_video_second * video_seconds) * (1 + 0.2 * jitter)


def timing_entries(timing: Any) -> list[dict[str, Any]]:
    """Recorded run times as a list of scenario ``timing`` entries (an older store kept a dict of
    ``{"<operation> <model>" or "<model>": seconds}``: read as entries too)."""
    if isinstance(timing, dict):
        out = []
        for key, seconds in timing.items():
            operation, _, model = str(key).rpartition(" ")
            out.append({**({"operation": operation} if operation else {}), "model": model, "seconds": seconds})
        return out
    return list(timing or [])


def timing_key(entry: dict[str, Any]) -> str:
    """An entry's key as shown in ``/__admin/state``: ``operation model duration resolution`` (``*`` for any)."""
    duration = entry.get("duration")
    return " ".join((entry.get("operation") or "*", str(entry.get("model")),
                     f"{duration}s" if duration is not None else "*", entry.get("resolution") or "*"))


def closest_timing(timing: Any, operation: str, model: str, duration: int | None,
                   resolution: str | None) -> dict[str, Any] | None:
    """The recorded entry closest to a job's key, or None when none is for its model.

    Closest means, in this order: the same operation (an entry without one applies to every operation), the
    same resolution (one without applies to every resolution), then the nearest requested duration (one without
    applies to every duration, as if it were the same; among equals the one that names the duration wins).
    """
    best: tuple[tuple[int, int, float, int], dict[str, Any]] | None = None
    for entry in timing_entries(timing):
        if entry.get("model") != model or entry.get("operation") not in (None, operation):
            continue
        res = entry.get("resolution")
        rank_res = 0 if res == resolution else 1 if res is None else 2
        rec = entry.get("duration")
        distance = 0.0 if rec is None or duration is None else abs(float(rec) - duration)
        rank = (0 if entry.get("operation") else 1, rank_res, distance, 1 if rec is None else 0)
        if best is None or rank < best[0]:
            best = (rank, entry)
    return best[1] if best else None


def recorded_seconds(gen: Generation, entry: dict[str, Any], video_seconds: float) -> float:
    """A recorded entry's run time for a job of ``video_seconds``: exactly the recorded figure for its own
    duration; for another duration, scaled by the catalog's ratio between the two (a 30 s video of a model
    recorded only at 9 s takes 9 s's time times planned(30 s) / planned(9 s))."""
    seconds = float(entry["seconds"])
    rec = entry.get("duration")
    if rec is None or not video_seconds or float(rec) == video_seconds or not gen.per_video_second:
        return seconds
    return seconds * planned_seconds(gen, video_seconds, 0) / planned_seconds(gen, float(rec), 0)


def run_seconds(gen: Generation, operation: str, video_seconds: float, jitter: float,
                timing: Any = None, resolution: str | None = None) -> float:
    """A job's simulated run time: from the recorded entry closest to its operation, model, duration and
    resolution (a scenario's ``timing``, written by ``ltx-mock proxy --record``) when there is one, else
    ``planned_seconds``."""
    if timing:
        entry = closest_timing(timing, operation, gen.name, int(video_seconds) if video_seconds else None,
                               resolution)
        if entry:
            return recorded_seconds(gen, entry, video_seconds)
    return planned_seconds(gen, video_seconds, jitter)
