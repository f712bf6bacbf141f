package session

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"strings"
)

// decode turns a JPEG/PNG frame into BGR of the session's size; raw frames pass.
func (s *Session) decode(data []byte) ([]byte, error) {
	if !s.cfg.Encoded() {
		return data, nil
	}
	var img image.Image
	var err error
	if strings.EqualFold(s.cfg.Format, "png") {
		img, err = png.Decode(bytes.NewReader(data))
	} else {
		img, err = jpeg.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	b := img.Bounds()
	if b.Dx() != s.cfg.Width || b.Dy() != s.cfg.Height {
		return nil, fmt.Errorf("%w: %dx%d, session is %dx%d", ErrBadFrame, b.Dx(), b.Dy(), s.cfg.Width, s.cfg.Height)
	}
	stride := (s.cfg.Width*3 + 3) &^ 3
	out := make([]byte, stride*s.cfg.Height)
	for y := 0; y < s.cfg.Height; y++ {
		row := out[y*stride:]
		for x := 0; x < s.cfg.Width; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			row[3*x], row[3*x+1], row[3*x+2] = byte(bl>>8), byte(g>>8), byte(r>>8)
		}
	}
	return out, nil
}
