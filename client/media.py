"""What a downloaded file is, read from the file itself: a video's duration, frame size and sound, an image's size.

``ltx-mock client`` prints it after a download so that a user sees what was made (a clip of the asked length and
resolution, with or without sound) without opening it. PyAV and Pillow are imported only when a file is described.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Media:
    """A media file's measurements (``seconds``, ``fps`` and ``audio`` for videos only)."""

    kind: str  # "video" or "image"
    width: int
    height: int
    seconds: float | None = None
    fps: float | None = None
    audio: bool | None = None

    def __str__(self) -> str:
        if self.kind == "image":
            return f"image {self.width}x{self.height}"
        sound = "with sound" if self.audio else "no sound"
        return f"video {self.seconds:.2f} s, {self.width}x{self.height}, {self.fps:g} fps, {sound}"


def describe(path: str | Path) -> Media | None:
    """The measurements of the video or image at ``path``; None when it is neither (or unreadable)."""
    path = Path(path)
    if path.suffix.lower() in {".mp4", ".mov", ".webm", ".mkv", ".m4v"}:
        return _video(path)
    return _image(path)


def _video(path: Path) -> Media | None:
    import av  # FFmpeg's libraries: loaded only to describe a video

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            video = container.streams.video[0]
            end = 0.0
            for packet in container.demux(video):  # the last frame's end, as a player counts the length
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            rate = video.average_rate or video.guessed_rate
            return Media("video", video.width, video.height, end, float(rate) if rate else 0.0,
                         bool(container.streams.audio))
    except (av.FFmpegError, OSError):
        return None


def _image(path: Path) -> Media | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return Media("image", img.width, img.height)
    except (UnidentifiedImageError, OSError):
        return None
