"""Real MP4 clips of a requested length, frame size and sound, made with PyAV (FFmpeg ships in its wheel).

A clip is what a generation request asked for (``sim.catalog.video_format``): its duration to the frame at
24 fps, the model's frame size, and an AAC track exactly when the request asked for sound. Encoding a 30 s
1080p clip frame by frame costs seconds; here it costs milliseconds: a 2-second group of pictures (an IDR frame
of a still picture and its P-frames) is encoded once per frame size with libx264, and its packets are muxed again
and again with shifted timestamps (a shorter tail uses the first packets of the group, which refer only back).
Sound is likewise one steady AAC packet of a quiet 375 Hz tone (8 whole periods per 1,024-sample frame, so
every frame is the same and repeating the packet is seamless). The files stay small (a 30 s 1080p clip with
sound is ~300 KB) and every decoder reads them as ordinary H.264/AAC MP4s.

Clips are made on first download, never at job creation, and kept in a bounded cache keyed by what they are
(duration, width, height, sound), so the API's POST throughput and the server's start-up do not change: PyAV is
imported on first use.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

FPS = 24  # Veo and LTX-Video both render 24 frames a second
GOP_FRAMES = 2 * FPS  # one IDR frame every 2 s: the IDR frame is most of a still clip's bytes
SAMPLE_RATE = 48_000
AAC_FRAME = 1024  # samples per AAC-LC frame
TONE_HZ = 375  # 375 * 1024 / 48000 = 8 whole periods per AAC frame
CLIP_CACHE = 64  # files kept (at most ~300 KB each): the documented options make 46 different clips
FRAME_CACHE = 8  # encoded groups of pictures kept, one per frame size (~15 KB each)


@dataclass(frozen=True, slots=True)
class Clip:
    """What one MP4 file is: its length in seconds, its frame size and whether it carries a sound track."""

    seconds: float
    width: int
    height: int
    audio: bool

    @property
    def frames(self) -> int:
        return max(1, round(self.seconds * FPS))


_LOCK = threading.Lock()  # encoding is cheap but not free: two requests for the same new clip make it once


def mp4(clip: Clip) -> bytes:
    """The MP4 bytes of ``clip`` (made on first request, then cached)."""
    with _LOCK:
        return _mp4(clip)


@functools.lru_cache(maxsize=CLIP_CACHE)
def _mp4(clip: Clip) -> bytes:
    import av  # ~100 ms and the FFmpeg libraries: only when the first video is downloaded

    frames = _gop(clip.width, clip.height)
    sound = _aac_packet() if clip.audio else None
    out_buf = io.BytesIO()
    with av.open(io.BytesIO(frames), "r") as video_in, av.open(out_buf, "w", format="mp4") as out:
        template = video_in.streams.video[0]
        packets = [(bytes(p), bool(p.is_keyframe)) for p in video_in.demux(template) if p.size]
        video = out.add_stream_from_template(template)
        audio = None
        if sound is not None:
            with av.open(io.BytesIO(sound[0]), "r") as audio_in:
                audio = out.add_stream_from_template(audio_in.streams.audio[0])
        per_frame = Fraction(1, FPS)
        for i in range(clip.frames):
            data, key = packets[i % len(packets)]
            out.mux(_packet(av, data, i, 1, per_frame, video, key))
        if audio is not None and sound is not None:
            per_sample = Fraction(1, SAMPLE_RATE)
            # whole AAC frames that fit in the video: the sound ends at most 21 ms (half a video frame) early
            for j in range(clip.frames * SAMPLE_RATE // FPS // AAC_FRAME):
                out.mux(_packet(av, sound[1], j * AAC_FRAME, AAC_FRAME, per_sample, audio, True))
    return out_buf.getvalue()


def _packet(av: Any, data: bytes, pts: int, duration: int, time_base: Fraction, stream: Any, key: bool) -> Any:
    packet = av.Packet(data)
    packet.pts = packet.dts = pts
    packet.duration = duration
    packet.time_base = time_base
    packet.stream = stream
    packet.is_keyframe = key
    return packet


@functools.lru_cache(maxsize=FRAME_CACHE)
def _gop(width: int, height: int) -> bytes:
    """A 2 s MP4 of a still picture (one IDR frame, then P-frames, no B-frames), encoded once per frame size."""
    import av
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (width, height), (28, 58, 104))
    draw = ImageDraw.Draw(picture)
    r = min(width, height) // 5
    draw.ellipse([width // 2 - r, height // 2 - r, width // 2 + r, height // 2 + r], fill=(232, 178, 64))
    draw.rectangle([0, height - height // 10, width, height], fill=(18, 18, 18))
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "45", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = GOP_FRAMES
        frame = av.VideoFrame.from_image(picture).reformat(format="yuv420p")
        frame.time_base = Fraction(1, FPS)
        for i in range(GOP_FRAMES):
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


@functools.cache
def _aac_packet() -> tuple[bytes, bytes]:
    """An MP4 holding the AAC stream's parameters, and one steady-state packet of the tone."""
    import av

    tone = b"".join(
        round(3000 * math.sin(2 * math.pi * TONE_HZ * i / SAMPLE_RATE)).to_bytes(2, "little", signed=True)
        for i in range(AAC_FRAME))
    buf = io.BytesIO()
    packets: list[bytes] = []
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        stream.codec_context.bit_rate = 16_000
        for k in range(12):
            frame = av.AudioFrame(format="s16", layout="mono", samples=AAC_FRAME)
            frame.planes[0].update(tone)
            frame.sample_rate = SAMPLE_RATE
            frame.pts = k * AAC_FRAME
            frame.time_base = Fraction(1, SAMPLE_RATE)
            for packet in stream.encode(frame):
                packets.append(bytes(packet))
                out.mux(packet)
        out.mux(stream.encode(None))
    return buf.getvalue(), packets[len(packets) // 2]  # past the encoder's start-up: a steady frame
