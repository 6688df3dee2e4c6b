"""What each generation costs and how long it takes.

Prices come from the docs' pricing table (Standard plan: one credit = $0.00125):
FLUX $0.015 = 12, LTXV Turbo $0.025 = 20, LTXV $0.081 = 65, Veo 2 $1.129 = 903.
The table says N/A for the rest; the values below are our estimates, explained
in docs/fidelity.md. Durations (simulated seconds) resemble what users report.
"""

from __future__ import annotations

from dataclasses import dataclass


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


CATALOG: dict[str, Generation] = {
    g.name: g
    for g in (
        Generation("flux", 12, 12, 0, "image", "image/png", "vertex-ai"),
        Generation("flux-premium", 24, 18, 0, "image", "image/png", "vertex-ai"),
        Generation("nano-banana", 12, 10, 0, "image", "image/png", "vertex-ai"),
        Generation("upscale", 12, 8, 0, "image", "image/png", "vertex-ai"),
        Generation("ltxv-turbo", 20, 10, 2, "video", "video/mp4", "model-serving"),
        Generation("ltxv", 65, 20, 6, "video", "video/mp4", "model-serving"),
        Generation("veo2", 903, 60, 6, "video", "video/mp4", "vertex-ai"),
        Generation("veo3", 1160, 90, 6, "video", "video/mp4", "vertex-ai"),
        Generation("veo3-fast", 433, 45, 3, "video", "video/mp4", "vertex-ai"),
    )
}

TIMING_META = "timing"  # store meta: recorded run times, {"<operation> <model>" or "<model>": seconds}

ASPECT_SIZES = {"16:9": (640, 360), "9:16": (360, 640), "1:1": (512, 512)}


def planned_seconds(gen: Generation, video_seconds: float, jitter: float) -> float:
    """Simulated run time; ``jitter`` in [-1, 1] spreads it by +-20%."""
    return (gen.base_seconds + gen.per_video_second * video_seconds) * (1 + 0.2 * jitter)


def run_seconds(gen: Generation, operation: str, video_seconds: float, jitter: float,
                timing: dict[str, float] | None = None) -> float:
    """A job's simulated run time: the one recorded for its operation and model (a scenario's ``timing``,
    written by ``ltx-mock proxy --record``) when there is one, exactly, else ``planned_seconds``."""
    if timing:
        recorded = timing.get(f"{operation} {gen.name}") or timing.get(gen.name)
        if recorded:
            return float(recorded)
    return planned_seconds(gen, video_seconds, jitter)
