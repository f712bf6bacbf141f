package main

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// takeOver is the new half of a hitless restart: we already listen (SO_REUSEPORT), so
// the avhost named in pidfile is told to drain and exit (SIGTERM), and the pidfile
// names us from now on.
func takeOver(pidfile string, log *slog.Logger) {
	if b, err := os.ReadFile(pidfile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() {
			if err := syscall.Kill(pid, syscall.SIGTERM); err == nil {
				log.Info("took over the port: told the previous avhost to drain and exit", "pid", pid)
			}
		}
	}
	os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}
