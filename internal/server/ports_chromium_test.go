package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// selectedPairJS reads the page connection's selected candidate pair from getStats:
// "local-type/protocol -> remote-address:port".
const selectedPairJS = `(async () => {
  const r = await window.avhostPC.getStats();
  let p;
  r.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) p = r.get(s.selectedCandidatePairId); });
  if (!p) return 'none';
  const l = r.get(p.localCandidateId), rm = r.get(p.remoteCandidateId);
  return l.candidateType + '/' + l.protocol + ' -> ' + rm.address + ':' + rm.port;
})()`

// playing polls the page's stats until it has decoded 25 frames, for up to d.
func playing(ctx context.Context, d time.Duration) (pageStats, error) {
	var st pageStats
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		var err error
		if st, err = chromedp.Run(ctx, chromedp.Evaluate[pageStats](`window.avhostStats || {}`)); err != nil {
			return st, err
		}
		if st.FramesDecoded > 25 {
			return st, nil
		}
	}
	return st, fmt.Errorf("not within %v", d)
}

// pcStateJS describes the page connection's states, its candidate pairs (state,
// checks sent and answered each way), its transport and what each track received:
// for a viewer that never plays, or stops.
const pcStateJS = `(async () => {
  const pc = window.avhostPC; if (!pc) return 'page state ' + window.avhostState + ', no connection';
  const out = ['page state ' + window.avhostState + ', connection ' + pc.connectionState + ', ICE ' + pc.iceConnectionState +
    ', gathering ' + pc.iceGatheringState + ', signaling ' + pc.signalingState + ', answer ' + (pc.remoteDescription ? 'set' : 'none')];
  for (const l of (pc.localDescription ? pc.localDescription.sdp : '').split('\n')) if (l.startsWith('a=candidate')) out.push('local ' + l.trim());
  const r = await pc.getStats(), c = id => { const x = r.get(id); return x ? x.candidateType + '/' + x.protocol + ' ' + x.address + ':' + x.port : '?'; };
  r.forEach(s => {
    if (s.type === 'candidate-pair') out.push('pair ' + s.state + (s.nominated ? ' nominated ' : ' ') + c(s.localCandidateId) + ' -> ' + c(s.remoteCandidateId) +
      ' requests sent/received ' + s.requestsSent + '/' + s.requestsReceived + ', responses received/sent ' + s.responsesReceived + '/' + s.responsesSent);
    if (s.type === 'transport') out.push('transport ICE ' + s.iceState + ', DTLS ' + s.dtlsState + ', bytes received ' + s.bytesReceived);
    if (s.type === 'inbound-rtp') out.push(s.kind + ' packets ' + s.packetsReceived + ' frames ' + s.framesDecoded);
  });
  return out.join('\n');
})()`

// TestPortsChromiumHelper is a Chromium viewer of the demo page at AVHOST_PORTS_PAGE,
// run by chromiumIn in the viewer's namespace: it prints "chromium played" with the
// frames decoded and the selected candidate pair.
func TestPortsChromiumHelper(t *testing.T) {
	page := os.Getenv("AVHOST_PORTS_PAGE")
	if page == "" {
		t.Skip("the Chromium viewer of the port tests (chromiumIn)")
	}
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	st, err := playing(ctx, 45*time.Second)
	if err != nil {
		// Which layer stopped it (page, ICE pairs, DTLS) is what a rare failure needs.
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](pcStateJS, chromedp.EvalAwaitPromise))
		t.Fatalf("page never played: %v, %+v\n%s", err, st, state)
	}
	pair, err := chromedp.Run(ctx, chromedp.Evaluate[string](selectedPairJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("chromium played frames=%.0f pair=%s\n", st.FramesDecoded, pair)
	if os.Getenv("AVHOST_PORTS_HOLD") != "" {
		io.Copy(io.Discard, os.Stdin) // keep playing until chromiumHold lets go
	}
}

// chromiumHold is chromiumIn that returns as soon as Chromium plays and keeps it
// playing until the end of the test.
func chromiumHold(t *testing.T, ns, page string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestPortsChromiumHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "AVHOST_PORTS_PAGE="+page, "AVHOST_PORTS_HOLD=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "chromium played") {
			go io.Copy(io.Discard, stdout) // the rest, until it exits
			return l
		} else {
			out.WriteString(l + "\n")
		}
	}
	if strings.Contains(out.String(), "--- SKIP") {
		t.Skipf("Chromium viewer skipped:\n%s", out.String())
	}
	t.Fatalf("Chromium viewer in %s ended before it played:\n%s", ns, out.String())
	return ""
}

