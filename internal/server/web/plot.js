// Glass-to-glass latency and the live plot. avhost stamps every packet with
// abs-capture-time (docs/signaling.md): the frame's place on the session's timeline,
// on the clock of its Sender Reports. Chrome maps it into this page's clock and hands
// it to requestVideoFrameCallback as captureTime, so expectedDisplayTime − captureTime
// is the frame's whole path: encode, network, jitter buffer, decode and compositor.
// Chrome negotiates the extension only when asked (it is 'stopped' by default), so
// the offer enables it (enableCaptureTime). No build step: player.js calls these.
const captureTimeURI = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time';
function enableCaptureTime(t) {
  if (!t.getHeaderExtensionsToNegotiate || !t.setHeaderExtensionsToNegotiate) return;
  const exts = t.getHeaderExtensionsToNegotiate().map(e =>
    e.uri === captureTimeURI && e.direction === 'stopped' ? {uri: e.uri, direction: 'sendrecv'} : e);
  try { t.setHeaderExtensionsToNegotiate(exts); } catch (e) { /* an older browser: no figure */ }
}

// glassFrame takes each displayed frame's metadata; the figure shown is the median
// of the last 25 frames (one second), so a single late frame does not make it jump.
const glass = {recent: [], ms: undefined};
window.avhostGlass = glass;
function glassFrame(meta) {
  if (meta.captureTime === undefined) return;
  glass.recent.push(meta.expectedDisplayTime - meta.captureTime);
  if (glass.recent.length > 25) glass.recent.shift();
  glass.ms = [...glass.recent].sort((a, b) => a - b)[glass.recent.length >> 1];
  glass.last = {rtp: meta.rtpTimestamp, capture: performance.timeOrigin + meta.captureTime,
    display: performance.timeOrigin + meta.expectedDisplayTime};
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
    g.fillText(`${s.name} ${Number.isFinite(last) ? last.toFixed(0) : '–'} ${s.unit} (${lo.toFixed(0)}–${hi.toFixed(0)})`, 4, top + 12);
  });
}
