package server_test

import (
	"bytes"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/rtspout"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
)

// sampleHost is a host configured by avhost.yaml, with the demo session (public) on
// loopback ports and no RTSP.
func sampleHost(t *testing.T) (*host, server.Config) {
	t.Helper()
	b, err := os.ReadFile("../../avhost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sample, err := server.LoadConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	h := startHost(t, func(c *server.Config) {
		yes := true
		*c = sample
		c.Listen, c.Token, c.RTSP = "127.0.0.1:0", token, rtspout.Config{Address: "-"}
		c.WebRTC.ICEUDP, c.WebRTC.ICETCP = "127.0.0.1:0", "127.0.0.1:0" // not the sample's :8189: tests run side by side
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
	})
	return h, sample
}

// The sample's ICE servers reach a viewer allowed to watch: as RFC 9725 §4.6 Link
// headers on the WHEP answer and as ice_servers in the /ws answer; a requester not
// allowed to watch learns none of them.
func TestConfigICEServersReachTheViewer(t *testing.T) {
	h, sample := sampleHost(t)
	ice := sample.WebRTC.ICEServers
	if len(ice) != 2 || ice[1].Username == "" {
		t.Fatalf("the sample's ICE servers changed (%+v): this test wants a STUN and a TURN with credentials", ice)
	}
	wantLinks := []string{
		"<" + ice[0].URLs[0] + `>; rel="ice-server"`,
		"<" + ice[1].URLs[0] + `>; rel="ice-server"; username="` + ice[1].Username + `"; credential="` +
			ice[1].Credential.(string) + `"; credential-type="password"`,
	}
	privateSession(t, h, "private", "")
	offer := recvOffer(t)

	post := func(sess string) *http.Response {
		resp, err := http.Post(h.web+"/whep/"+sess, "application/sdp", bytes.NewReader([]byte(offer)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	t.Run("the WHEP answer carries them as Link headers", func(t *testing.T) {
		resp := post("demo")
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %s", resp.Status)
		}
		if got := resp.Header.Values("Link"); !reflect.DeepEqual(got, wantLinks) {
			t.Fatalf("Link headers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLinks, "\n"))
		}
		if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Link") {
			t.Fatal("a page on another origin cannot read Link: not in Access-Control-Expose-Headers")
		}
	})
	t.Run("a WHEP requester not allowed to watch gets none", func(t *testing.T) {
		resp := post("private")
		if resp.StatusCode != http.StatusNotFound || len(resp.Header.Values("Link")) != 0 {
			t.Fatalf("POST to a private session without its token: %s, Link %q", resp.Status, resp.Header.Values("Link"))
		}
	})

	answer := func(sess string) signalproto.Message {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.web, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		ws.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: sess, SDP: offer})
		var m signalproto.Message
		ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("the /ws answer carries them as ice_servers", func(t *testing.T) {
		want := []signalproto.ICEServer{{URLs: ice[0].URLs},
			{URLs: ice[1].URLs, Username: ice[1].Username, Credential: ice[1].Credential.(string)}}
		m := answer("demo")
		if m.Type != signalproto.TypeAnswer || !reflect.DeepEqual(m.ICEServers, want) {
			t.Fatalf("got %+v, want an answer with ice_servers %+v", m, want)
		}
	})
	t.Run("a /ws requester not allowed to watch gets none", func(t *testing.T) {
		if m := answer("private"); m.Type != signalproto.TypeError || m.ICEServers != nil {
			t.Fatalf("got %+v, want an error without ice_servers", m)
		}
	})
}
