package server

import (
	"log/slog"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/stream"
	"github.com/avhost/avhost/pipelines"
)

// streamConfig is the stream of a session's pipeline: its encode ladder
// (pipelines.Ladder) when the session has it on and the pipeline has every rung (an
// operator's own pipeline may have only vout), else the one rendition vout.
// Either way, the stream steers the Opus encoder's FEC when the pipeline names it.
func streamConfig(p *gst.Pipeline, c session.Config, log *slog.Logger) stream.Config {
	cfg := ladderConfig(p, c, log)
	if _, err := p.GetElementByName(pipelines.AudioEncoder); err == nil {
		cfg.AudioEncoder = pipelines.AudioEncoder
	}
	return cfg
}

func ladderConfig(p *gst.Pipeline, c session.Config, log *slog.Logger) stream.Config {
	cfg := stream.Config{Log: log, Bitrates: map[string]int{}}
	cfg.Bitrates[pipelines.VideoSink] = pipelines.Ladder[0].Kbps * 1000
	if !c.LadderOn() {
		return cfg
	}
	lad := stream.Config{Log: log, Gates: map[string]string{}, Bitrates: map[string]int{}}
	for _, r := range pipelines.Ladder {
		if _, err := p.GetElementByName(r.Sink); err != nil {
			return cfg
		}
		if r.Gate != "" {
			if _, err := p.GetElementByName(r.Gate); err != nil {
				return cfg
			}
			lad.Gates[r.Sink] = r.Gate
		}
		lad.Video = append(lad.Video, r.Sink)
		lad.Bitrates[r.Sink] = r.Kbps * 1000
	}
	return lad
}
