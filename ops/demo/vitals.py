#!/usr/bin/env python3
"""Draws a synthetic vitals monitor (ECG, pleth/SpO2 and respiration traces sweeping left to
right) as raw rgb24 frames on stdout, for make-clips.sh to encode. Standard library only.

Every trace is a periodic function of time whose period divides the clip length, and the sweep
takes half of it, so the last frame leads into the first: the clip loops without a jump. The
numbers and the SYNTHETIC label are drawn by ffmpeg (drawtext) on top.
"""

import math
import sys

WIDTH, HEIGHT = 640, 360
TRACE_WIDTH = 480  # the numbers panel takes the rest
BEAT = 0.8  # seconds: 75 beats a minute; divides the clip length
BREATH = 4.0  # seconds: 15 breaths a minute
SWEEP = 4.0  # seconds for the cursor to cross the traces
GAP = 14  # erased pixels ahead of the cursor, as a monitor does

BACKGROUND = (6, 10, 14)
GRID = (18, 32, 30)


def gauss(p: float, centre: float, width: float, amplitude: float) -> float:
    return amplitude * math.exp(-(((p - centre) / width) ** 2))


def ecg(t: float) -> float:
    p = (t % BEAT) / BEAT
    return (
        gauss(p, 0.18, 0.035, 0.12)  # P
        - gauss(p, 0.37, 0.012, 0.12)  # Q
        + gauss(p, 0.40, 0.014, 1.0)  # R
        - gauss(p, 0.43, 0.014, 0.28)  # S
        + gauss(p, 0.66, 0.06, 0.3)  # T
    )


def pleth(t: float) -> float:
    p = ((t - 0.15) % BEAT) / BEAT
    return gauss(p, 0.3, 0.1, 1.0) + gauss(p, 0.58, 0.09, 0.35)


def resp(t: float) -> float:
    return 0.5 + 0.5 * math.sin(2 * math.pi * t / BREATH)


# (top, height, colour, function of time, its lowest value below zero)
TRACES = [
    (44, 100, (60, 230, 90), ecg, 0.2),
    (164, 80, (60, 200, 235), pleth, 0.0),
    (262, 70, (235, 210, 60), resp, 0.0),
]


def background() -> bytearray:
    row = bytes(BACKGROUND) * WIDTH
    frame = bytearray(row * HEIGHT)
    for y in range(36, HEIGHT, 20):
        for x in range(0, TRACE_WIDTH):
            i = (y * WIDTH + x) * 3
            frame[i : i + 3] = bytes(GRID)
    for x in range(0, TRACE_WIDTH, 20):
        for y in range(36, HEIGHT):
            i = (y * WIDTH + x) * 3
            frame[i : i + 3] = bytes(GRID)
    return frame


def column_time(t: float, x: int) -> float:
    """The time the cursor last passed column x, at time t."""
    cursor = (t % SWEEP) / SWEEP * TRACE_WIDTH
    behind = (cursor - x) % TRACE_WIDTH
    return t - behind / TRACE_WIDTH * SWEEP


def draw(frame: bytearray, t: float) -> None:
    cursor = int((t % SWEEP) / SWEEP * TRACE_WIDTH)
    for top, height, colour, function, low in TRACES:
        pixel = bytes(colour)
        previous = None
        for x in range(TRACE_WIDTH):
            if 0 < (x - cursor) % TRACE_WIDTH <= GAP:
                previous = None
                continue
            value = function(column_time(t, x))
            y = top + height - 4 - int((value + low) / (1.0 + low) * (height - 8))
            lo, hi = (y, y) if previous is None else (min(y, previous), max(y, previous))
            for yy in range(lo, hi + 2):
                i = (yy * WIDTH + x) * 3
                frame[i : i + 3] = pixel
            previous = y


def main() -> None:
    seconds, fps = float(sys.argv[1]), int(sys.argv[2])
    template = background()
    out = sys.stdout.buffer
    for n in range(round(seconds * fps)):
        frame = bytearray(template)
        draw(frame, n / fps)
        out.write(frame)
    out.flush()


if __name__ == "__main__":
    main()
