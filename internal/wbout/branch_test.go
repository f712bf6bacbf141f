package wbout

import (
	"os"
	"testing"
)

// The embedded branch is pipelines/webrtcbin.pipeline: one file users read and edit.
func TestEmbeddedBranchIsThePipelineFile(t *testing.T) {
	b, err := os.ReadFile("../../pipelines/webrtcbin.pipeline")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != DefaultBranch() {
		t.Fatal("internal/wbout/branch.pipeline differs from pipelines/webrtcbin.pipeline: copy it over")
	}
}
