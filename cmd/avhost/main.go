// Command avhost streams a digital human: see `avhost help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements"
	"github.com/avhost/avhost/internal/runner"
)

const usage = `avhost — a GStreamer host for real-time digital humans

Usage:
  avhost serve [flags]          run the host: sessions, ingest API, demo avatar, page
  avhost run PIPELINE [flags]   run a pipeline (file, name under pipelines/, or inline)
  avhost doctor [--apply]       check the kernel settings that matter under connection churn
  avhost loadtest [flags]       load client: connect/close churn or many idle connections
  avhost inspect                list avhost's elements and their properties
  avhost help

Run "avhost run -h" for its flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the first signal stops gracefully; a second one kills at once
	}()
	var err error
	switch os.Args[1] {
	case "run":
		err = run(ctx, os.Args[2:])
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "inspect":
		err = inspect(os.Stdout)
	case "doctor":
		err = doctorCmd(os.Args[2:])
	case "loadtest":
		err = loadtestCmd(ctx, os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "avhost: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "avhost:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

func initGst() {
	gst.Init(nil)
	elements.Register()
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var cfg runner.Config
	fs.StringVar(&cfg.Audio, "audio", "", "audio file to speak (WAV of any rate/channels, or anything GStreamer decodes)")
	fs.StringVar(&cfg.Frames, "frames", "", "directory of numbered PNG/JPEG frames, or a video")
	fs.StringVar(&cfg.Idle, "idle", "", "image shown when not speaking")
	fs.StringVar(&cfg.Out, "out", "", "output file, ${OUT} in the pipeline")
	fs.StringVar(&cfg.FPS, "fps", "25", "frame rate, ${FPS} in the pipeline (N or N/D)")
	fs.IntVar(&cfg.Width, "width", 512, "frame width, ${WIDTH}")
	fs.IntVar(&cfg.Height, "height", 512, "frame height, ${HEIGHT}")
	fs.StringVar(&cfg.Dir, "pipelines", "pipelines", "directory of .pipeline files")
	fs.StringVar(&cfg.RTSP, "rtsp", ":8554", "for pipelines ending in appsinks vout/aout: RTSP address to serve them on")
	fs.StringVar(&cfg.RTSPPath, "rtsp-path", "avatar", "RTSP path (rtsp://HOST:PORT/PATH)")
	live := fs.String("live", "auto", "auto, true or false: ${LIVE} (auto: not live when rendering --audio to --out)")
	quiet := fs.Bool("q", false, "no progress output")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: avhost run PIPELINE [flags]\n\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after PIPELINE, as with gst-launch.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("run takes one PIPELINE (quote an inline description)")
	}
	cfg.Pipeline = pos[0]
	switch *live {
	case "true", "false":
		v := *live == "true"
		cfg.Live = &v
	case "auto":
	default:
		return fmt.Errorf("-live %q: want auto, true or false", *live)
	}
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	initGst()
	return runner.Run(ctx, cfg)
}
