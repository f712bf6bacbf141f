// Speech events and captions (docs/signaling.md, Speech events). avhost tells the page
// speaking_started, word, speaking_finished and interrupted over the data channel
// "avhost" (WHEP and /ws) and over /ws messages, each stamped with the RTP timestamp
// of the audio it belongs to. A word is shown when that audio is heard, not when the
// message arrives: the audio receiver's synchronization sources say which RTP
// timestamp Chrome pulled when (a median over the last few, heardAt), and the
// element's output delay (getStats media-playout, playoutDelayMs in player.js) and
// where the packet lies in its frame are added. A change to the page is seen
// when its frame is presented, a vsync after the animation frame that makes it, so
// each word goes into the frame presented nearest its audio. Words go in through
// textContent only. Globals from player.js: q, playoutDelayMs, silenceInFlight.
const captionsEl = document.getElementById('captions');
window.avhostEvents = []; // every event in the order taken, with its arrival time (tests read it)
window.avhostWords = [];  // every word shown: {text, utterance, rtp, shown} (epoch ms of its frame's presentation)
let lastSeq = 0, cutWaiter = null;

// audioSource is the audio receiver's latest synchronization source, or undefined.
function audioSource() {
  const pc = window.avhostPC, ar = pc && pc.getReceivers().find(r => r.track && r.track.kind === 'audio');
  return ar ? ar.getSynchronizationSources()[0] : undefined;
}

// The audio clock: when audio of an RTP timestamp is heard. Chrome's synchronization
// source pairs the RTP timestamp of the last packet NetEq decoded with the time of
// the 10 ms pull that decoded it. Each pair taken is kept as "when would the latest
// source's RTP timestamp have been pulled, by this pair"; the median of the last
// clockPairs of them is the clock (a lone pair can be 10-25 ms off, around a
// time-stretch), and it follows a real step (NetEq inserts or removes audio in
// silence) within half the window, about 90 ms.
const clockPairs = 9;
let pairs = [], lastPair;
function takePair(src) {
  if (!src || (lastPair && src.timestamp === lastPair.t && src.rtpTimestamp === lastPair.rtp)) return;
  const t = src.timestamp - performance.timeOrigin;
  if (lastPair) {
    const step = ((src.rtpTimestamp - lastPair.rtp) | 0) / 48; // ms, wrap-safe (32-bit difference)
    // Re-based onto the new latest RTP timestamp. A jump of over 5 s is another
    // stream (a reconnect), and pairs over a second old (a hidden tab takes no
    // animation frames) may be from before NetEq moved: both are dropped.
    const stale = Math.abs(step) > 5000 || src.timestamp - lastPair.t > 1000;
    pairs = stale ? [] : pairs.map(p => p + step);
  }
  pairs.push(t);
  if (pairs.length > clockPairs) pairs.shift();
  lastPair = {t: src.timestamp, rtp: src.rtpTimestamp};
}

// heardAfterMs is how long after its pull the decoded packet's first sample is
// heard, beyond the element's output delay (getStats media-playout, playoutDelayMs).
// NetEq (libwebrtc neteq_impl.cc) decodes a packet when the audio it has left is
// under one 10 ms frame, appends it after that remainder (plus a 30-sample overlap)
// and stamps the frame it pulls with the packet's RTP timestamp: the packet starts
// 0.6-10.6 ms into that frame, 5.6 ms on average, and where exactly changes whenever
// NetEq stretches or conceals audio, which the page cannot see. The page's beep
// detector (measure.js, an AudioWorklet on the element's audio) hears it a further
// 8 ms later (median over 14 page loads; 0-13 ms per load; not the graph's 44.1 kHz
// resampling: a 48 kHz graph heard it at most 3 ms sooner). The sum is what the
// detector hears, the figure the test holds words to (README).
const heardAfterMs = 13.5;

// heardAt is when audio of RTP timestamp rtp is (or was) heard, in performance.now()
// time; undefined before any audio. Opus's RTP clock is 48 kHz.
function heardAt(rtp) {
  if (!pairs.length) return undefined;
  const clock = [...pairs].sort((a, b) => a - b)[pairs.length >> 1];
  return clock + ((rtp - lastPair.rtp) | 0) / 48 + heardAfterMs + (playoutDelayMs || 0);
}

// Actions waiting for their audio: {rtp (undefined: the next frame), run(presentedAt)}.
// Each animation frame takes the clock's latest pair and runs the actions whose
// audio is heard nearer this frame's presentation than the next one's.
let due = [], frameMs = 1000 / 60, lastFrameAt;
function onAnimationFrame(ts) {
  if (lastFrameAt !== undefined && ts - lastFrameAt < 100) frameMs += (ts - lastFrameAt - frameMs) / 10;
  lastFrameAt = ts;
  takePair(audioSource());
  if (due.length) {
    const presented = ts + frameMs;
    due = due.filter(d => {
      const at = d.rtp === undefined ? undefined : heardAt(d.rtp);
      if (at !== undefined && at > presented + frameMs / 2) return true;
      d.run(presented);
      return false;
    });
  }
  requestAnimationFrame(onAnimationFrame);
}
requestAnimationFrame(onAnimationFrame);

function showWord(m, presented) {
  const span = document.createElement('span');
  span.textContent = (captionsEl.childElementCount ? ' ' : '') + m.text;
  captionsEl.appendChild(span);
  window.avhostWords.push({text: m.text, utterance: m.utterance, rtp: m.rtp, shown: performance.timeOrigin + presented});
}

// speechEvent takes one event from either path; seq orders them and drops the copy
// that arrives second.
function speechEvent(m) {
  if (typeof m.seq !== 'number' || m.seq <= lastSeq) return;
  lastSeq = m.seq;
  window.avhostEvents.push({type: m.type, seq: m.seq, utterance: m.utterance || 0, rtp: m.rtp,
    played_ms: m.played_ms || 0, arrived: performance.timeOrigin + performance.now()});
  const rtp = typeof m.rtp === 'number' ? m.rtp : undefined; // none: show as it comes
  switch (m.type) {
    case 'speaking_started':
      due.push({rtp, run: () => captionsEl.replaceChildren()});
      break;
    case 'word':
      if (typeof m.text === 'string') due.push({rtp, run: presented => showWord(m, presented)});
      break;
    case 'interrupted':
      // The cut is now: silence what is in flight, and drop words not yet shown.
      due = [];
      if (cutWaiter) { cutWaiter(); cutWaiter = null; } else silenceInFlight(Promise.resolve());
      break;
  }
}

// openSpeechChannel adds the data channel to pc before its offer is made.
let speechChannel;
function openSpeechChannel(pc) {
  lastSeq = 0;
  if (q.get('dc') === '0') return;
  speechChannel = pc.createDataChannel('avhost');
  speechChannel.onmessage = e => { try { speechEvent(JSON.parse(e.data)); } catch (err) { /* not ours */ } };
}

// interruptViaChannel asks avhost to cut over the data channel; it returns a promise
// that settles when avhost says interrupted (or after a second), or null when there is
// no open channel.
function interruptViaChannel() {
  if (!speechChannel || speechChannel.readyState !== 'open') return null;
  speechChannel.send(JSON.stringify({type: 'interrupt'}));
  return new Promise(r => { cutWaiter = r; setTimeout(r, 1000); });
}
