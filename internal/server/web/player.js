// The demo page: plays a session over WebRTC (WHEP or /ws), shows getStats, keeps lips
// and voice together (fine sync) and silences audio in flight at a barge-in. No build step.
// Everything it shows from the server or the URL goes in through textContent: the page
// never parses markup from data (and its CSP forbids it: Trusted Types, no inline script).
const q = new URLSearchParams(location.search);
const session = q.get('session') || 'demo', via = q.get('via') || 'ws';
const msg = document.getElementById('msg'), video = document.getElementById('v'), login = document.getElementById('login');
const setState = s => { document.getElementById('state').textContent = s; window.avhostState = s; };

// The token never rides in a URL, where proxy logs, history and Referer keep it. It comes
// from the fragment (#token=…, which the browser does not send) or the form, is wiped from
// the address bar at once, and stays in this tab's sessionStorage so a reload still works.
// It travels only in Authorization headers; /ws gets a single-use ticket instead.
const tokenKey = 'avhost.token';
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get('token')) sessionStorage.setItem(tokenKey, fragment.get('token'));
const stale = q.has('token') || q.has('viewer_token'); // an old ?token= link: already sent, never used
if (location.hash || stale) {
  q.delete('token'); q.delete('viewer_token');
  history.replaceState(null, '', location.pathname + (q.toString() ? '?' + q : ''));
}
const token = sessionStorage.getItem(tokenKey) || '';
const authHeaders = () => token ? {Authorization: 'Bearer ' + token} : {};
function needToken(why) {
  login.hidden = false;
  msg.textContent = why;
}
login.hidden = !!token;
if (stale) needToken('?token= in a URL is refused: open the page with #token=… or enter the token here');
login.addEventListener('submit', e => {
  e.preventDefault();
  const t = document.getElementById('token').value.trim();
  if (t) sessionStorage.setItem(tokenKey, t);
  location.reload();
});

// Session ids are letters, digits, '_', '-' and '.', and a path segment made of dots only
// would climb out of the API's paths.
const validSession = /^[A-Za-z0-9_.-]{1,64}$/.test(session) && !/^\.+$/.test(session);
const sessionPath = encodeURIComponent(session);
document.getElementById('sid').textContent = session;
document.getElementById('via').textContent = via === 'whep' ? 'WHEP' : 'WebSocket signaling';

async function post(path) {
  const r = await fetch(path, {method: 'POST', headers: authHeaders()});
  if (r.status === 401) needToken('the buttons need the host token (printed by avhost serve when it generates one)');
  else msg.textContent = r.ok ? '' : await r.text();
}
document.getElementById('speak').onclick = () => post(`/api/sessions/${sessionPath}/speak`);
document.getElementById('interrupt').onclick = () => window.avhostInterrupt();
// Barge-in. The audio already on its way (in the network, the jitter buffer and the
// output: 60-90 ms here) would still play after avhost cuts the utterance, so the page
// silences the audio track at once: when the user presses Interrupt, or when avhost
// says "interrupted" on /ws (the model server cut it). The track comes back once
// everything sent before the cut has played out: the audio path's own delay, plus one
// packet and the Opus lookahead, after avhost's word.
let unmute;
function silenceInFlight(answered) {
  const track = window.avhostPC && window.avhostPC.getReceivers().map(r => r.track).find(t => t.kind === 'audio');
  if (!track) return;
  track.enabled = false;
  clearTimeout(unmute); // a second barge-in before the first drained: wait for the later
  answered.finally(() => {
    clearTimeout(unmute);
    unmute = setTimeout(() => { track.enabled = true; }, (audioJB.ms || 60) + (playoutDelayMs || 30) + 30);
  });
}
// avhostInterrupt is the Interrupt button; it returns when the page went silent.
// The data channel carries it when open (see speech.js); else the interrupt API.
window.avhostInterrupt = () => {
  const at = performance.timeOrigin + performance.now();
  silenceInFlight(interruptViaChannel() || post(`/api/sessions/${sessionPath}/interrupt`));
  return at;
};
document.getElementById('unmute').onclick = () => { video.muted = false; video.play(); };

