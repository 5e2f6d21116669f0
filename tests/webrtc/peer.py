#!/usr/bin/env python3
"""An independent WebRTC peer (aiortc) for the SFU tests: it publishes a synthetic pattern over
WHIP or subscribes over WHEP, and reports what happens as JSON lines on stdout.

Every frame it publishes carries, in big black-and-white blocks that survive lossy coding, a
per-source tag and a frame counter; a subscriber reads them back by sampling block means, so a
test can tell sources apart and see the picture advance.

    peer.py publish   --url URL/whip?source=endoscope --token T [--seconds N]
    peer.py subscribe --url URL/whep --token T [--slots N] [--seconds N]
    peer.py publish   --url ... --token T --probe        # print the WHIP status and stop
    peer.py publish   --url ... --token T --audio        # a 440 Hz tone on an Opus track too
    peer.py inspect   --media URL_OR_PATH                # decode a recording, read the pattern
    peer.py publish   --url ... --token T --ice-server turn:H:P?transport=udp \
                      --ice-username U --ice-credential C   # through a TURN server

Stdout carries one JSON object a line (`{"event": ...}`); logs go to stderr. Stdin takes JSON
commands, one a line: `{"cmd":"quit"}` (DELETE the resource, close, exit 0),
`{"cmd":"drop"}` (close the peer connection without DELETE), `{"cmd":"vanish"}` (exit at once,
sending nothing: the server sees the peer go silent), `{"cmd":"stats"}`; a publisher also takes
`{"cmd":"pause"}` (stop sending video frames, the connection staying up: the source stalls) and
`{"cmd":"resume"}`. Without `--seconds`, stdin closing means quit.

Exit codes: 0 done, 2 an HTTP error, 3 the connection failed or timed out, 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from typing import Any, Optional

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RtpRouter

EXIT_HTTP = 2
EXIT_CONNECTION = 3


def _route_by_mid_first(router: RtpRouter, packet):
    """BUNDLE demultiplexing as RFC 8843 §9.2 (and browsers) do it: by the MID header extension
    first, then aiortc's own SSRC/payload-type rules. aiortc alone routes by SSRC and payload
    type only, so with several video slots of one codec it drops every packet whose SSRC the
    answer did not announce (`a=ssrc`), which a browser would play."""
    mid = getattr(packet.extensions, "mid", None)
    receiver = router.mid_table.get(mid) if mid is not None else None
    if receiver is not None:
        router.ssrc_table[packet.ssrc] = receiver
        return receiver
    return _route_by_ssrc(router, packet)


_route_by_ssrc = RtpRouter.route_rtp
RtpRouter.route_rtp = _route_by_mid_first

# --- the pattern -----------------------------------------------------------------------------
#
# The frame is a grid of 8 columns x 4 rows of blocks, each dark or bright in luma:
#   row 0: the source tag (8 bits, MSB left)
#   rows 1-2: the frame counter, Gray-coded (16 bits), so one block changes a frame
#   row 3: check = tag ^ gray_hi ^ gray_lo ^ 0x5A (one more block a frame)
# Reading samples the middle half of each block; a mean in the grey zone, or a failed check,
# makes the frame unreadable rather than misread.

COLS, ROWS = 8, 4
DARK, BRIGHT = 40, 210
CHECK_SALT = 0x5A


def gray(n: int) -> int:
    return n ^ (n >> 1)


def ungray(g: int) -> int:
    n = 0
    while g:
        n ^= g
        g >>= 1
    return n


def tag_of(source: str) -> int:
    """The default tag of a source label: a byte of its CRC-32, never 0 (0 reads as blank)."""
    return (zlib.crc32(source.encode()) % 255) + 1


def pattern_bits(tag: int, counter: int) -> list[int]:
    g = gray(counter & 0xFFFF)
    hi, lo = g >> 8, g & 0xFF
    check = tag ^ hi ^ lo ^ CHECK_SALT
    bits = []
    for byte in (tag, hi, lo, check):
        bits.extend((byte >> (7 - i)) & 1 for i in range(8))
    return bits


def tint(tag: int) -> tuple[int, int]:
    """A chroma (U, V) for the bright blocks, so that a person can tell sources apart too."""
    hue = (tag * 97) % 360
    angle = np.deg2rad(hue)
    return int(128 + 60 * np.cos(angle)), int(128 + 60 * np.sin(angle))


def draw(tag: int, counter: int, width: int, height: int) -> av.VideoFrame:
    """One yuv420p frame showing `tag` and `counter`."""
    y = np.full((height, width), DARK, dtype=np.uint8)
    u = np.full((height // 2, width // 2), 128, dtype=np.uint8)
    v = np.full((height // 2, width // 2), 128, dtype=np.uint8)
    tu, tv = tint(tag)
    for index, bit in enumerate(pattern_bits(tag, counter)):
        if not bit:
            continue
        row, col = divmod(index, COLS)
        y0, y1 = row * height // ROWS, (row + 1) * height // ROWS
        x0, x1 = col * width // COLS, (col + 1) * width // COLS
        y[y0:y1, x0:x1] = BRIGHT
        u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = tu
        v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = tv
    planes = np.concatenate([y, u.reshape(-1, width), v.reshape(-1, width)])
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def read_pattern(frame: av.VideoFrame) -> Optional[tuple[int, int]]:
    """(tag, counter) shown by a decoded frame, or None when it cannot be read with confidence."""
    luma = frame.to_ndarray(format="gray")
    height, width = luma.shape
    bits = []
    for index in range(COLS * ROWS):
        row, col = divmod(index, COLS)
        y0, y1 = row * height // ROWS, (row + 1) * height // ROWS
        x0, x1 = col * width // COLS, (col + 1) * width // COLS
        dy, dx = (y1 - y0) // 4, (x1 - x0) // 4
        mean = float(luma[y0 + dy : y1 - dy, x0 + dx : x1 - dx].mean())
        if abs(mean - (DARK + BRIGHT) / 2) < (BRIGHT - DARK) / 4:
            return None
        bits.append(1 if mean > (DARK + BRIGHT) / 2 else 0)
    tag, hi, lo, check = (
        int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, 32, 8)
    )
    if tag == 0 or check != tag ^ hi ^ lo ^ CHECK_SALT:
        return None
    return tag, ungray((hi << 8) | lo)


# --- output and input --------------------------------------------------------------------------


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def fail(code: int, message: str, **fields: Any) -> None:
    emit("error", message=message, **fields)
    print(f"peer.py: {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


def stdin_commands(loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
    """A queue of the commands read from stdin (dicts); `None` once stdin closes."""
    queue: asyncio.Queue = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                command = json.loads(line)
            except json.JSONDecodeError:
                command = {"cmd": line}
            loop.call_soon_threadsafe(queue.put_nowait, command)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return queue


# --- HTTP (WHIP/WHEP) --------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def _http(method: str, url: str, token: str, body: Optional[str]) -> Reply:
    data = body.encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read().decode(errors="replace"),
            )
    except urllib.error.HTTPError as error:
        return Reply(
            error.code,
            {k.lower(): v for k, v in error.headers.items()},
            error.read().decode(errors="replace"),
        )


async def http(method: str, url: str, token: str, body: Optional[str] = None) -> Reply:
    try:
        return await asyncio.to_thread(_http, method, url, token, body)
    except (urllib.error.URLError, OSError) as error:
        fail(EXIT_HTTP, f"{method} {url}: {error}")
        raise  # unreachable: fail exits


def error_fields(reply: Reply) -> dict[str, Any]:
    try:
        body: Any = json.loads(reply.body)
    except json.JSONDecodeError:
        body = reply.body
    return {"status": reply.status, "body": body}


async def offer_answer(
    pc: RTCPeerConnection, url: str, token: str, probe: bool
) -> Optional[str]:
    """Sends the offer (ICE gathered whole: no trickle) and applies the answer; the resource URL."""
    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)
    reply = await http("POST", url, token, pc.localDescription.sdp)
    location = reply.headers.get("location")
    resource = urllib.parse.urljoin(url, location) if location else None
    if probe:
        emit("http", **error_fields(reply), location=resource)
        if reply.status == 201 and resource:
            await http("DELETE", resource, token)
        return None
    if reply.status != 201:
        fail(EXIT_HTTP, f"POST {url} answered {reply.status}: {reply.body}", **error_fields(reply))
    if not resource:
        fail(EXIT_HTTP, f"POST {url} answered 201 without a Location")
    content_type = reply.headers.get("content-type", "")
    if not content_type.startswith("application/sdp"):
        fail(EXIT_HTTP, f"POST {url} answered 201 with Content-Type {content_type!r}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.body, type="answer"))
    return resource


def ice_servers(args: argparse.Namespace) -> list:
    """The ICE servers of `--ice-server` (a TURN server with `--ice-username`/`--ice-credential`,
    as `participants:join` hands them out); none by default."""
    return [
        RTCIceServer(urls=url, username=args.ice_username, credential=args.ice_credential)
        for url in args.ice_server
    ]


def local_candidate_types(pc: RTCPeerConnection) -> list:
    """The types (host, srflx, relay) of the local candidates ICE nominated: `relay` proves the
    media went through TURN. Reads aioice's state, which aiortc does not expose."""
    types = set()
    for transceiver in pc.getTransceivers():
        dtls = getattr(transceiver.sender, "transport", None) or getattr(transceiver.receiver, "transport", None)
        connection = getattr(getattr(dtls, "transport", None), "_connection", None)
        for pair in (getattr(connection, "_nominated", None) or {}).values():
            types.add(pair.local_candidate.type)
    return sorted(types)


