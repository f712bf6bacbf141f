package rtcout

import (
	"encoding/json"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/signalproto"
)

// Speech events over a WebRTC data channel (docs/signaling.md, Speech events). A
// viewer whose offer opens a channel labelled signalproto.DataChannelLabel gets every
// event Tell hands the output, and may send {"type":"interrupt"}. Lock order:
// whoever calls Tell (a session holds its lock), then Output.mu, then viewer.mu.

// speechQueue bounds the events waiting for one viewer's channel: past it, events
// for that viewer are dropped and counted, never waited for.
const speechQueue = 64

// maxBuffered is how much a channel may have unsent (SCTP) before avhost stops adding
// to it: a viewer that does not read loses events rather than growing server memory.
const maxBuffered = 256 << 10

// SpeechControl is what a viewer's data channel may do to the session.
type SpeechControl struct {
	// MayInterrupt says whether a viewer created with credential owner may interrupt.
	MayInterrupt func(owner string) bool
	// Interrupt cuts the session's utterance. It runs on a goroutine of its own,
	// never on Pion's, and at most one at a time per viewer.
	Interrupt func()
}

// speechChannel is a viewer's data channel and the events waiting for it.
type speechChannel struct {
	dc      *webrtc.DataChannel
	q       chan []byte
	dropped atomic.Uint64
	cutting atomic.Bool // an interrupt of this viewer's is running
}

// SetSpeechControl sets what viewers' data channels may do; call it before viewers
// join. Without it, interrupts from a channel are ignored.
func (o *Output) SetSpeechControl(c SpeechControl) {
	o.mu.Lock()
	o.speech = c
	o.mu.Unlock()
}

// Tell queues msg (one JSON text message) for every viewer with an open channel. It
// never blocks: a viewer whose queue is full misses it (counted).
func (o *Output) Tell(msg []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, v := range o.viewers {
		v.mu.Lock()
		ch := v.speech
		v.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case ch.q <- msg:
		default:
			ch.dropped.Add(1)
		}
	}
}

// maxRefusedChannels is how many channels a viewer may open that avhost closes (of
// another label, or a second speech channel) before it is dropped. A closed channel
// stays half-open in the host's SCTP association until the peer resets its side,
// which a hostile peer never does: 3000 of them held megabytes, and a peer may open
// 32768. A page opens one.
const maxRefusedChannels = 4

// onDataChannel takes the viewer's first channel labelled DataChannelLabel and
// closes any other; past maxRefusedChannels of those the viewer is dropped, so a
// peer cannot make avhost hold channels without end. It runs on Pion's goroutine and
// does not wait.
func (v *viewer) onDataChannel(dc *webrtc.DataChannel) {
	ch := &speechChannel{dc: dc, q: make(chan []byte, speechQueue)}
	v.mu.Lock()
	if v.closed || v.speech != nil || dc.Label() != signalproto.DataChannelLabel {
		v.refused++
		drop := v.refused == maxRefusedChannels+1
		v.mu.Unlock()
		dc.Close()
		if drop {
			go v.o.RemoveViewer(v.id) // not on Pion's goroutine: closing waits for it
		}
		return
	}
	v.speech = ch
	v.wg.Add(1) // under v.mu with closed false: close() has not reached wg.Wait
	v.mu.Unlock()
	go v.speechWriter(ch)
	dc.OnMessage(func(m webrtc.DataChannelMessage) { v.speechMessage(ch, m) })
}

// speechWriter is the channel's only writer; it ends with the viewer.
func (v *viewer) speechWriter(ch *speechChannel) {
	defer v.wg.Done()
	for {
		select {
		case <-v.done:
			return
		case b := <-ch.q:
			if ch.dc.ReadyState() != webrtc.DataChannelStateOpen || ch.dc.BufferedAmount() > maxBuffered {
				ch.dropped.Add(1)
				continue
			}
			if err := ch.dc.SendText(string(b)); err != nil {
				ch.dropped.Add(1)
			}
		}
	}
}

// speechMessage handles what the page sends: {"type":"interrupt"}, from a viewer
// allowed to interrupt; anything else, or anything longer than
// signalproto.MaxDataChannelMessage, is ignored.
func (v *viewer) speechMessage(ch *speechChannel, m webrtc.DataChannelMessage) {
	if !m.IsString || len(m.Data) > signalproto.MaxDataChannelMessage {
		return
	}
	var msg struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(m.Data, &msg) != nil || msg.Type != signalproto.TypeInterrupt {
		return
	}
	v.o.mu.Lock()
	c := v.o.speech
	v.o.mu.Unlock()
	if c.Interrupt == nil || c.MayInterrupt == nil || !c.MayInterrupt(v.owner) {
		return
	}
	if ch.cutting.CompareAndSwap(false, true) {
		go func() { // not on Pion's goroutine: the session takes its lock
			defer ch.cutting.Store(false)
			c.Interrupt()
		}()
	}
}

// SpeechDropped is how many speech events viewer id's channel missed (a full queue,
// a channel not open or not read), and false for an unknown viewer or one without a
// channel.
func (o *Output) SpeechDropped(id string) (uint64, bool) {
	o.mu.Lock()
	v := o.viewers[id]
	o.mu.Unlock()
	if v == nil {
		return 0, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.speech == nil {
		return 0, false
	}
	return v.speech.dropped.Load(), true
}