// chromiumIn plays page in Chromium in network namespace ns and returns the helper's
// "chromium played" line; it skips where Chromium cannot run.
// With relay set, it runs the relay viewer (TestPortsChromiumRelayHelper) instead of
// the page.
func chromiumIn(t *testing.T, ns, page string, relay bool) string {
	t.Helper()
	helper, env := "TestPortsChromiumHelper", "AVHOST_PORTS_PAGE="
	if relay {
		helper, env = "TestPortsChromiumRelayHelper", "AVHOST_PORTS_RELAY_PAGE="
	}
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+helper+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+page)
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "chromium played") {
			return l
		}
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skipf("Chromium viewer skipped:\n%s", out)
	}
	t.Fatalf("Chromium viewer in %s: %v\n%s", ns, err, out)
	return ""
}

// relayViewerJS is a WHEP viewer in the browser with iceTransportPolicy "relay": a
// first offer learns the host's ICE servers from the answer's Link headers (and is
// let go), then a second connection gathers relay candidates only and plays.
// Resolves to "frames=N pair=…" or throws.
const relayViewerJS = `(async () => {
  const offer = async pc => {
    pc.addTransceiver('video', {direction: 'recvonly'});
    pc.addTransceiver('audio', {direction: 'recvonly'});
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise(r => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
    const resp = await fetch('/whep/demo', {method: 'POST', body: pc.localDescription.sdp, headers: {'Content-Type': 'application/sdp'}});
    if (resp.status !== 201) throw new Error('WHEP ' + resp.status);
    return resp;
  };
  const probe = new RTCPeerConnection();
  const first = await offer(probe);
  probe.close();
  fetch(first.headers.get('Location'), {method: 'DELETE'});
  const iceServers = [];
  for (const [, url, rest] of (first.headers.get('Link') || '').matchAll(/<([^>]*)>([^,]*)/g)) {
    const p = Object.fromEntries([...rest.matchAll(/([\w-]+)="((?:[^"\\]|\\.)*)"/g)].map(m => [m[1], m[2]]));
    if (p.rel === 'ice-server') iceServers.push({urls: url, username: p.username, credential: p.credential});
  }
  const pc = new RTCPeerConnection({iceServers, iceTransportPolicy: 'relay'});
  window.avhostPC = pc;
  const resp = await offer(pc);
  await pc.setRemoteDescription({type: 'answer', sdp: await resp.text()});
  for (let i = 0; i < 300; i++) {
    const r = await pc.getStats();
    let frames = 0;
    r.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0; });
    if (frames > 25) return 'frames=' + frames;
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error('no frames decoded, connection ' + pc.connectionState + ', servers ' + JSON.stringify(iceServers.map(s => s.urls)));
})()`

// TestPortsChromiumRelayHelper is relayViewerJS in Chromium against
// AVHOST_PORTS_RELAY_PAGE, run by chromiumIn in the viewer's namespace.
func TestPortsChromiumRelayHelper(t *testing.T) {
	page := os.Getenv("AVHOST_PORTS_RELAY_PAGE")
	if page == "" {
		t.Skip("the Chromium relay viewer of the TURN test (chromiumIn)")
	}
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](relayViewerJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := chromedp.Run(ctx, chromedp.Evaluate[string](selectedPairJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("chromium played %s pair=%s\n", got, pair)
}
