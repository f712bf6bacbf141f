"""A small client for avhost's ingest API (docs/ingest.md).

Standard library plus websockets (Debian's python3-websockets 10, or 14+); numpy
arrays are taken where numpy is installed, never required. One persistent WebSocket
carries any number of sessions; never open a connection per utterance.
"""
import asyncio
import inspect
import json
import struct

import websockets

KIND_AUDIO, KIND_FRAME, KIND_IDLE = 1, 2, 3

# Caption bounds (docs/ingest.md, Captions): checked here so a mistake fails at the call.
MAX_CAPTION_WORDS, MAX_WORD_BYTES, MAX_OFFSET_MS = 256, 256, 3_600_000


def _header_kwarg():
    # websockets 14 renamed connect()'s extra_headers to additional_headers (its new
    # asyncio implementation); Debian 12 ships 10.4. Ask the signature which it takes.
    try:
        params = inspect.signature(websockets.connect).parameters
    except (TypeError, ValueError):
        params = {}
    return "additional_headers" if "additional_headers" in params else "extra_headers"


def caption_words(words, after=-1):
    """Check words — (text, start_ms, end_ms) tuples or {"text", "start_ms", "end_ms"}
    dicts — against avhost's caption bounds and return them as dicts."""
    out = []
    for i, w in enumerate(words):
        text, start, end = (w["text"], w["start_ms"], w["end_ms"]) if isinstance(w, dict) else w
        if not isinstance(text, str) or not 1 <= len(text.encode()) <= MAX_WORD_BYTES:
            raise ValueError(f"word {i}: text must be 1-{MAX_WORD_BYTES} bytes of UTF-8")
        if any(ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 or 0x202a <= ord(ch) <= 0x202e or 0x2066 <= ord(ch) <= 0x2069
               for ch in text):
            raise ValueError(f"word {i}: control or bidi character in text")
        start, end = int(start), int(end)
        if not 0 <= start <= end <= MAX_OFFSET_MS or start < after:
            raise ValueError(f"word {i}: want {max(after, 0)} <= start_ms <= end_ms <= {MAX_OFFSET_MS}")
        after = start
        out.append({"text": text, "start_ms": start, "end_ms": end})
    return out


def pcm_bytes(pcm):
    """s16 little-endian bytes of pcm: bytes as they are, or a numpy array of float
    (clipped to [-1, 1]: a plain astype(int16) would wrap loud samples) or int16."""
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        return bytes(pcm)
    dtype = getattr(pcm, "dtype", None)
    if dtype is None:
        raise TypeError("audio must be bytes or a numpy array")
    if dtype.kind == "f":
        import numpy as np
        if not np.isfinite(pcm).all():
            raise ValueError("audio has NaN or Inf")
        return (np.clip(pcm, -1.0, 1.0) * 32767).round().astype("<i2").tobytes()
    if dtype.kind == "i" and dtype.itemsize == 2:
        return pcm.astype("<i2", copy=False).tobytes()
    raise TypeError(f"audio array must be float or int16, not {dtype}")


