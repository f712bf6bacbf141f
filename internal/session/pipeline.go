package session

import (
	"bytes"
	"fmt"
	"text/template"
)

// DefaultPipeline is a session's pipeline: the two sources, one H.264 and one Opus
// encode, and tees vtee/atee carrying them to the appsinks vout/aout that the Pion,
// RTSP and WHIP outputs read, and to one webrtcbin branch per viewer of a webrtcbin
// session (one encode, any number of viewers). Fields come from Config.
//
// opusenc takes the source's rate when Opus has it (8, 12, 16, 24 or 48 kHz), so
// audioresample passes through: a resampler's few samples of filter delay would leave
// each 20 ms Opus frame waiting for the next chunk, 20 ms of latency for nothing.
const DefaultPipeline = `
singleframesrc name=video width={{.Width}} height={{.Height}} framerate={{.FPS}} format={{.Format}}
  max-queue-frames={{.MaxFrames}} overflow=reject
  ! videoconvert ! video/x-raw,format=I420
  ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={{.KeyInt}} bitrate=1500 threads=1
  ! video/x-h264,profile=constrained-baseline
  ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au
  ! tee name=vtee allow-not-linked=true
vtee. ! queue leaky=downstream max-size-buffers=50 ! appsink name=vout sync=false async=false max-buffers=50 drop=true
pcmslicesrc name=audio rate={{.Rate}} channels={{.Channels}} max-queue-ms={{.MaxQueueMS}} overflow=reject
  ! audioconvert ! audioresample
  ! opusenc frame-size=20 bitrate=64000 ! tee name=atee allow-not-linked=true
atee. ! queue leaky=downstream max-size-buffers=50 ! appsink name=aout sync=false async=false max-buffers=50 drop=true
`

// render executes a pipeline template with c's typed values (c is filled). The
// template is the operator's; it sees params only, so nothing a client sent is text
// in the result.
func render(tmpl string, c Config) (string, error) {
	t, err := template.New("pipeline").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("session: pipeline template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, c.p); err != nil {
		return "", fmt.Errorf("session: pipeline template: %w", err)
	}
	return b.String(), nil
}
