package runner_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/avhost/avhost/internal/runner"
	"github.com/avhost/avhost/pipelines"
)

func TestResolve(t *testing.T) {
	record, _ := pipelines.Text("record")
	dir := t.TempDir()
	mine := filepath.Join(dir, "record.pipeline")
	if err := os.WriteFile(mine, []byte("fakesrc ! fakesink"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, arg, dir, want string }{
		{"a built-in name, from any directory", "record", "", record},
		{"a built-in file name", "record.pipeline", "", record},
		{"a file in the directory before the built-in one", "record", dir, "fakesrc ! fakesink"},
		{"a path", mine, "", "fakesrc ! fakesink"},
		{"an inline description as it is", "fakesrc ! fakesink", "", "fakesrc ! fakesink"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := runner.Resolve(c.arg, c.dir)
			if err != nil || got != c.want || got == "" {
				t.Fatalf("Resolve(%q, %q) = %q, %v; want %q", c.arg, c.dir, got, err, c.want)
			}
		})
	}
	if _, err := runner.Resolve("nothing.pipeline", ""); err == nil {
		t.Fatal("a missing .pipeline file resolved")
	}
}