// Leaving frees the viewer on the server at once (WHEP DELETE, or the /ws connection
// closing) instead of when ICE gives up on a vanished peer.
let leave = () => {};
window.avhostLeave = () => { leave(); leave = () => {}; setState('left'); };
addEventListener('pagehide', () => window.avhostLeave());

// ICE servers (STUN/TURN) come with avhost's answer: WHEP Link headers (RFC 9725 §4.6),
// /ws ice_servers. The offer was gathered without them, so they are set on the
// connection for later gathering, and if it fails, the page connects once more with
// them from the start (a browser gathers relay candidates only for servers it had).
let iceServers = [];
function learnIceServers(pc, servers) {
  // By URL only: a TURN credential is minted per answer, so the retry's answer differs
  // in credentials and must not arm another retry.
  const urls = l => JSON.stringify(l.map(s => s.urls));
  if (!servers.length || urls(servers) === urls(iceServers)) return;
  iceServers = servers;
  try { pc.setConfiguration({...pc.getConfiguration(), iceServers}); } catch (e) { /* the retry below uses them */ }
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'failed') { leave(); connect().catch(e => setState('error: ' + e)); }
  });
}

// iceLinks reads the ICE servers of a WHEP answer's Link headers: <url>; rel="ice-server"
// with username, credential and credential-type="password" as quoted strings.
function iceLinks(header) {
  const servers = [];
  const link = /<([^>]*)>((?:\s*;\s*[\w-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,"]*))*)/g;
  for (const [, url, rest] of (header || '').matchAll(link)) {
    const p = {};
    for (const [, k, q, t] of rest.matchAll(/;\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,"]*))/g)) {
      p[k.toLowerCase()] = q !== undefined ? q.replace(/\\(.)/g, '$1') : t.trim();
    }
    if (p.rel !== 'ice-server' || !/^(stuns?|turns?):/.test(url)) continue;
    const s = {urls: url};
    if (p.username !== undefined) { s.username = p.username; s.credential = p.credential || ''; }
    servers.push(s);
  }
  return servers;
}

// Both paths make a recvonly offer; avhost answers with all its candidates.
async function connect() {
  const pc = new RTCPeerConnection({iceServers});
  window.avhostPC = pc;
  const vt = pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  openSpeechChannel(pc);
  // avhost sends H.264 only: offering just that keeps every backend's answer simple
  // (webrtcbin 1.22 stumbles on offers that lead with VP8).
  const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities('video');
  if (caps && vt.setCodecPreferences) {
    const h264 = caps.codecs.filter(c => /h264|rtx|red|ulpfec/i.test(c.mimeType));
    if (h264.length) vt.setCodecPreferences(h264);
  }
  pc.getTransceivers().forEach(enableCaptureTime); // the glass-to-glass figure (plot.js)
  const stream = new MediaStream();
  pc.ontrack = e => {
    stream.addTrack(e.track); video.srcObject = stream;
    if (q.get('measure') && e.track.kind === 'audio') measureAudio(stream).catch(err => { window.avhostSync.error = String(err); });
  };
  pc.onconnectionstatechange = () => setState(pc.connectionState);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(r => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
  if (via === 'whep') {
    const r = await fetch(`/whep/${sessionPath}`, {method: 'POST', body: pc.localDescription.sdp,
      headers: {'Content-Type': 'application/sdp', ...authHeaders()}});
    // A private session answers a missing token exactly like an unknown one (404).
    if (r.status === 404 && !token) needToken('no such session, or it is private: enter its viewer token or the host token');
    if (r.status !== 201) { setState('WHEP ' + r.status + ': ' + await r.text()); return; }
    // The resource must be ours: the token goes nowhere but this origin.
    const loc = new URL(r.headers.get('Location') || '', location.href);
    if (loc.origin !== location.origin) { setState('WHEP answer with a foreign Location'); pc.close(); return; }
    leave = () => { pc.close(); fetch(loc, {method: 'DELETE', keepalive: true, headers: authHeaders()}); };
    await pc.setRemoteDescription({type: 'answer', sdp: await r.text()});
    learnIceServers(pc, iceLinks(r.headers.get('Link')));
  } else {
    // Browsers cannot put a header on a WebSocket upgrade: trade the token for a
    // single-use ticket (valid 30 s), worthless in a log once used.
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws${await wsTicket()}`);
    leave = () => { pc.close(); ws.close(); };
    ws.onopen = () => ws.send(JSON.stringify({type: 'offer', session, sdp: pc.localDescription.sdp}));
    ws.onmessage = async e => {
      const m = JSON.parse(e.data);
      if (m.type === 'answer') {
        await pc.setRemoteDescription({type: 'answer', sdp: m.sdp});
        learnIceServers(pc, Array.isArray(m.ice_servers) ? m.ice_servers : []);
      }
      else if (typeof m.seq === 'number') speechEvent(m);
      else if (m.type === 'interrupted') silenceInFlight(Promise.resolve());
      else if (m.type === 'error') setState('error: ' + m.error);
    };
  }
}

// wsTicket returns "?ticket=…" for the /ws URL, or "" without a (valid) token: public
// sessions need none.
async function wsTicket() {
  if (!token) return '';
  const r = await fetch('/api/tickets', {method: 'POST', headers: authHeaders()});
  if (r.status === 401) { needToken('the token was refused'); return ''; }
  const t = r.ok && (await r.json()).ticket;
  return typeof t === 'string' ? '?ticket=' + encodeURIComponent(t) : '';
}

// row makes a table row of text cells.
function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) tr.appendChild(document.createElement('td')).textContent = String(c);
  return tr;
}

// Live stats from getStats, also published as window.avhostStats for tests.
let playoutDelayMs, statsRan = false, lastPlayout = {d: 0, n: 0}, lastBytes;
async function stats() {
  const pc = window.avhostPC; if (!pc) return;
  const s = {};
  let bytes = 0;
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp') {
      const k = r.kind;
      bytes += r.bytesReceived || 0;
      s[k + 'PacketsLost'] = r.packetsLost; s[k + 'JitterMs'] = (r.jitter || 0) * 1000;
      s[k + 'PlayoutDelayMs'] = r.jitterBufferEmittedCount ? 1000 * r.jitterBufferDelay / r.jitterBufferEmittedCount : 0;
      s[k + 'PlayoutNtp'] = r.estimatedPlayoutTimestamp;
      if (k === 'video') { s.framesDecoded = r.framesDecoded || 0; s.fps = r.framesPerSecond || 0; }
      if (k === 'audio') {
        s.audioSamples = r.totalSamplesReceived || 0;
        if (r.jitterBufferEmittedCount > audioJB.n) audioJB = {d: r.jitterBufferDelay, n: r.jitterBufferEmittedCount, ms: 1000 * (r.jitterBufferDelay - audioJB.d) / (r.jitterBufferEmittedCount - audioJB.n)};
      }
    }
    if (r.type === 'media-playout' && r.totalSamplesCount > lastPlayout.n) {
      playoutDelayMs = 1000 * (r.totalPlayoutDelay - lastPlayout.d) / (r.totalSamplesCount - lastPlayout.n);
      lastPlayout = {d: r.totalPlayoutDelay, n: r.totalSamplesCount};
    }
    if (r.type === 'candidate-pair' && r.nominated && r.currentRoundTripTime !== undefined) s.rttMs = r.currentRoundTripTime * 1000;
  });
  // Chrome's own A/V alignment: the sender-NTP times of the video frame and the audio
  // being played out now (positive: video ahead of audio).
  statsRan = true;
  s.avPlayoutDiffMs = s.videoPlayoutNtp && s.audioPlayoutNtp ? s.videoPlayoutNtp - s.audioPlayoutNtp : 0;
  let syncErr;
  if (s.videoPlayoutNtp && s.audioPlayoutNtp) {
    if (q.get('measure')) window.avhostSync.ntpDiff.push(s.avPlayoutDiffMs); // kept for a test only: a page may play for days
    syncErr = fineSync(pc, s.avPlayoutDiffMs);
  }
  delete s.videoPlayoutNtp; delete s.audioPlayoutNtp;
  s.syncErrorMs = trim.errMs; s.videoTrimMs = trim.video; s.audioTrimMs = trim.audio;
  if (playoutDelayMs !== undefined) s.audioOutputDelayMs = playoutDelayMs;
  const now = performance.now();
  if (lastBytes && now > lastBytes.t) s.receivedKbps = 8 * (bytes - lastBytes.b) / (now - lastBytes.t);
  lastBytes = {b: bytes, t: now};
  if (glass.ms !== undefined) s.glassToGlassMs = glass.ms;
  document.getElementById('g2g').textContent = glass.ms === undefined ? '–' : glass.ms.toFixed(0);
  glass.shown = {ms: glass.ms, frames: [...glass.frames]};
  // The offset the viewer sees, as fine sync measures it.
  plotSample({latency: glass.ms, av: syncErr, kbps: s.receivedKbps});
  window.avhostStats = s;
  document.querySelector('#stats tbody').replaceChildren(...Object.entries(s).map(([k, v]) =>
    row([k, typeof v === 'number' ? v.toFixed(1) : v])));
}

async function sessions() {
  // Without the host token the list holds public sessions only.
  const r = await fetch('/api/sessions', {headers: authHeaders()});
  const list = r.ok ? await r.json() : [];
  document.querySelector('#sessions tbody').replaceChildren(...(Array.isArray(list) ? list : []).map(s =>
    row([s.id + (s.private ? ' (private)' : ''), `${s.width}×${s.height}`, s.fps, s.audio_chunks, s.video_frames,
      s.utterances, s.interrupts, s.underruns, Number(s.queued_ms).toFixed(0)])));
}
// Fine lip sync: Chrome's own A/V sync leaves up to 30 ms alone (libwebrtc's
// kMinDeltaMs), and under loss its playout estimates miss up to 13 ms the viewer
// sees. The page measures each track's capture → output path from the
// abs-capture-time avhost stamps (docs/signaling.md, "In the browser") and delays the
// track that is ahead through RTCRtpReceiver.jitterBufferTarget. ?finesync=0 turns
// it off. trim.input says what it steers by: 'capture', or 'chrome' (Chrome's
// playout estimates plus the display lag) for a sender without the extension.
const trim = {video: 0, audio: 0, errMs: 0, lagMs: 0, input: ''};
window.avhostSync.trim = trim;
window.avhostSync.syncErr = []; // the error fine sync steered by, each stats tick (?measure=1)
window.avhostSync.paths = []; // its audio and video capture → output paths (ms), each tick
window.avhostSync.trims = []; // its video and audio targets and Chrome's offset, each tick
let lastFrame, lastTrimAt = 0, audioJB = {d: 0, n: 0, ms: 0}, lags = [], captureSeen = false;
const rendered = new Map(); // video RTP timestamp → when Chrome rendered it
// audioPath holds audio's capture → output samples, {at, ms}, one per displayed
// frame when the source has moved. The source is set by the 10 ms output pull that
// decodes a packet and names that packet, but the pull starts with 0-10 ms left of
// the one before, captured that much earlier: pullHalfMs adds the middle of that
// range. Where in it a session sits is fixed until NetEq stretches or conceals
// audio, so one session can read up to 5 ms either way of another.
const audioPath = [], pullHalfMs = 5;
let lastAudio;
function sampleAudioPath(ar) {
  if (playoutDelayMs === undefined && !statsRan) return; // the output's delay is not known yet
  const src = ar.getSynchronizationSources().filter(s => s.captureTimestamp).sort((a, b) => b.timestamp - a.timestamp)[0];
  if (!src || src.timestamp === lastAudio) return;
  lastAudio = src.timestamp; captureSeen = true;
  const capture = src.captureTimestamp - ntpEpochMs + (src.senderCaptureTimeOffset || 0);
  audioPath.push({at: performance.now(), ms: src.timestamp + (playoutDelayMs || 0) - capture + pullHalfMs});
  if (audioPath.length > 200) audioPath.shift();
}
// iqm is the mean of the middle half of v.
function iqm(v) {
  const s = [...v].sort((a, b) => a - b), m = s.slice(s.length >> 2, s.length - (s.length >> 2));
  return m.reduce((a, b) => a + b, 0) / m.length;
}
// fresh is the figures of samples taken in the last 2 s and after the last trim
// had half a second to act.
const fresh = v => { const from = Math.max(performance.now() - 2000, lastTrimAt + 500); return v.filter(x => x.at >= from).map(x => x.ms); };
// syncError is the offset the viewer sees (ms, > 0: the sound comes after the
// picture), or undefined while there is not enough to say.
function syncError(chromeDiff) {
  if (captureSeen) {
    const a = fresh(audioPath), v = fresh(glass.path);
    if (a.length < 10 || v.length < 10) return undefined; // a frozen picture, a hidden tab, no stamps
    trim.input = 'capture';
    const am = iqm(a), vm = iqm(v);
    if (q.get('measure')) window.avhostSync.paths.push([am, vm]);
    return am - vm;
  }
  const f = lastFrame, r = f && rendered.get(f.rtp);
  if (r === undefined || lags.length < 10) return undefined;
  // A frame waits for a vsync: the median over the last second or two, not the last
  // frame, and never more than one 60 Hz vsync. A larger reading is the sync source's
  // timestamp landing late under load, not display lag; trusting it overshot by 30 ms.
  trim.lagMs = Math.min(1000 / 60, [...lags].sort((a, b) => a - b)[lags.length >> 1]);
  trim.input = 'chrome';
  return chromeDiff + trim.lagMs;
}
// fineSync steers by syncError and returns it.
function fineSync(pc, chromeDiff) {
  const err = syncError(chromeDiff);
  if (q.get('measure')) { window.avhostSync.syncErr.push(err ?? null); window.avhostSync.trims.push([trim.video, trim.audio, chromeDiff]); }
  if (err === undefined) return undefined;
  trim.errMs = err;
  // Chrome's sync acts again once its own figure leaves ±30 ms: stay inside ±25. Its
  // figure far off (a sender's Sender Reports a minute wrong, as MediaMTX's were) or
  // pulling the other way: leave it.
  // Half the error a step: a 1.5 s window reads ±3 ms from one step to the next, and
  // taking all of it each time kept the targets hunting (24 steps a minute).
  const step = Math.max(chromeDiff - 25, Math.min(err / 2, chromeDiff + 25));
  if (q.get('finesync') === '0' || Math.abs(chromeDiff) > 200 || Math.sign(step) !== Math.sign(err)) return err;
  if (performance.now() - lastTrimAt < 2000 || Math.abs(err) < 3) return err;
  const vr = pc.getReceivers().find(x => x.track.kind === 'video'), ar = pc.getReceivers().find(x => x.track.kind === 'audio');
  if (!vr || !ar || !('jitterBufferTarget' in vr)) return err;
  lastTrimAt = performance.now();
  const clamp = ms => Number.isFinite(ms) ? Math.min(500, Math.max(0, ms)) : 0; // past 500 ms it is no lip sync
  const f = lastFrame, r = f && rendered.get(f.rtp);
  if (step > 0 ? trim.audio === 0 : trim.video > 0) {
    trim.video = clamp((trim.video || (r === undefined ? 0 : r - f.recv)) + step);
  } else {
    trim.audio = clamp((trim.audio || audioJB.ms) - step);
  }
  vr.jitterBufferTarget = trim.video; ar.jitterBufferTarget = trim.audio;
  return err;
}
const onVideoFrame = (now, meta) => {
  const pc = window.avhostPC, vr = pc && pc.getReceivers().find(x => x.track.kind === 'video');
  const ar = pc && pc.getReceivers().find(x => x.track.kind === 'audio');
  if (ar) sampleAudioPath(ar);
  for (const src of (vr ? vr.getSynchronizationSources() : [])) rendered.set(src.rtpTimestamp, src.timestamp - performance.timeOrigin);
  while (rendered.size > 100) rendered.delete(rendered.keys().next().value);
  lastFrame = {rtp: meta.rtpTimestamp, display: meta.expectedDisplayTime, recv: meta.receiveTime};
  const r = rendered.get(meta.rtpTimestamp);
  if (r !== undefined) { lags.push(meta.expectedDisplayTime - r); if (lags.length > 40) lags.shift(); }
  const g = glassFrame(meta, vr);
  if (q.get('measure')) measureFrame(meta, g);
  video.requestVideoFrameCallback(onVideoFrame);
};
video.requestVideoFrameCallback(onVideoFrame);

if (validSession) connect().catch(e => setState('error: ' + e)); else setState('not a session id');
setInterval(stats, 500); setInterval(sessions, 1000); sessions();
