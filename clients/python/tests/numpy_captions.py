"""Drives a live avhost with numpy arrays and captions through the installed package:
    python numpy_captions.py URL TOKEN SESSION
Prints what avhost reported; a refusal raises."""
import asyncio
import sys

import numpy as np

from avhost_client import Client

W, H, FPS, RATE = 32, 16, 25, 24000


async def main(url, token, session):
    c = await Client.connect(url, token)
    s = await c.create(session, video={"width": W, "height": H, "fps": str(FPS), "format": "BGR"},
                       audio={"rate": RATE, "channels": 1, "sample": "s16"})
    t = np.arange(RATE) / RATE
    wave = (1.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # loud: clipped, not wrapped
    frames = [np.full((H, W, 3), i * 10, dtype=np.uint8) for i in range(FPS)]
    await s.play(1, wave, frames, words=[("numpy", 0, 400), ("works", 500, 900)])
    await s.next_event("started")
    done = await s.next_event("finished")
    print(f"numpy utterance: played {done['played_ms']:.0f} ms")
    await c.close()


asyncio.run(main(*sys.argv[1:4]))