def frame_bytes(frame):
    """Bytes of a frame: bytes as they are, or a numpy uint8 array (H×W×3 for BGR/RGB)."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return bytes(frame)
    dtype = getattr(frame, "dtype", None)
    if dtype is None or dtype.kind != "u" or dtype.itemsize != 1:
        raise TypeError("a frame must be bytes or a uint8 numpy array")
    return frame.tobytes()  # C order whatever the array's strides


def binary(kind, session, utterance, index, payload):
    sid = session.encode()
    return struct.pack("<BB", kind, len(sid)) + sid + struct.pack("<IQ", utterance, index) + payload


class AvhostError(Exception):
    def __init__(self, event):
        super().__init__(f"{event.get('code')}: {event.get('error')}")
        self.event = event


class Client:
    """Connect with `await Client.connect(url, token)`."""

    def __init__(self, ws):
        self.ws = ws
        self.events = {}  # session -> asyncio.Queue of events
        self.waiters = {}  # (session, type) -> Future
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url, token):
        headers = {_header_kwarg(): {"Authorization": f"Bearer {token}"}}
        ws = await websockets.connect(url, max_size=None, ping_interval=20, **headers)
        return cls(ws)

    async def _read(self):
        async for raw in self.ws:
            ev = json.loads(raw)
            s = ev.get("session", "")
            for key in ((s, ev["type"]),) + (tuple(k for k in self.waiters if k[0] == s) if ev["type"] == "error" else ()):
                fut = self.waiters.pop(key, None)
                if fut and not fut.done():
                    fut.set_result(ev)
                    break
            else:
                self.events.setdefault(s, asyncio.Queue()).put_nowait(ev)

    async def _request(self, msg, want, timeout=10):
        fut = asyncio.get_running_loop().create_future()
        self.waiters[(msg["session"], want)] = fut
        await self.ws.send(json.dumps(msg))
        ev = await asyncio.wait_for(fut, timeout)
        if ev["type"] == "error":
            raise AvhostError(ev)
        return ev

    async def create(self, session, video=None, audio=None):
        msg = {"type": "create", "session": session}
        if video:
            msg["video"] = video
        if audio:
            msg["audio"] = audio
        ev = await self._request(msg, "created")
        self.events.setdefault(session, asyncio.Queue())
        return Session(self, session, ev)

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


class Session:
    def __init__(self, client, name, created):
        self.c, self.name = client, name
        self.token = created["token"]
        self.audio, self.video = created["audio"], created["video"]

    async def next_event(self, *types, timeout=10):
        """Wait for the next event of one of types (errors raise)."""
        q = self.c.events[self.name]
        while True:
            ev = await asyncio.wait_for(q.get(), timeout)
            if ev["type"] == "error":
                raise AvhostError(ev)
            if ev["type"] in types:
                return ev

    async def begin(self, utt, frames=-1):
        await self.c.ws.send(json.dumps({"type": "begin", "session": self.name, "utterance": utt, "frames": frames}))

    async def send_audio(self, utt, pcm):
        """Send a PCM slice: s16 bytes in the session's format, or a numpy array."""
        await self.c.ws.send(binary(KIND_AUDIO, self.name, utt, 0, pcm_bytes(pcm)))

    async def send_frame(self, utt, i, frame):
        await self.c.ws.send(binary(KIND_FRAME, self.name, utt, i, frame_bytes(frame)))

    async def caption(self, utt, words):
        """Send the text of utterance utt (after begin): words with their offsets in its
        audio, as (text, start_ms, end_ms) or dicts. Viewers see each word when its
        audio plays. Refusals come back as a bad_caption error event."""
        words = caption_words(words)
        if not words:
            raise ValueError("no words")
        for i in range(0, len(words), MAX_CAPTION_WORDS):
            await self.c.ws.send(json.dumps({"type": "caption", "session": self.name, "utterance": utt,
                                             "words": words[i:i + MAX_CAPTION_WORDS]}))

    async def end(self, utt):
        await self.c.ws.send(json.dumps({"type": "end", "session": self.name, "utterance": utt}))

    async def interrupt(self):
        return await self.c._request({"type": "interrupt", "session": self.name}, "interrupted")

    async def play(self, utt, pcm, frames, ahead=1.0, words=None):
        """Stream a waveform (s16 in the session's format) and its frames, at most
        `ahead` seconds ahead of real time, as a speech model produces them; words, if
        given, go as its caption right after begin."""
        pcm = pcm_bytes(pcm)
        rate, ch = self.audio["rate"], self.audio["channels"]
        n, d = (list(map(int, self.video["fps"].split("/"))) + [1])[:2]
        bps = rate * ch * 2
        step = bps // 10  # 100 ms slices
        await self.begin(utt, len(frames))
        if words:
            await self.caption(utt, words)
        loop = asyncio.get_running_loop()
        start, fi = loop.time(), 0
        for pos in range(0, len(pcm), step):
            at = pos / bps
            wait = at - ahead - (loop.time() - start)
            if wait > 0:
                await asyncio.sleep(wait)
            await self.send_audio(utt, pcm[pos:pos + step])
            while fi < len(frames) and fi * d / n < at + 0.1:
                await self.send_frame(utt, fi, frames[fi])
                fi += 1
        await self.end(utt)