async def wait_connected(pc: RTCPeerConnection, timeout: float, started: float) -> None:
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def _changed() -> None:
        emit("connection", state=pc.connectionState)
        if pc.connectionState == "connected":
            connected.set()

    if pc.connectionState == "connected":
        connected.set()
    try:
        await asyncio.wait_for(connected.wait(), timeout)
    except asyncio.TimeoutError:
        fail(
            EXIT_CONNECTION,
            f"not connected after {timeout} s (state {pc.connectionState})",
        )
    emit(
        "connected",
        ms=round((time.monotonic() - started) * 1000),
        local_candidate_types=local_candidate_types(pc),
    )


async def delete(resource: str, token: str) -> None:
    reply = await http("DELETE", resource, token)
    emit("deleted", **error_fields(reply))
    if reply.status != 200:
        fail(EXIT_HTTP, f"DELETE {resource} answered {reply.status}: {reply.body}")


async def run_until_told(
    commands: asyncio.Queue, seconds: Optional[float], on_stats, others=None
) -> str:
    """Waits for quit/drop/vanish (or the time limit, or stdin closing); what to do then.
    `others` maps further command names to what they do."""
    others = others or {}
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            command = await asyncio.wait_for(commands.get(), timeout)
        except asyncio.TimeoutError:
            return "quit"
        if command is None:
            if seconds is None:
                return "quit"
            continue
        name = command.get("cmd") if isinstance(command, dict) else None
        if name in ("quit", "drop", "vanish"):
            return name
        if name == "stats":
            on_stats()
        elif name in others:
            others[name]()
        else:
            emit("error", message=f"unknown command {command!r}")


