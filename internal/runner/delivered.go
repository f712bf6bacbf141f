package runner

import (
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// rtspclientsink (GStreamer 1.22) may post EOS only half a minute after the end, or
// not before avhost gives up. Its RTP sessions end RTCP only once every source in
// them has left, and a server that sent a receiver report counts as a source until it
// times out. Once EOS has reached every sink pad of such a sink, all the media has
// been handed to it. The runner then waits deliveredGrace for the sink to send it and
// stops the pipeline; going to NULL sends the TEARDOWN.
const deliveredGrace = 2 * time.Second

// delivery counts EOS events reaching the sink pads of the pipeline's rtspclientsinks.
type delivery struct {
	want int
	got  atomic.Int32
	at   time.Time // when the last one arrived, as seen by watch
}

func watchDelivery(p *gst.Pipeline) *delivery {
	d := &delivery{}
	elems, err := p.GetElements()
	if err != nil {
		return d
	}
	for _, e := range elems {
		if f := e.GetFactory(); f == nil || f.GetName() != "rtspclientsink" {
			continue
		}
		pads, _ := e.GetSinkPads()
		for _, pad := range pads {
			d.want++
			// Events only (a handful per run): the callback is one atomic add.
			pad.AddProbe(gst.PadProbeTypeEventDownstream, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
				if ev := info.GetEvent(); ev != nil && ev.Type() == gst.EventTypeEOS {
					d.got.Add(1)
				}
				return gst.PadProbeOK
			})
		}
	}
	return d
}

// handedOver reports whether every watched sink pad has had EOS for deliveredGrace.
func (d *delivery) handedOver() bool {
	if d.want == 0 || int(d.got.Load()) < d.want {
		return false
	}
	if d.at.IsZero() {
		d.at = time.Now()
	}
	return time.Since(d.at) >= deliveredGrace
}
