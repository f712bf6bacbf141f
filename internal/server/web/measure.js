// Measurement mode (?measure=1): times, on the wall clock, when a white frame is
// displayed (requestVideoFrameCallback) and when a tone burst plays (Web Audio), so a
// test can compute lip-sync offset and latency against the flash+beep pattern.
// The page's globals it uses (q, video, playoutDelayMs) come from player.js.
// flashGlass is the page's glass-to-glass figure for each flash frame (null without
// a capture time: plot.js), flashCapture that frame's capture time on the wall clock, flashRTP its
// RTP timestamp (which names the frame for a test that knows the stream's timeline).
window.avhostSync = {flashes: [], flashGlass: [], flashCapture: [], flashRTP: [], beeps: [], beepsWebAudio: [], quiet: [], ntpDiff: []};
const flashCanvas = document.createElement('canvas'); flashCanvas.width = flashCanvas.height = 8;
const flashCtx = flashCanvas.getContext('2d', {willReadFrequently: true});
let bright = false;
function measureFrame(meta, glassed) {
  flashCtx.drawImage(video, 0, 0, 8, 8);
  const d = flashCtx.getImageData(0, 0, 8, 8).data;
  let sum = 0; for (let i = 0; i < d.length; i += 4) sum += d[i];
  const b = sum / (d.length / 4) > 128;
  if (b && !bright) {
    const m = window.avhostSync;
    m.flashes.push(performance.timeOrigin + meta.expectedDisplayTime);
    m.flashGlass.push(glassed ? glassed.latency : null);
    m.flashCapture.push(glassed ? glassed.capture : null);
    m.flashRTP.push(meta.rtpTimestamp ?? null);
  }
  bright = b;
}
// What the user hears is the <video> element's audio, not this graph: the element's
// renderer hands each sample to the graph as it plays it out, and then takes its own
// output delay (getStats media-playout), while the graph adds a longer one of its own.
// So a sample is heard from the element at its render time in the graph plus the
// element's playout delay; the graph's own output time is kept for reference.
async function measureAudio(stream) {
  const ac = new AudioContext();
  // AudioWorklet exists in secure contexts only: a page over plain http on an
  // address other than localhost has none, and would hear no beep without saying so.
  if (!ac.audioWorklet) { ac.close(); throw new Error('no AudioWorklet: the beep detector needs a secure context (https or localhost)'); }
  await ac.audioWorklet.addModule('detector.js'); // a file, not a blob: the CSP allows scripts from 'self' only
  const node = new AudioWorkletNode(ac, 'avhost-detector', {numberOfOutputs: 0});
  node.port.onmessage = e => {
    const t = e.data.on ?? e.data.off, ts = ac.getOutputTimestamp();
    const rendered = performance.now() - (ac.currentTime - t) * 1000;
    const heard = playoutDelayMs === undefined ? ts.performanceTime + (t - ts.contextTime) * 1000 : rendered + playoutDelayMs;
    if (e.data.on !== undefined) {
      window.avhostSync.beeps.push(performance.timeOrigin + heard);
      window.avhostSync.beepsWebAudio.push(performance.timeOrigin + ts.performanceTime + (t - ts.contextTime) * 1000);
    } else window.avhostSync.quiet.push(performance.timeOrigin + heard);
  };
  ac.createMediaStreamSource(stream).connect(node);
}
