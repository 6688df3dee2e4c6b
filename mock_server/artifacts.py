"""Real bytes for every asset URL the simulator hands out.

Images are rendered with Pillow from the job's seed and prompt (same job, same
bytes), at the requested aspect ratio, so a client's image pipeline meets real
PNG and WebP files. Videos are small H.264/AAC MP4 files made once with ffmpeg
and shipped in ``mock_server/data`` (one per aspect ratio): valid for any MP4
parser or player, and nothing to download or encode at run time.
"""

from __future__ import annotations

import functools
import hashlib
import io
from importlib import resources

from ltxstudio_mock.mock_server.sim.catalog import ASPECT_SIZES
from ltxstudio_mock.mock_server.sim.records import Render

VIDEO_FILES = {"16:9": "sample-16x9.mp4", "9:16": "sample-9x16.mp4", "1:1": "sample-1x1.mp4"}


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


@functools.cache
def video_bytes(aspect: str = "16:9") -> bytes:
    name = VIDEO_FILES.get(aspect, VIDEO_FILES["16:9"])
    return (resources.files("ltxstudio_mock.mock_server") / "data" / name).read_bytes()


def artifact_bytes(job: Render) -> tuple[bytes, str]:
    """The bytes and MIME type of a finished job's artifact."""
    params = job.params or {}
    aspect = params.get("aspectRatio") or "16:9"
    if job.media == "video":
        return video_bytes(aspect), "video/mp4"
    scale = 2 if job.operation == "images/upscale" else 1
    seed_text = f"{job.source or ''}|{params.get('prompt', '')}|{params.get('seed', job.jobId)}"
    return render_image(seed_text, aspect, scale), "image/png"


def thumbnail_bytes(seed_text: str) -> bytes:
    """A small WebP, as LTX Studio's ``thumbnails.large``."""
    return render_image(seed_text, "16:9", 1, "WEBP")