async def finish(action: str, pc: RTCPeerConnection, resource: str, token: str) -> None:
    if action == "vanish":
        emit("vanished")
        os._exit(0)
    if action == "quit":
        await delete(resource, token)
    await pc.close()
    emit("closed")


# --- publish -------------------------------------------------------------------------------------


class PatternTrack(MediaStreamTrack):
    """A video track of frames showing `tag` and a counter, paced at `fps`."""

    kind = "video"

    def __init__(self, tag: int, width: int, height: int, fps: float) -> None:
        super().__init__()
        self.tag, self.width, self.height, self.fps = tag, width, height, fps
        self.count = 0
        self._start: Optional[float] = None
        self._running = asyncio.Event()
        self._running.set()

    def pause(self) -> None:
        """Stops producing frames (nothing is sent; the connection stays up)."""
        self._running.clear()
        emit("paused", frame=self.count)

    def resume(self) -> None:
        """Produces frames again, paced from now."""
        if not self._running.is_set():
            self._start = time.monotonic() - self.count / self.fps
            self._running.set()
        emit("resumed", frame=self.count)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._running.wait()
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.count / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = draw(self.tag, self.count, self.width, self.height)
        frame.pts = round(self.count * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.count += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """An audio track of a 440 Hz tone, 48 kHz mono, in 20 ms frames paced in real time."""

    kind = "audio"
    RATE = 48000
    SAMPLES = 960

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self._start: Optional[float] = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.count * self.SAMPLES / self.RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(self.SAMPLES) + self.count * self.SAMPLES) / self.RATE
        samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self.RATE
        frame.pts = self.count * self.SAMPLES
        frame.time_base = fractions.Fraction(1, self.RATE)
        self.count += 1
        return frame


def prefer(transceiver, kind: str, codec: Optional[str]) -> None:
    """Offers only `codec` (and its retransmission format) when given."""
    if codec is None:
        return
    wanted = f"{kind}/{codec}".lower()
    codecs = [
        c
        for c in RTCRtpSender.getCapabilities(kind).codecs
        if c.mimeType.lower() in (wanted, f"{kind}/rtx")
    ]
    transceiver.setCodecPreferences(codecs)


