"""A waveform and its frames played in sync, with its words as captions (a viewer's
page shows each word when its audio plays), then a second utterance interrupted after
a second (barge-in): the demo of the aiortc streamer avhost replaced, on avhost.

    python3 examples/python/sync_and_interrupt.py --url ws://localhost:8080/ingest --token TOKEN
"""
import argparse
import asyncio
import math
import os
import struct
import sys

try:
    from avhost_client import Client  # pip install --no-build-isolation ./clients/python
except ImportError:  # or straight from the checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
    from avhost_client import Client

W, H, FPS, RATE = 64, 64, 25, 24000


def waveform(seconds):
    # float32 in [-1, 1] as a speech model outputs it, converted to s16 with clipping
    # (a plain `(block * 32767).astype(np.int16)` wraps loud samples instead).
    out = bytearray()
    for i in range(int(seconds * RATE)):
        t = i / RATE
        x = 0.6 * math.sin(2 * math.pi * 220 * t) * (0.5 + 0.5 * math.sin(2 * math.pi * 3 * t))
        out += struct.pack("<h", int(max(-1.0, min(1.0, x)) * 32767))
    return bytes(out)


def words(text, seconds):
    # Word timings as a TTS engine reports them: here, the words spread evenly.
    ws = text.split()
    per = seconds * 1000 / len(ws)
    return [(w, round(i * per), round((i + 0.8) * per)) for i, w in enumerate(ws)]


def frames(seconds):
    # BGR frames whose brightness follows the mouth, one per 1/FPS.
    return [bytes([int(127 + 120 * math.sin(2 * math.pi * 3 * i / FPS))]) * (W * H * 3)
            for i in range(int(seconds * FPS))]


async def main(url, token, session):
    c = await Client.connect(url, token)
    s = await c.create(session, video={"width": W, "height": H, "fps": str(FPS), "format": "BGR"},
                       audio={"rate": RATE, "channels": 1, "sample": "s16"})
    # The caption goes right after begin; viewers are told each word as its audio
    # arrives, stamped with the RTP time it plays at.
    first = words("Hello, I am an avatar streamed by avhost.", 2.0)
    await s.play(1, waveform(2.0), frames(2.0), words=first)
    print(f"captioned utterance 1: {len(first)} words")
    await s.next_event("started")
    done = await s.next_event("finished")
    print(f"finished utterance 1: played {done['played_ms']:.0f} ms")

    task = asyncio.create_task(s.play(2, waveform(5.0), frames(5.0),
                                      words=words("This sentence is cut off by the user before it ends.", 5.0)))
    await s.next_event("started")
    await asyncio.sleep(1.0)  # the user speaks over the avatar
    cut = await s.interrupt()
    task.cancel()
    print(f"interrupted utterance 2: the listener heard {cut['played_ms']:.0f} ms")
    await c.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="ws://localhost:8080/ingest")
    ap.add_argument("--token", required=True)
    ap.add_argument("--session", default="demo")
    a = ap.parse_args()
    asyncio.run(main(a.url, a.token, a.session))
