// Measurement mode (?measure=1): times, on the wall clock, when a white frame is
// displayed (requestVideoFrameCallback) and when a tone burst plays (Web Audio), so a
// test can compute lip-sync offset and latency against the flash+beep pattern.
// The page's globals it uses (q, video, playoutDelayMs) come from player.js.
window.avhostSync = {flashes: [], beeps: [], beepsWebAudio: [], quiet: [], ntpDiff: []};
const flashCanvas = document.createElement('canvas'); flashCanvas.width = flashCanvas.height = 8;
const flashCtx = flashCanvas.getContext('2d', {willReadFrequently: true});
let bright = false;
function measureFrame(meta) {
  flashCtx.drawImage(video, 0, 0, 8, 8);
  const d = flashCtx.getImageData(0, 0, 8, 8).data;
  let sum = 0; for (let i = 0; i < d.length; i += 4) sum += d[i];
  const b = sum / (d.length / 4) > 128;
  if (b && !bright) window.avhostSync.flashes.push(performance.timeOrigin + meta.expectedDisplayTime);
  bright = b;
}
// The beep detector runs on the audio rendering thread (AudioWorklet), so it knows the
// context time of the exact sample where a tone starts or stops.
const detector = `registerProcessor('avhost-detector', class extends AudioWorkletProcessor {
  constructor() { super(); this.loud = false; this.quietRun = 0; this.lastOn = -1e9; this.none = new Float32Array(128); }
  process(inputs) {
    const x = inputs[0][0] || this.none; // a disabled track may deliver no channels at all
    for (let i = 0; i < x.length; i++) {
      const t = currentTime + i / sampleRate;
      if (Math.abs(x[i]) > 0.05) {
        if (!this.loud && t - this.lastOn > 0.25) { this.port.postMessage({on: t}); this.lastOn = t; }
        this.loud = true; this.quietRun = 0;
      } else if (this.loud && ++this.quietRun > sampleRate / 100) {
        this.port.postMessage({off: t - 0.01}); this.loud = false;
      }
    }
    return true;
  }
});`;
// What the user hears is the <video> element's audio, not this graph: the element's
// renderer hands each sample to the graph as it plays it out, and then takes its own
// output delay (getStats media-playout), while the graph adds a longer one of its own.
// So a sample is heard from the element at its render time in the graph plus the
// element's playout delay; the graph's own output time is kept for reference.
async function measureAudio(stream) {
  const ac = new AudioContext();
  await ac.audioWorklet.addModule(URL.createObjectURL(new Blob([detector], {type: 'text/javascript'})));
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