async def publish(args: argparse.Namespace) -> None:
    started = time.monotonic()
    source = urllib.parse.parse_qs(urllib.parse.urlparse(args.url).query).get("source", [""])[0]
    tag = args.tag if args.tag is not None else tag_of(source)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers(args)))
    track = PatternTrack(tag, args.width, args.height, args.fps)
    transceiver = pc.addTransceiver(track, direction="sendonly")
    prefer(transceiver, "video", args.codec)
    tone = ToneTrack() if args.audio else None
    if tone is not None:
        pc.addTransceiver(tone, direction="sendonly")

    keyframe_requests = 0
    sender = transceiver.sender
    original = getattr(sender, "_send_keyframe", None)
    if original is not None:
        # Counts the server's PLI/FIR: a switch must make the new source send a keyframe.
        def counted() -> None:
            nonlocal keyframe_requests
            keyframe_requests += 1
            emit("keyframe_requested", n=keyframe_requests, frame=track.count)
            original()

        sender._send_keyframe = counted

    commands = stdin_commands(asyncio.get_running_loop())
    resource = await offer_answer(pc, args.url, args.token, args.probe)
    if resource is None:
        await pc.close()
        return
    emit("published", location=resource, source=source, source_tag=tag)
    await wait_connected(pc, args.connect_timeout, started)

    def stats() -> None:
        emit(
            "stats",
            frames=track.count,
            audio_frames=tone.count if tone is not None else 0,
            keyframe_requests=keyframe_requests,
            state=pc.connectionState,
        )

    action = await run_until_told(
        commands, args.seconds, stats, {"pause": track.pause, "resume": track.resume}
    )
    if args.no_delete and action == "quit":
        action = "drop"
    stats()
    await finish(action, pc, resource, args.token)


# --- subscribe -----------------------------------------------------------------------------------


class Slot:
    """What one video transceiver of a subscriber has decoded."""

    def __init__(self, index: int, every: int) -> None:
        self.index, self.every = index, every
        self.frames = 0
        self.unreadable = 0
        self.last: Optional[tuple[Any, Any, Any]] = None

    def saw(self, frame: av.VideoFrame, started: float) -> None:
        read = read_pattern(frame)
        tag, counter = read if read else (None, None)
        now = time.monotonic()
        fields = dict(
            slot=self.index,
            width=frame.width,
            height=frame.height,
            source_tag=tag,
            counter=counter,
            n=self.frames,
            t=round(now, 4),
        )
        if read is None:
            self.unreadable += 1
        if self.frames == 0:
            emit("first_frame", since_start_ms=round((now - started) * 1000), **fields)
        # Every `every`th frame, and at once when the source or size changes.
        key = (tag, frame.width, frame.height)
        changed = read is not None and self.last is not None and key != self.last
        if self.frames % self.every == 0 or changed:
            emit("frame", **fields)
        if read is not None:
            self.last = key
        self.frames += 1


async def consume(track: MediaStreamTrack, slot: Slot, started: float) -> None:
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            emit("track_ended", slot=slot.index, frames=slot.frames)
            return
        slot.saw(frame, started)


async def subscribe(args: argparse.Namespace) -> None:
    started = time.monotonic()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers(args)))
    transceivers = [pc.addTransceiver("video", direction="recvonly") for _ in range(args.slots)]
    for transceiver in transceivers:
        prefer(transceiver, "video", args.codec)
    if args.audio:
        pc.addTransceiver("audio", direction="recvonly")
    slots = [Slot(i, args.every) for i in range(args.slots)]
    tasks = []

    @pc.on("track")
    def _track(track: MediaStreamTrack) -> None:
        if track.kind != "video":
            return
        for index, transceiver in enumerate(transceivers):
            if transceiver.receiver.track is track:
                emit("track", slot=index, mid=transceiver.mid)
                tasks.append(asyncio.ensure_future(consume(track, slots[index], started)))
                return

    commands = stdin_commands(asyncio.get_running_loop())
    resource = await offer_answer(pc, args.url, args.token, args.probe)
    if resource is None:
        await pc.close()
        return
    emit("subscribed", location=resource, slots=args.slots, mids=[t.mid for t in transceivers])
    await wait_connected(pc, args.connect_timeout, started)

    def stats() -> None:
        emit(
            "stats",
            slots=[
                {"slot": s.index, "frames": s.frames, "unreadable": s.unreadable,
                 "source_tag": s.last[0] if s.last else None}
                for s in slots
            ],
            state=pc.connectionState,
        )

    action = await run_until_told(commands, args.seconds, stats)
    stats()
    for task in tasks:
        task.cancel()
    await finish(action, pc, resource, args.token)


# --- inspect a recording ------------------------------------------------------------------------


