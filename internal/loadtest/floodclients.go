package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/ingestproto"
)

// wsClient holds one /ws connection that never speaks (it answers pings, as a
// library client does), and dials again a second after a refusal or a cut.
func (f *flood) wsClient(ctx context.Context, i int) {
	d := &websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: f.source(i)}).DialContext,
		HandshakeTimeout: 5 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512,
	}
	for ctx.Err() == nil {
		ws, resp, err := d.DialContext(ctx, "ws://"+f.host+"/ws", nil)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if resp != nil {
				f.wsRefused.add(strconv.Itoa(resp.StatusCode))
			} else {
				f.wsRefused.add(errno(err))
			}
			pause(ctx, time.Second)
			continue
		}
		f.wsOpened.Add(1)
		f.ws.inc()
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			for {
				if _, _, err := ws.NextReader(); err != nil {
					return
				}
			}
		}()
		select {
		case <-closed:
			f.wsCut.Add(1)
		case <-ctx.Done():
		}
		ws.Close()
		<-closed
		f.ws.dec()
		pause(ctx, time.Second)
	}
}

// offerer posts offer i to WHEP, never connects, and offers again once the server
// must have given the dead viewer up (or a second after a refusal).
func (f *flood) offerer(ctx context.Context, i int) {
	dial := (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: f.source(i)}).DialContext
	cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: dial}}
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+f.host+"/whep/"+f.cfg.Session, strings.NewReader(f.offers[i]))
		req.Header.Set("Content-Type", "application/sdp")
		status := 0
		if resp, err := cl.Do(req); err == nil {
			status = resp.StatusCode
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			return
		}
		f.offerMu.Lock()
		if f.offerStatus == nil {
			f.offerStatus = map[int]int64{}
		}
		f.offerStatus[status]++
		f.offerMu.Unlock()
		if status == http.StatusCreated {
			pause(ctx, 12*time.Second)
		} else {
			pause(ctx, time.Second)
		}
	}
}

// countChecks reads (and never answers) what the server sends the offers' candidate.
func (f *flood) countChecks() {
	b := make([]byte, 1500)
	for {
		if _, _, err := f.sink.ReadFromUDP(b); err != nil {
			return
		}
		f.checks.Add(1)
	}
}

// deadOffers makes n real recvonly audio+video offers from Pion (each its own ICE
// credentials and DTLS fingerprint) whose only candidate is port on loopback.
func DeadOffers(n, port int) ([]string, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m))
	cand := fmt.Sprintf("a=candidate:1 1 udp 2130706431 127.0.0.1 %d typ host\r\na=end-of-candidates\r\n", port)
	var out []string
	for range n {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, err
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				pc.Close()
				return nil, err
			}
		}
		offer, err := pc.CreateOffer(nil)
		pc.Close()
		if err != nil {
			return nil, err
		}
		// Each media section gets the candidate after its a=mid (no gathering, so the
		// offer carries none of its own).
		var b strings.Builder
		for _, l := range strings.SplitAfter(offer.SDP, "\r\n") {
			b.WriteString(l)
			if strings.HasPrefix(l, "a=mid:") {
				b.WriteString(cand)
			}
		}
		out = append(out, b.String())
	}
	return out, nil
}

// slowloris opens a connection and trickles a request a byte a second: odd clients a
// body (a WHEP POST that announces 60 kB), even ones endless headers. It reconnects
// when the server ends the connection.
func (f *flood) slowloris(ctx context.Context, i int) {
	for ctx.Err() == nil {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: f.source(i)}
		c, err := d.DialContext(ctx, "tcp", f.host)
		if err != nil {
			pause(ctx, time.Second)
			continue
		}
		f.slow.inc()
		if f.trickle(ctx, c, i%2 == 1) {
			f.slowCut.Add(1)
		}
		c.Close()
		f.slow.dec()
		pause(ctx, 200*time.Millisecond)
	}
}

// trickle reports whether the server ended the connection.
func (f *flood) trickle(ctx context.Context, c net.Conn, body bool) (cut bool) {
	head, drip := "GET / HTTP/1.1\r\nHost: avhost\r\n", "X-Slow: 1\r\n"
	if body {
		head = "POST /whep/" + f.cfg.Session + " HTTP/1.1\r\nHost: avhost\r\nContent-Type: application/sdp\r\nContent-Length: 60000\r\n\r\n"
		drip = "v=0\r\n"
	}
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // until the server closes (or we do)
		close(closed)
	}()
	if _, err := io.WriteString(c, head); err != nil {
		return true
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for k := 0; ; k++ {
		select {
		case <-ctx.Done():
			return false
		case <-closed:
			return true
		case <-t.C:
			if _, err := c.Write([]byte{drip[k%len(drip)]}); err != nil {
				return true
			}
		}
	}
}

// malformed sends malformed ingest messages as fast as the connection takes them,
// with the host token, reads the server's replies, and redials when cut.
func (f *flood) malformed(ctx context.Context, _ int) {
	hdr := http.Header{"Authorization": {"Bearer " + f.cfg.Token}}
	msgs := badMessages()
	for ctx.Err() == nil {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+f.host+"/ingest", hdr)
		if err != nil {
			pause(ctx, 200*time.Millisecond)
			continue
		}
		stop := context.AfterFunc(ctx, func() { ws.Close() })
		read := make(chan struct{})
		go func() {
			defer close(read)
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
				f.badReplies.Add(1)
			}
		}()
		for k := 0; ; k++ {
			m := msgs[k%len(msgs)]
			if err := ws.WriteMessage(m.kind, m.data); err != nil {
				break
			}
			f.badSent.Add(1)
		}
		stop()
		ws.Close()
		<-read
		if ctx.Err() == nil {
			f.badRedials.Add(1)
		}
	}
}

type wsMsg struct {
	kind int
	data []byte
}

// badMessages: truncated and non-UTF-8 JSON, unknown types, control messages and
// media for a session this connection does not own, binary with an unknown kind.
func badMessages() []wsMsg {
	t := func(s string) wsMsg { return wsMsg{websocket.TextMessage, []byte(s)} }
	bin := func(b []byte) wsMsg { return wsMsg{websocket.BinaryMessage, b} }
	return []wsMsg{
		t(`{"type":`),
		t(`{"type":"bogus","session":"x"}`),
		t(`{"type":"begin","session":"demo","utterance":1,"audio":{"rate":24000,"channels":1,"sample":"s16"}}`),
		t("\xff\xfe{\x00}"),
		t(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`),
		bin(append([]byte{9}, bytes.Repeat([]byte{0xa5}, 63)...)),
		bin(ingestproto.AppendBinary(nil, ingestproto.Binary{Kind: ingestproto.KindAudio, Session: "demo", Utterance: 1, Payload: make([]byte, 960)})),
		bin(ingestproto.AppendBinary(nil, ingestproto.Binary{Kind: ingestproto.KindFrame, Session: "nosuch", Utterance: 1, Index: 7, Payload: make([]byte, 4096)})),
	}
}
