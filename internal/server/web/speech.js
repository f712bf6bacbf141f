// Speech events and captions (docs/signaling.md, Speech events). avhost tells the page
// speaking_started, word, speaking_finished and interrupted over the data channel
// "avhost" (WHEP and /ws) and over /ws messages, each stamped with the RTP timestamp
// of the audio it belongs to. A word is shown when that audio is heard, not when the
// message arrives: the audio receiver's synchronization source says which RTP
// timestamp Chrome played out when, and the element's output delay (getStats
// media-playout, playoutDelayMs in player.js) is added. Words go in through
// textContent only. Globals from player.js: q, playoutDelayMs, silenceInFlight.
const captionsEl = document.getElementById('captions');
window.avhostEvents = []; // every event in the order taken, with its arrival time (tests read it)
window.avhostWords = [];  // every word shown: {text, utterance, rtp, shown} (epoch ms)
let lastSeq = 0, speechTimers = new Set(), cutWaiter = null;

// heardAt is when audio of RTP timestamp rtp is (or was) heard, in performance.now()
// time; undefined while no audio has played. Opus's RTP clock is 48 kHz.
function heardAt(rtp) {
  const pc = window.avhostPC, ar = pc && pc.getReceivers().find(r => r.track && r.track.kind === 'audio');
  const src = ar && ar.getSynchronizationSources()[0];
  if (!src) return undefined;
  const ahead = ((rtp - src.rtpTimestamp) | 0) / 48; // ms, wrap-safe (32-bit difference)
  return src.timestamp - performance.timeOrigin + ahead + (playoutDelayMs || 0);
}

// atAudio runs f when the audio of rtp is heard (at once if it already was). The time
// is checked again when the timer fires, since the jitter buffer may have moved.
function atAudio(rtp, f) {
  const step = () => {
    const t = heardAt(rtp), wait = t === undefined ? 0 : t - performance.now();
    if (wait > 1) { const h = setTimeout(() => { speechTimers.delete(h); step(); }, wait); speechTimers.add(h); return; }
    f();
  };
  step();
}

function showWord(m) {
  const span = document.createElement('span');
  span.textContent = (captionsEl.childElementCount ? ' ' : '') + m.text;
  captionsEl.appendChild(span);
  window.avhostWords.push({text: m.text, utterance: m.utterance, rtp: m.rtp, shown: performance.timeOrigin + performance.now()});
}

// speechEvent takes one event from either path; seq orders them and drops the copy
// that arrives second.
function speechEvent(m) {
  if (typeof m.seq !== 'number' || m.seq <= lastSeq) return;
  lastSeq = m.seq;
  window.avhostEvents.push({type: m.type, seq: m.seq, utterance: m.utterance || 0, rtp: m.rtp,
    played_ms: m.played_ms || 0, arrived: performance.timeOrigin + performance.now()});
  const stamped = typeof m.rtp === 'number';
  switch (m.type) {
    case 'speaking_started':
      if (stamped) atAudio(m.rtp, () => captionsEl.replaceChildren()); else captionsEl.replaceChildren();
      break;
    case 'word':
      if (typeof m.text !== 'string') return;
      if (stamped) atAudio(m.rtp, () => showWord(m)); else showWord(m);
      break;
    case 'interrupted':
      // The cut is now: silence what is in flight, and drop words not yet shown.
      for (const h of speechTimers) clearTimeout(h);
      speechTimers.clear();
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
