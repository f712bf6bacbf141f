// The beep detector of measurement mode (measure.js). It runs on the audio rendering
// thread (AudioWorklet), so it knows the context time of the exact sample where a tone
// starts or stops.
registerProcessor('avhost-detector', class extends AudioWorkletProcessor {
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
});
