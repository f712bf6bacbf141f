// Glass-to-glass latency and the live plot. avhost stamps every packet with
// abs-capture-time (docs/signaling.md): the frame's place on the session's timeline,
// on the clock of its Sender Reports. The page takes each displayed frame's capture
// time, by its RTP timestamp, from what Chrome received: rVFC's captureTime when
// Chrome gives it (it did not for a receive-only peer in Chrome 156), else the video
// receiver's synchronization source (captureTimestamp, sender NTP ms, plus
// senderCaptureTimeOffset). Sender NTP time is this page's wall clock when sender and
// viewer share a clock (one machine, or both NTP-synced). expectedDisplayTime minus
// that is the frame's whole path: encode, network, jitter buffer, decode, compositor.
// Chrome negotiates the extension only when asked (it is 'stopped' by default), so
// the offer enables it (enableCaptureTime). No build step: player.js calls these.
const captureTimeURI = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time';
function enableCaptureTime(t) {
  if (!t.getHeaderExtensionsToNegotiate || !t.setHeaderExtensionsToNegotiate) return;
  const exts = t.getHeaderExtensionsToNegotiate().map(e =>
    e.uri === captureTimeURI && e.direction === 'stopped' ? {uri: e.uri, direction: 'sendrecv'} : e);
  try { t.setHeaderExtensionsToNegotiate(exts); } catch (e) { /* an older browser: no figure */ }
}

// glassFrame takes each displayed frame's metadata and returns its latency (ms) and
// capture time (wall ms), or undefined; the figure shown is the median of the last
// 25 frames (one second), so a single late frame does not make it jump.
const ntpEpochMs = 2208988800000; // NTP counts from 1900, wall time from 1970
// recent holds the last 25 latencies, frames those frames' RTP timestamps and
// display times (wall ms); shown is what the page shows, with the frames it is of,
// for a test to check against a clock of its own (window.avhostGlass). path is the
// last 200 frames' capture → display, {at, ms}, with the capture time always on the
// sender's clock (rVFC's captureTime is on this page's), for fine sync to set against
// audio's (player.js). captured maps RTP timestamps to capture wall ms.
const glass = {recent: [], frames: [], path: [], ms: undefined, shown: undefined, captured: new Map()};
window.avhostGlass = glass;
function glassFrame(meta, vr) {
  for (const src of (vr ? vr.getSynchronizationSources() : [])) {
    if (!src.captureTimestamp) continue;
    glass.last = {rtp: src.rtpTimestamp, capture: src.captureTimestamp - ntpEpochMs + (src.senderCaptureTimeOffset || 0)};
    glass.captured.set(glass.last.rtp, glass.last.capture);
  }
  while (glass.captured.size > 100) glass.captured.delete(glass.captured.keys().next().value);
  // The source names the latest frame Chrome had when this callback ran, which may
  // be past the one displayed: then the capture time follows from the latest by RTP
  // time (90 kHz), as libwebrtc's own interpolator does, within 5 s.
  const d = glass.last && meta.rtpTimestamp !== undefined ? (meta.rtpTimestamp - glass.last.rtp) | 0 : NaN; // int32: RTP time wraps
  let sent = glass.captured.get(meta.rtpTimestamp); // on the sender's clock
  if (sent === undefined && Math.abs(d) < 5 * 90000) sent = glass.last.capture + d / 90;
  if (sent !== undefined) glass.path.push({at: performance.now(), ms: performance.timeOrigin + meta.expectedDisplayTime - sent});
  if (glass.path.length > 200) glass.path.shift();
  const capture = meta.captureTime !== undefined ? performance.timeOrigin + meta.captureTime : sent;
  if (capture === undefined) return undefined;
  const f = {latency: performance.timeOrigin + meta.expectedDisplayTime - capture, capture};
  glass.recent.push(f.latency);
  glass.frames.push({rtp: meta.rtpTimestamp, display: performance.timeOrigin + meta.expectedDisplayTime});
  if (glass.recent.length > 25) { glass.recent.shift(); glass.frames.shift(); }
  glass.ms = [...glass.recent].sort((a, b) => a - b)[glass.recent.length >> 1];
  return f;
}

// The plot: the last 60 s of latency, A/V offset and received bitrate, sampled with
// the stats (every 500 ms). Each line has its own scale, written beside its name
// with the latest value: people read a line and a number, not a table of counters.
const plotSeries = [
  {key: 'latency', name: 'glass to glass', unit: 'ms', color: '#c33'},
  {key: 'av', name: 'A/V offset', unit: 'ms', color: '#36c'},
  {key: 'kbps', name: 'received', unit: 'kbit/s', color: '#393'},
];
const plotSpan = 120; // samples: 60 s at 2 a second
const plotData = [];
function plotSample(sample) {
  plotData.push(sample);
  if (plotData.length > plotSpan) plotData.shift();
  const c = document.getElementById('plot'), g = c && c.getContext('2d');
  if (!g) return;
  const w = c.width, h = c.height, band = h / plotSeries.length;
  g.clearRect(0, 0, w, h);
  g.font = '12px system-ui, sans-serif';
  plotSeries.forEach((s, i) => {
    const v = plotData.map(d => d[s.key]).filter(x => Number.isFinite(x));
    const top = i * band, last = plotData.length ? plotData[plotData.length - 1][s.key] : undefined;
    let lo = Math.min(0, ...v), hi = Math.max(1, ...v);
    if (hi - lo < 10) hi = lo + 10; // a flat line stays a line, not noise magnified
    g.strokeStyle = '#ddd'; g.beginPath(); g.moveTo(0, top + band - 0.5); g.lineTo(w, top + band - 0.5); g.stroke();
    g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
    let pen = false;
    plotData.forEach((d, k) => {
      const x = w - (plotData.length - 1 - k) * (w / (plotSpan - 1)), y = d[s.key];
      if (!Number.isFinite(y)) { pen = false; return; }
      const py = top + band - 4 - (y - lo) / (hi - lo) * (band - 18);
      if (pen) g.lineTo(x, py); else g.moveTo(x, py);
      pen = true;
    });
    g.stroke();
    g.fillStyle = s.color;
    g.fillText(`${s.name} ${Number.isFinite(last) ? last.toFixed(0) : '–'} ${s.unit} (scale ${lo.toFixed(0)}…${hi.toFixed(0)})`, 4, top + 12);
  });
}
