package session

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

// decode turns a JPEG/PNG frame into BGR of the session's size; raw frames pass.
//
// The header is read first (DecodeConfig) and must claim the session's size: a
// 100-byte PNG can claim 65535×65535 16-bit RGBA, and Decode would allocate its 34 GB
// before finding the data missing.
func (s *Session) decode(data []byte) ([]byte, error) {
	in := s.cfg.p.in
	if !in.encoded() {
		return data, nil
	}
	decodeConfig, decode := jpeg.DecodeConfig, jpeg.Decode
	if in == formatPNG {
		decodeConfig, decode = png.DecodeConfig, png.Decode
	}
	hdr, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if hdr.Width != s.cfg.Width || hdr.Height != s.cfg.Height {
		return nil, fmt.Errorf("%w: header says %dx%d, session is %dx%d", ErrBadFrame, hdr.Width, hdr.Height, s.cfg.Width, s.cfg.Height)
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	b := img.Bounds()
	if b.Dx() != s.cfg.Width || b.Dy() != s.cfg.Height {
		return nil, fmt.Errorf("%w: %dx%d, session is %dx%d", ErrBadFrame, b.Dx(), b.Dy(), s.cfg.Width, s.cfg.Height)
	}
	return toBGR(img, s.cfg.p.frameBytes()), nil
}

// toBGR writes img as BGR rows padded to 4 bytes (GStreamer's stride), size bytes.
func toBGR(img image.Image, size int) []byte {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	stride := (w*3 + 3) &^ 3
	out := make([]byte, size)
	if yc, ok := img.(*image.YCbCr); ok { // JPEG's: no color.Color boxed per pixel
		for y := 0; y < h; y++ {
			row := out[y*stride:]
			for x := 0; x < w; x++ {
				c := yc.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				row[3*x], row[3*x+1], row[3*x+2] = bl, g, r
			}
		}
		return out
	}
	for y := 0; y < h; y++ {
		row := out[y*stride:]
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			row[3*x], row[3*x+1], row[3*x+2] = byte(bl>>8), byte(g>>8), byte(r>>8)
		}
	}
	return out
}
