package record

import "path"

// enforceCap deletes the session's oldest closed segments while its segments in the
// directory (earlier recordings' included, the current one counted) exceed
// MaxBytes. It runs at each rotation: the current segment alone stays below
// MaxBytes/4, so the cap holds within a quarter.
func (rec *Recorder) enforceCap() {
	dir, err := rec.root.Open(rec.cfg.Session)
	if err != nil {
		rec.log.Warn("recording: cannot list the directory for the byte cap", "err", err)
		return
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		rec.log.Warn("recording: cannot list the directory for the byte cap", "err", err)
		return
	}
	cur := path.Base(rec.seg.name)
	size := map[string]int64{}
	var files []string
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() || !ownSegment(rec.cfg.Session, e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		total += info.Size()
		if e.Name() != cur {
			files = append(files, e.Name())
			size[e.Name()] = info.Size()
		}
	}
	byAge(files)
	for _, f := range files {
		if total <= rec.cfg.MaxBytes {
			return
		}
		if err := rec.root.Remove(path.Join(rec.cfg.Session, f)); err != nil {
			rec.log.Warn("recording: cannot delete an old segment", "file", f, "err", err)
			continue
		}
		total -= size[f]
		rec.mu.Lock()
		rec.st.Deleted++
		rec.mu.Unlock()
		rec.log.Info("recording: byte cap: deleted the oldest segment", "file", f)
	}
}
