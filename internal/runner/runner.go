// Package runner is `avhost run`: gst-launch for avhost. It parses a pipeline (a file
// under pipelines/ or an inline description) with avhost's elements registered, feeds
// its singleframesrc and pcmslicesrc from files, and runs it to EOS, an error or Ctrl-C.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements/pcmslicesrc"
	"github.com/avhost/avhost/elements/singleframesrc"
	"github.com/avhost/avhost/internal/mediafile"
	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/player"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/pipelines"
)

// Config is what the command line says.
type Config struct {
	Pipeline string // file, name under Dir, or inline description
	Dir      string // directory of .pipeline files looked in before the built-in ones; none by default
	Audio    string // audio file to speak
	Frames   string // directory of numbered images or a video
	Idle     string // idle image
	Out      string // output file or URL, as ${OUT}; only path and URL characters
	FPS      string // frame rate "N" or "N/D" (1..120 fps), as ${FPS} "N/D"; defaults to 25
	Width    int    // as ${WIDTH}; defaults to 512 (bounds: session.CheckFrameSize)
	Height   int    // as ${HEIGHT}; defaults to 512
	// Live forces ${LIVE}; by default a run that renders --audio into --out is not live
	// (as fast as the encoders go, same timestamps) and anything else is.
	Live     *bool
	Progress io.Writer // progress lines; nil for none
	// RTSP serves a pipeline that ends in appsinks vout (H.264) and aout (Opus) at
	// rtsp://RTSP/RTSPPath; defaults ":8554" and "avatar".
	RTSP, RTSPPath string
}

// ErrElement wraps a bus error with the element that posted it.
type ErrElement struct {
	Element string
	Err     error
	Debug   string
}

func (e *ErrElement) Error() string {
	if e.Debug != "" {
		return fmt.Sprintf("element %s: %v (%s)", e.Element, e.Err, e.Debug)
	}
	return fmt.Sprintf("element %s: %v", e.Element, e.Err)
}

func (e *ErrElement) Unwrap() error { return e.Err }

// vars are the values of ${NAME} in a pipeline, each rendered from a parsed, typed
// value: a flag's text never reaches the description as it was typed, so it cannot
// add elements or properties (issue 10).
func (c *Config) vars() (pipelines.Vars, error) {
	fps, err := session.ParseFPS(c.FPS)
	if err != nil {
		return nil, fmt.Errorf("runner: --fps: %w", err)
	}
	if err := session.CheckFrameSize(c.Width, c.Height); err != nil {
		return nil, fmt.Errorf("runner: --width/--height: %w", err)
	}
	out, err := pipelines.Location(c.Out)
	if err != nil {
		return nil, fmt.Errorf("runner: --out: %w", err)
	}
	live := c.Out == "" || c.Audio == ""
	if c.Live != nil {
		live = *c.Live
	}
	return pipelines.Vars{
		"OUT": out, "FPS": pipelines.Fraction(fps.Num, fps.Den), "WIDTH": pipelines.Int(c.Width),
		"HEIGHT": pipelines.Int(c.Height), "LIVE": pipelines.Bool(live),
	}, nil
}

// Run runs the pipeline until EOS, a bus error or ctx's end (which finalises the
// output with EOS first).
func Run(ctx context.Context, cfg Config) error {
	if cfg.FPS == "" {
		cfg.FPS = "25"
	}
	if cfg.Width == 0 {
		cfg.Width = 512
	}
	if cfg.Height == 0 {
		cfg.Height = 512
	}
	vars, err := cfg.vars()
	if err != nil {
		return err
	}
	desc, err := Resolve(cfg.Pipeline, cfg.Dir)
	if err != nil {
		return err
	}
	if desc, err = Expand(desc, vars); err != nil {
		return err
	}
	p, err := gst.NewPipelineFromString(desc)
	if err != nil {
		return fmt.Errorf("runner: parse: %w", err)
	}
	defer p.SetState(gst.StateNull)

	pl, err := findSources(p)
	if err != nil {
		return err
	}
	utt, err := load(cfg, pl)
	if err != nil {
		return err
	}
	var pb *player.Playback
	live := pl.Audio == nil || pl.Audio.Live()
	if utt != nil && !live { // offline: anchor before start, at the stream's beginning
		if pb, err = pl.Play(ctx, *utt); err != nil {
			return err
		}
	}
	if err := p.SetState(gst.StatePlaying); err != nil {
		if msg := p.GetPipelineBus().TimedPopFiltered(gst.ClockTime(time.Second), gst.MessageError); msg != nil {
			gerr := msg.ParseError()
			return &ErrElement{Element: msg.Source(), Err: gerr, Debug: gerr.DebugString()}
		}
		return fmt.Errorf("runner: start: %w", err)
	}
	if utt != nil && live {
		if pb, err = pl.Play(ctx, *utt); err != nil {
			return err
		}
	}
	if stop, err := serveRTSP(p, cfg); err != nil {
		return err
	} else if stop != nil {
		defer stop()
	}
	if pb != nil {
		// End both streams where the audio ends, known up front for a whole waveform,
		// so a non-live run does not race past it before the bus is read.
		n := int64(len(utt.PCM) / utt.Format.FrameBytes())
		end := pb.T0() + time.Duration(n*int64(time.Second)/int64(utt.Format.Rate))
		pl.Audio.EndAt(end + pl.Audio.ChunkDuration())
		if pl.Video != nil {
			pl.Video.EndAt(end)
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "utterance anchored at %v, ends at %v\n", pb.T0(), end)
		}
	}
	return watch(ctx, p, pl, pb, watchDelivery(p), cfg.Progress)
}

