// Package singleframesrc is a live video source written in Go on appsrc: it holds one
// current frame and emits it at the frame rate until a new one arrives, as the
// SingleFrameVideoStreamTrack of the aiortc streamer avhost replaced did, but with
// frame i of an utterance at exactly T0 + i/fps instead of whenever it was pushed.
package singleframesrc

import (
	"sync"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"
)

// FactoryName is the name gst-launch descriptions use.
const FactoryName = "singleframesrc"

var properties = []*glib.ParamSpec{
	glib.NewIntParam("width", "Width", "Frame width in pixels", 2, 7680, 512, glib.ParameterReadWrite),
	glib.NewIntParam("height", "Height", "Frame height in pixels", 2, 4320, 512, glib.ParameterReadWrite),
	glib.NewStringParam("framerate", "Frame rate", "Frames per second as N or N/D (e.g. 25, 30000/1001)", strp("25/1"), glib.ParameterReadWrite),
	glib.NewStringParam("format", "Format", "Pixel format: BGR, RGB, RGBA or I420", strp("BGR"), glib.ParameterReadWrite),
	glib.NewBoolParam("is-live", "Is live", "Pace output by the pipeline clock (false: as fast as downstream takes it, same timestamps)", true, glib.ParameterReadWrite),
	glib.NewInt64Param("num-buffers", "Num buffers", "Frames to emit before EOS (-1 = unlimited)", -1, 1<<62, -1, glib.ParameterReadWrite),
	glib.NewIntParam("max-queue-frames", "Max queue frames", "Utterance frames that may wait for their time", 1, 100000, 64, glib.ParameterReadWrite),
	glib.NewStringParam("overflow", "Overflow", "When the frame queue is full: block (the producer waits) or reject (an error)", strp("block"), glib.ParameterReadWrite),
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
	class.SetMetadata("Single frame source", "Source/Video",
		"Holds one frame and repeats it at the frame rate until a new one arrives; frames of an utterance are timed from their index",
		"avhost")
	class.AddPadTemplate(gst.NewPadTemplate("src", gst.PadDirectionSource, gst.PadPresenceAlways,
		gst.NewCapsFromString("video/x-raw, format=(string){ BGR, RGB, RGBA, I420 }, width=(int)[2,7680], height=(int)[2,4320], framerate=(fraction)[1/1,240/1]")))
	class.InstallProperties(properties)
}

// Properties lists the element's own properties, for generated documentation.
func Properties() []*glib.ParamSpec { return properties }
