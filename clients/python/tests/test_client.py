"""Unit tests of the client's conversions and checks (python3 -m unittest)."""
import inspect
import unittest
from unittest import mock

import avhost_client as ac

try:
    import numpy as np
except ImportError:  # the numpy tests say so
    np = None


@unittest.skipIf(np is None, "numpy not installed")
class NumpyAudio(unittest.TestCase):
    def test_float_is_clipped_not_wrapped(self):
        b = ac.pcm_bytes(np.array([0.0, 0.5, 1.5, -2.0], dtype=np.float32))
        self.assertEqual(np.frombuffer(b, "<i2").tolist(), [0, 16384, 32767, -32767])

    def test_nan_is_refused(self):
        with self.assertRaises(ValueError):
            ac.pcm_bytes(np.array([0.0, np.nan]))

    def test_int16_stereo_keeps_its_samples(self):
        a = np.array([[1, -2], [300, -32768]], dtype=np.int16)
        self.assertEqual(ac.pcm_bytes(a), a.astype("<i2").tobytes())

    def test_other_dtypes_are_refused(self):
        with self.assertRaises(TypeError):
            ac.pcm_bytes(np.zeros(4, dtype=np.int32))

    def test_frames_in_c_order(self):
        f = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
        self.assertEqual(ac.frame_bytes(f[:, ::-1]), np.ascontiguousarray(f[:, ::-1]).tobytes())


class Captions(unittest.TestCase):
    def test_tuples_and_dicts(self):
        self.assertEqual(ac.caption_words([("a", 0, 10), {"text": "b", "start_ms": 10, "end_ms": 20}]),
                         [{"text": "a", "start_ms": 0, "end_ms": 10}, {"text": "b", "start_ms": 10, "end_ms": 20}])

    def test_out_of_bounds(self):
        for bad in ([("", 0, 1)], [("a" * 257, 0, 1)], [("a\x07", 0, 1)], [("\u202ea", 0, 1)],
                    [("a", 5, 1)], [("a", -1, 1)], [("a", 0, 3_600_001)], [("a", 10, 20), ("b", 9, 20)]):
            with self.assertRaises(ValueError, msg=repr(bad)):
                ac.caption_words(bad)


class WebsocketsVersions(unittest.TestCase):
    def test_header_keyword_follows_the_signature(self):
        def new(uri, *, additional_headers=None, max_size=None): ...
        def old(uri, *, extra_headers=None, max_size=None): ...
        for fn, want in ((new, "additional_headers"), (old, "extra_headers")):
            with mock.patch.object(ac.websockets, "connect", fn):
                self.assertEqual(ac._header_kwarg(), want)

    def test_installed_websockets(self):
        params = inspect.signature(ac.websockets.connect).parameters
        self.assertIn(ac._header_kwarg(), params)


if __name__ == "__main__":
    unittest.main()
