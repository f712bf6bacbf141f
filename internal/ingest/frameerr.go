package ingest

import (
	"errors"
	"strings"

	"github.com/avhost/avhost/elements/singleframesrc"
)

func isFrameErr(err error) bool {
	return errors.Is(err, singleframesrc.ErrFrameSize) || strings.HasPrefix(err.Error(), "session: frame")
}
