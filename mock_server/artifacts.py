"""Real bytes for every asset URL the simulator hands out.

Images are rendered with Pillow from the job's seed and prompt (same job, same
bytes), at the requested aspect ratio, so a client's image pipeline meets real
PNG and WebP files. Videos are real H.264 MP4 files as the request asked for them
(``sim.catalog.video_format``: duration to the frame, the model's resolution, the
aspect ratio, an AAC track exactly when ``audioSFX`` is true), made on first
download by ``video.py``. Thumbnails have the aspect ratio of what they show.
"""

from __future__ import annotations

import functools
import hashlib
import io

from mock_server.sim.catalog import ASPECT_SIZES, video_format
from mock_server.sim.records import Render
from mock_server.video import Clip, mp4


def _palette(seed_text: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    h = hashlib.sha256(seed_text.encode()).digest()
    return (h[0], h[1], h[2]), (h[3], h[4], h[5])


@functools.lru_cache(maxsize=256)
def render_image(seed_text: str, aspect: str = "16:9", scale: int = 1, fmt: str = "PNG") -> bytes:
    """A gradient with a few shapes, deterministic in ``seed_text``."""
    from PIL import Image, ImageDraw  # imported on first render: Pillow is ~40 ms of start-up

    w, h = ASPECT_SIZES.get(aspect, ASPECT_SIZES["16:9"])
    w, h = w * scale, h * scale
    top, bottom = _palette(seed_text)
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / max(1, h - 1)
        draw.line([(0, y), (w, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    digest = hashlib.md5(seed_text.encode()).digest()
    for i in range(0, 12, 3):
        x, y, r = digest[i] * w // 256, digest[i + 1] * h // 256, 10 + digest[i + 2] % (min(w, h) // 4)
        draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 255, 255), width=max(1, scale * 2))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def video_bytes(seconds: float = 5, width: int = 1280, height: int = 720, audio: bool = False) -> bytes:
    """A real MP4 of that length, frame size and sound (see ``video.py``)."""
    return mp4(Clip(seconds, width, height, audio))


def artifact_bytes(job: Render) -> tuple[bytes, str]:
    """The bytes and MIME type of a finished job's artifact."""
    params = job.params or {}
    if job.media == "video":
        return video_bytes(*video_format(job.operation, params)), "video/mp4"
    scale = 2 if job.operation == "images/upscale" else 1
    seed_text = f"{job.source or ''}|{params.get('prompt', '')}|{params.get('seed', job.jobId)}"
    return render_image(seed_text, aspect_of(job), scale), "image/png"


def aspect_of(job: Render | None) -> str:
    """The aspect ratio of a job's artifact (16:9 when the request named none, as documented)."""
    aspect = (job.params or {}).get("aspectRatio") if job is not None else None
    return aspect if isinstance(aspect, str) and aspect in ASPECT_SIZES else "16:9"  # (a scenario's params: any JSON)


def thumbnail_bytes(seed_text: str, aspect: str = "16:9") -> bytes:
    """A small WebP, as LTX Studio's ``thumbnails.large``, at the aspect ratio of the image or video it shows."""
    return render_image(seed_text, aspect, 1, "WEBP")
