package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/avhost/avhost/internal/loadtest"
)

func loadtestCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: avhost loadtest -url ws://127.0.0.1:8080/ingest -token T [-mode churn|idle] [flags]\n\n"+
			"Load client for avhost's WebSocket endpoints. Target only hosts you run.\n\n")
		fs.PrintDefaults()
	}
	var c loadtest.Config
	fs.StringVar(&c.URL, "url", "ws://127.0.0.1:8080/ingest", "endpoint")
	fs.StringVar(&c.Token, "token", "", "bearer token")
	mode := fs.String("mode", "churn", "churn (connect/close cycles) or idle (hold connections with heartbeats)")
	fs.IntVar(&c.Workers, "workers", 8, "churn: concurrent connect/close loops")
	fs.IntVar(&c.Conns, "conns", 1000, "idle: connections to hold")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "churn length, or how long idle connections are held")
	sources := fs.String("sources", "", "comma-separated local IPs to spread connections over (e.g. 127.0.0.2,127.0.0.3)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "idle: server process to read RSS per connection from")
	fs.BoolVar(&c.ServerCloses, "server-closes", false, "churn: the server ends each cycle (bare echo servers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sources != "" {
		c.Sources = strings.Split(*sources, ",")
	}
	// Many connections need many descriptors: raise this process's soft limit to its
	// hard one (the system's settings are left alone).
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	var r loadtest.Result
	switch *mode {
	case "churn":
		r = loadtest.Churn(ctx, c)
	case "idle":
		r = loadtest.Idle(ctx, c)
	default:
		return fmt.Errorf("-mode %q: want churn or idle", *mode)
	}
	fmt.Println(r)
	return nil
}
