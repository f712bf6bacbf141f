// Package pcmslicesrc is a live audio source written in Go on appsrc: it takes PCM
// slices of any length (s16 or float32, mono or stereo, any rate the caller declares)
// and emits fixed chunks at chunk k·chunk-ms, silence when nothing is queued. It takes
// the place of the SingleFrameAudioStreamTrack of the aiortc streamer avhost replaced,
// which stalled when idle, dropped audio silently when full and wrapped loud floats.
package pcmslicesrc

import (
	"sync"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"
)

// FactoryName is the name gst-launch descriptions use.
const FactoryName = "pcmslicesrc"

var properties = []*glib.ParamSpec{
	glib.NewIntParam("rate", "Rate", "Output sample rate in Hz", 8000, 192000, 24000, glib.ParameterReadWrite),
	glib.NewIntParam("channels", "Channels", "Output channels (1 or 2)", 1, 2, 1, glib.ParameterReadWrite),
	glib.NewIntParam("chunk-ms", "Chunk ms", "Length of each emitted chunk in milliseconds", 5, 200, 20, glib.ParameterReadWrite),
	glib.NewIntParam("max-queue-ms", "Max queue ms", "Audio that may be queued ahead of playout", 20, 600000, 30000, glib.ParameterReadWrite),
	glib.NewStringParam("overflow", "Overflow", "When the queue is full: block (the producer waits) or reject (an error); never a silent drop", strp("block"), glib.ParameterReadWrite),
	glib.NewIntParam("fade-ms", "Fade ms", "Fade-out on interrupt, so a cut is not a click", 1, 50, 5, glib.ParameterReadWrite),
	glib.NewIntParam("lookahead-us", "Lookahead us", "Push each chunk this long before its running time, timestamps unchanged: the encoder's lookahead (Opus: 6500), so its packets leave when due", 0, 100000, 0, glib.ParameterReadWrite),
	glib.NewBoolParam("is-live", "Is live", "Pace output by the pipeline clock (false: as fast as downstream takes it, same timestamps)", true, glib.ParameterReadWrite),
	glib.NewInt64Param("num-buffers", "Num buffers", "Chunks to emit before EOS (-1 = unlimited)", -1, 1<<62, -1, glib.ParameterReadWrite),
}

func strp(s string) *string { return &s }

var once sync.Once

// Register registers the element for in-process use; call it after gst.Init.
func Register() bool {
	ok := true
	once.Do(func() { ok = RegisterPlugin(nil) })
	return ok
}

// RegisterPlugin registers the element with plugin (nil: statically).
func RegisterPlugin(plugin *gst.Plugin) bool {
	return gst.RegisterElement(plugin, FactoryName, gst.RankNone, &Src{}, gst.ExtendsBin)
}

// ClassInit sets metadata, the pad template and properties.
func (s *Src) ClassInit(klass *glib.ObjectClass) {
	class := gst.ToElementClass(klass)
	class.SetMetadata("PCM slice source", "Source/Audio",
		"Emits queued PCM slices as fixed chunks timed from their sample count; silence when idle",
		"avhost")
	class.AddPadTemplate(gst.NewPadTemplate("src", gst.PadDirectionSource, gst.PadPresenceAlways,
		gst.NewCapsFromString("audio/x-raw, format=(string)S16LE, layout=(string)interleaved, rate=(int)[8000,192000], channels=(int)[1,2]")))
	class.InstallProperties(properties)
}

// Properties lists the element's own properties, for generated documentation.
func Properties() []*glib.ParamSpec { return properties }
