// Package elements registers avhost's GStreamer elements for in-process use.
package elements

import (
	"github.com/avhost/avhost/elements/pcmslicesrc"
	"github.com/avhost/avhost/elements/singleframesrc"
)

// Register registers every avhost element statically; call it once after gst.Init.
func Register() bool {
	return singleframesrc.Register() && pcmslicesrc.Register()
}
