package session

import (
	"fmt"

	"github.com/avhost/avhost/pipelines"
)

// DefaultPipeline is a session's pipeline, pipelines/session.pipeline: the two
// sources, one H.264 and one Opus encode, and the tees and appsinks the outputs take
// them from. Its ${NAME}s are those of params.vars.
var DefaultPipeline = pipelines.Session()

// render fills a pipeline file's ${NAME}s with c's typed values (c is filled). The
// text is the operator's; it sees params only, so nothing a client sent is text in
// the result.
func render(text string, c Config) (string, error) {
	desc, err := pipelines.Render(text, c.p.vars())
	if err != nil {
		return "", fmt.Errorf("session: pipeline: %w", err)
	}
	return desc, nil
}
