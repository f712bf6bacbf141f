package server_test

import (
	"fmt"
	"sync/atomic"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// h264Decoder decodes a viewer's H.264 RTP packets with GStreamer (depayloader,
// parser, libav decoder) and counts the pictures that come out: a viewer that
// "plays" has decoded pictures, not only packets.
type h264Decoder struct {
	p      *gst.Pipeline
	src    *app.Source
	frames atomic.Int64
}

func newH264Decoder(pt uint8) (*h264Decoder, error) {
	gsttest.Init()
	p, err := gst.NewPipelineFromString(fmt.Sprintf("appsrc name=src is-live=true format=time do-timestamp=true "+
		"caps=application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=%d "+
		"! rtph264depay ! h264parse ! avdec_h264 ! fakesink name=sink sync=false async=false", pt))
	if err != nil {
		return nil, err
	}
	d := &h264Decoder{p: p}
	src, _ := p.GetElementByName("src")
	sink, _ := p.GetElementByName("sink")
	d.src = app.SrcFromElement(src)
	sink.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer, func(*gst.Pad, *gst.PadProbeInfo) gst.PadProbeReturn {
		d.frames.Add(1)
		return gst.PadProbeOK
	})
	if err := p.SetState(gst.StatePlaying); err != nil {
		return nil, err
	}
	return d, nil
}

// push hands the decoder one RTP packet (copied).
func (d *h264Decoder) push(pkt []byte) {
	d.src.PushBuffer(gst.NewBufferFromBytes(append([]byte(nil), pkt...)))
}

func (d *h264Decoder) close() { d.p.SetState(gst.StateNull) }