def inspect(args: argparse.Namespace) -> None:
    """Decodes a recording (a file or an http URL, as a <video> would fetch it) and reports its
    streams, its duration and the pattern counters its frames show."""
    with av.open(args.media, timeout=30) as container:
        streams = [
            {"kind": s.type, "codec": s.codec_context.name}
            for s in container.streams
            if s.type in ("audio", "video")
        ]
        duration_ms = round(container.duration / 1000) if container.duration else None
        counters: list[int] = []
        tags: dict[int, int] = {}
        frames = unreadable = 0
        audio_packets = 0
        first_pts: Optional[float] = None
        last_pts: Optional[float] = None
        wanted = [s for s in container.streams if s.type in ("audio", "video")]
        for packet in container.demux(*wanted):
            if packet.stream.type == "audio":
                audio_packets += 1 if packet.size else 0
                continue
            for frame in packet.decode():
                frames += 1
                if frame.time is not None:
                    first_pts = frame.time if first_pts is None else min(first_pts, frame.time)
                    last_pts = frame.time if last_pts is None else max(last_pts, frame.time)
                read = read_pattern(frame)
                if read is None:
                    unreadable += 1
                    continue
                tag, counter = read
                tags[tag] = tags.get(tag, 0) + 1
                counters.append(counter)
    seen = sorted(set(counters))
    span = (seen[-1] - seen[0] + 1) if seen else 0
    emit(
        "inspected",
        streams=streams,
        duration_ms=duration_ms,
        video_frames=frames,
        unreadable=unreadable,
        audio_packets=audio_packets,
        tags={str(k): v for k, v in tags.items()},
        first_counter=seen[0] if seen else None,
        last_counter=seen[-1] if seen else None,
        distinct_counters=len(seen),
        missing_counters=span - len(seen),
        video_span_ms=round((last_pts - first_pts) * 1000) if first_pts is not None and last_pts is not None else None,
    )


# --- command line --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", required=True, help="the WHIP/WHEP endpoint")
        p.add_argument("--token", required=True, help="the SFU bearer token")
        p.add_argument("--seconds", type=float, help="stop after this long (default: when stdin closes)")
        p.add_argument("--codec", default="VP8", help="offer only this video codec (VP8, H264; 'any': all)")
        p.add_argument("--connect-timeout", type=float, default=10.0)
        p.add_argument("--probe", action="store_true", help="print the POST's status as {\"event\":\"http\"} and stop")
        p.add_argument("--verbose", action="store_true", help="aiortc's debug log on stderr")
        p.add_argument("--ice-server", action="append", default=[], help="a STUN/TURN URL (repeatable)")
        p.add_argument("--ice-username", help="the TURN username (from participants:join)")
        p.add_argument("--ice-credential", help="the TURN credential (from participants:join)")

    p = commands.add_parser("publish", help="send a pattern over WHIP")
    common(p)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--tag", type=int, help="the source tag shown (1-255; default: from ?source=)")
    p.add_argument("--no-delete", action="store_true", help="on quit, close the peer connection without DELETE")
    p.add_argument("--audio", action="store_true", help="publish a 440 Hz tone on an Opus track too")

    s = commands.add_parser("subscribe", help="receive over WHEP and report decoded frames")
    common(s)
    s.add_argument("--slots", type=int, default=1, help="video transceivers offered")
    s.add_argument("--audio", action="store_true", help="offer a recvonly audio transceiver too")
    s.add_argument("--every", type=int, default=10, help="report every Nth frame of a slot")

    i = commands.add_parser("inspect", help="decode a recording and report the pattern it shows")
    i.add_argument("--media", required=True, help="a file path or an http(s) URL")
    i.add_argument("--verbose", action="store_true", help="debug log on stderr")

    args = parser.parse_args()
    if args.command == "inspect":
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
        try:
            inspect(args)
        except Exception as error:
            logging.exception("inspect failed")
            fail(1, f"{type(error).__name__}: {error}")
        sys.stdout.flush()
        os._exit(0)
    if args.codec.lower() == "any":
        args.codec = None
    if getattr(args, "tag", None) is not None and not 1 <= args.tag <= 255:
        parser.error("--tag must be 1-255")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        asyncio.run(publish(args) if args.command == "publish" else subscribe(args))
    except KeyboardInterrupt:
        pass
    except Exception as error:  # a clear line for the test log, then the trace on stderr
        logging.exception("peer failed")
        fail(1, f"{type(error).__name__}: {error}")
    sys.stdout.flush()
    # The stdin thread may still block on read: leave without waiting for it.
    os._exit(0)


if __name__ == "__main__":
    main()
