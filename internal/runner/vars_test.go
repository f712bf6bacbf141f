package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/runner"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// Flags reach ${NAME} in a pipeline as typed values: text that would add elements to
// the description (issue 10, row 1, for `avhost run`) is refused before parsing, and
// the file it would have copied is not written.
func TestRunRefusesFlagsThatAreNotTheirType(t *testing.T) {
	gsttest.Init()
	// copyFile is shaped to parse where it lands in pipelines/record.pipeline, so
	// pasted as text it runs: a filesrc copying /etc/hostname to stolen.
	copyFile := func(stolen string) string {
		return "filesrc location=/etc/hostname ! filesink location=" + stolen
	}
	cases := []struct {
		name, want string
		cfg        func(out, stolen string) runner.Config
	}{
		{"an fps with elements after it", "--fps", func(out, stolen string) runner.Config {
			return runner.Config{FPS: "25/1 ! fakesink " + copyFile(stolen) + " singleframesrc name=v2 framerate=25/1", Out: out}
		}},
		{"an fps with a sign", "--fps", func(out, _ string) runner.Config { return runner.Config{FPS: "+25", Out: out} }},
		{"an output with elements after it", "--out", func(out, stolen string) runner.Config {
			return runner.Config{Out: out + " " + copyFile(stolen)}
		}},
		{"an output in quotes", "--out", func(out, _ string) runner.Config { return runner.Config{Out: `"` + out + `"`} }},
		{"an odd width", "--width", func(out, _ string) runner.Config { return runner.Config{Width: 511, Out: out} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out, stolen := filepath.Join(dir, "talk.mkv"), filepath.Join(dir, "stolen")
			cfg := c.cfg(out, stolen)
			cfg.Pipeline, cfg.Dir = "record", "../../pipelines"
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := runner.Run(ctx, cfg)
			for _, f := range []string{stolen, out} {
				if _, err := os.Stat(f); err == nil {
					t.Fatalf("%s was written", f)
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %s", err, c.want)
			}
		})
	}
}