func findSources(p *gst.Pipeline) (*player.Player, error) {
	elems, err := p.GetElements()
	if err != nil {
		return nil, err
	}
	pl := &player.Player{}
	for _, e := range elems {
		switch e.GetFactory().GetName() {
		case singleframesrc.FactoryName:
			if pl.Video == nil {
				pl.Video, _ = singleframesrc.FromElement(e)
			}
		case pcmslicesrc.FactoryName:
			if pl.Audio == nil {
				pl.Audio, _ = pcmslicesrc.FromElement(e)
			}
		}
	}
	return pl, nil
}

func load(cfg Config, pl *player.Player) (*player.Utterance, error) {
	if cfg.Idle != "" || cfg.Frames != "" {
		if pl.Video == nil {
			return nil, errors.New("runner: --idle/--frames need a singleframesrc in the pipeline")
		}
	}
	var format string
	var w, h, fpsN, fpsD int
	if pl.Video != nil {
		e := pl.Video.Self
		f, _ := e.GetProperty("format")
		wv, _ := e.GetProperty("width")
		hv, _ := e.GetProperty("height")
		fr, _ := e.GetProperty("framerate")
		format, w, h = f.(string), wv.(int), hv.(int)
		fmt.Sscanf(fr.(string), "%d/%d", &fpsN, &fpsD)
	}
	if cfg.Idle != "" {
		img, err := mediafile.Image(cfg.Idle, format, w, h)
		if err != nil {
			return nil, err
		}
		if err := pl.Video.SetIdle(img); err != nil {
			return nil, err
		}
	}
	if cfg.Audio == "" {
		if cfg.Frames != "" {
			return nil, errors.New("runner: --frames plays with --audio (video stops when audio ends)")
		}
		return nil, nil
	}
	if pl.Audio == nil {
		return nil, errors.New("runner: --audio needs a pcmslicesrc in the pipeline")
	}
	rv, _ := pl.Audio.Self.GetProperty("rate")
	cv, _ := pl.Audio.Self.GetProperty("channels")
	rate, ch := rv.(int), cv.(int)
	raw, err := mediafile.Audio(cfg.Audio, rate, ch)
	if err != nil {
		return nil, err
	}
	u := &player.Utterance{PCM: raw, Format: pcm.Format{Type: pcm.S16, Rate: rate, Channels: ch}}
	if cfg.Frames != "" {
		if u.Frames, err = mediafile.Frames(cfg.Frames, format, w, h, fpsN, fpsD); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// endWait is how long EOS may take to get through once the sources have ended. Network
// sinks finish their protocol first, so it is generous; rtspclientsink, which can take
// longer still, is let go once it has every stream's end (delivered.go).
const endWait = 30 * time.Second

// watch owns the bus: one goroutine-free loop popping messages with a short timeout,
// so ctx, progress and the utterance's end are seen without a GLib main loop.
func watch(ctx context.Context, p *gst.Pipeline, pl *player.Player, pb *player.Playback, sent *delivery, progress io.Writer) error {
	bus := p.GetPipelineBus()
	var done <-chan struct{}
	if pb != nil {
		done = pb.Done()
	}
	ending := false
	var endDeadline time.Time
	lastProgress := time.Now()
	end := func(at time.Duration) {
		if pl.Audio != nil {
			pl.Audio.EndAt(at)
		}
		if pl.Video != nil {
			pl.Video.EndAt(at)
		}
		ending, endDeadline = true, time.Now().Add(endWait)
	}
	for {
		msg := bus.TimedPopFiltered(gst.ClockTime(100*time.Millisecond), gst.MessageEOS|gst.MessageError|gst.MessageWarning)
		if msg != nil {
			switch msg.Type() {
			case gst.MessageEOS:
				return nil
			case gst.MessageError:
				gerr := msg.ParseError()
				return &ErrElement{Element: msg.Source(), Err: gerr, Debug: gerr.DebugString()}
			case gst.MessageWarning:
				if progress != nil {
					fmt.Fprintf(progress, "warning from %s: %v\n", msg.Source(), msg.ParseWarning())
				}
			}
		}
		select {
		case <-ctx.Done():
			if !ending {
				if progress != nil {
					fmt.Fprintln(progress, "stopping: finalising output")
				}
				end(0) // EOS at the next buffer of each source
			}
		case <-done:
			done = nil
			at, _ := pb.End()
			end(at)
		default:
		}
		if ending && sent.handedOver() {
			if progress != nil {
				fmt.Fprintln(progress, "rtspclientsink has every stream's end; stopping without its RTCP end")
			}
			return nil
		}
		if ending && time.Now().After(endDeadline) {
			return fmt.Errorf("runner: no EOS within %v of the end: pipeline frozen", endWait)
		}
		if progress != nil && pb != nil && time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			fmt.Fprintf(progress, "played %v (%s)\n", pb.Position().Played.Round(10*time.Millisecond), pb.State())
		}
	}
}
