package record

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
)

// segment is one MPEG-TS file being written. An MPEG-TS file is a run of 188-byte
// packets, each of which a demuxer can take on its own, with the tables (PAT, PMT)
// written at the start and again at every key frame: whatever prefix of the file
// reaches the disk plays, up to its last whole packet. So a segment needs no index
// and no trailer, and a process killed mid-write leaves a playable file.
type segment struct {
	name    string // relative to the recording directory
	f       *os.File
	bw      *bufio.Writer
	n       int64 // bytes handed to f
	w       *mpegts.Writer
	video   *mpegts.Track
	audio   *mpegts.Track
	startRT time.Duration // running time of its first (key) frame
}

// maxNames bounds the "-N" suffixes tried when a name is taken.
const maxNames = 100

// openSegment creates the next segment file of session id under root (never
// overwriting one) and writes its tables.
func openSegment(root *os.Root, id string, start time.Time, rt time.Duration, channels int) (*segment, error) {
	sg := &segment{startRT: rt, video: &mpegts.Track{Codec: &mpegts.CodecH264{}},
		audio: &mpegts.Track{Codec: &mpegts.CodecOpus{ChannelCount: channels}}}
	for i := 0; ; i++ {
		sg.name = segmentName(id, start, i)
		f, err := root.OpenFile(sg.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			sg.f = f
			break
		}
		if !errors.Is(err, fs.ErrExist) || i == maxNames-1 {
			return nil, err
		}
	}
	// The buffer only gathers one unit's packets into one write (flushed per unit);
	// 64 KiB holds a key frame of the default 1.5 Mbit/s encode.
	sg.bw = bufio.NewWriterSize(fileCounter{sg}, 64<<10)
	sg.w = &mpegts.Writer{W: sg.bw, Tracks: []*mpegts.Track{sg.video, sg.audio}}
	if err := sg.w.Initialize(); err != nil {
		sg.f.Close()
		return nil, err
	}
	if _, err := sg.bw.Write(nullPackets); err != nil {
		sg.f.Close()
		return nil, err
	}
	return sg, nil
}

// nullPackets lead every segment. ffmpeg's MPEG-TS probe wants some ten packets
// (libavformat/mpegts.c); a segment cut a few units in by a kill or a stop (four
// packets, in a test) was probed as MPEG-PS and its Opus read as MP2. Null packets (PID 0x1FFF, ISO/IEC 13818-1 §2.4.3.3), which every
// demuxer skips, make every segment long enough, for 2 KiB each.
var nullPackets = func() []byte {
	const n = 11
	b := make([]byte, n*188)
	for i := range n {
		p := b[i*188 : (i+1)*188]
		p[0], p[1], p[2], p[3] = 0x47, 0x1F, 0xFF, 0x10 // sync, PID 0x1FFF, payload only
		for j := 4; j < len(p); j++ {
			p[j] = 0xFF
		}
	}
	return b
}()

// fileCounter writes to the segment's file and counts the bytes.
type fileCounter struct{ sg *segment }

func (c fileCounter) Write(b []byte) (int, error) {
	n, err := c.sg.f.Write(b)
	c.sg.n += int64(n)
	return n, err
}

// writeVideo writes an H.264 access unit (Annex B byte stream) at pts (90 kHz).
// The encode has no B-frames (constrained baseline), so DTS is PTS.
func (sg *segment) writeVideo(au []byte, pts int64) error {
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(au); err != nil { // slices au, never writes to it
		return err
	}
	if err := sg.w.WriteH264(sg.video, pts, pts, nalus); err != nil {
		return err
	}
	return sg.flush()
}

// writeAudio writes one Opus packet at pts (90 kHz), framed as the ETSI draft
// mapping of Opus into MPEG-TS (0.1.3: a control header per packet) has it, which
// ffmpeg and GStreamer's tsdemux read.
func (sg *segment) writeAudio(pkt []byte, pts int64) error {
	if err := sg.w.WriteOpus(sg.audio, pts, [][]byte{pkt}); err != nil {
		return err
	}
	return sg.flush()
}

// flush hands what the last unit made to the kernel: a kill -9 then loses at most
// the unit being written. The page cache outlives the process; Sync at close makes
// a closed segment outlive the machine too.
func (sg *segment) flush() error { return sg.bw.Flush() }

// close flushes, syncs and closes the file.
func (sg *segment) close() error {
	err := sg.bw.Flush()
	if e := sg.f.Sync(); err == nil {
		err = e
	}
	if e := sg.f.Close(); err == nil {
		err = e
	}
	return err
}
