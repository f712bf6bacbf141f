// Speech events and captions (docs/signaling.md, Speech events). avhost tells the page
// speaking_started, word, speaking_finished and interrupted over the data channel
// "avhost" (WHEP and /ws) and over /ws messages, each stamped with the RTP timestamp
// of the audio it belongs to. A word is shown when that audio is heard, not when the
// message arrives: the audio receiver's synchronization source says which RTP
// timestamp Chrome played out when, and the element's output delay (getStats
// media-playout, playoutDelayMs in player.js) is added. A change to the page is seen
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

// heardAt is when audio of RTP timestamp rtp is (or was) heard, in performance.now()
// time, by src. Opus's RTP clock is 48 kHz. libwebrtc stamps the 10 ms frame it
// plays out with the RTP timestamp of the packet it decoded for that frame, whose first
// sample lies somewhere inside the frame: on average half a frame (5 ms) after the
// frame's own start, which is what timestamp gives.
const frameHalfMs = 5;
function heardAt(rtp, src) {
  const ahead = ((rtp - src.rtpTimestamp) | 0) / 48; // ms, wrap-safe (32-bit difference)
  return src.timestamp - performance.timeOrigin + ahead + frameHalfMs + (playoutDelayMs || 0);
}

// Actions waiting for their audio: {rtp (undefined: the next frame), run(presentedAt)}.
// Each animation frame runs those whose audio is heard nearer this frame's
// presentation than the next one's.
let due = [], frameMs = 1000 / 60, lastFrameAt;
function onAnimationFrame(ts) {
  if (lastFrameAt !== undefined && ts - lastFrameAt < 100) frameMs += (ts - lastFrameAt - frameMs) / 10;
  lastFrameAt = ts;
  if (due.length) {
    const src = audioSource(), presented = ts + frameMs;
    due = due.filter(d => {
      if (d.rtp !== undefined && src && heardAt(d.rtp, src) > presented + frameMs / 2) return true;
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
