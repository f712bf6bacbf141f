package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/avhost/avhost/internal/record"
	"github.com/avhost/avhost/internal/session"
)

// Every record route needs the host token: a recording fills this host's disk. A
// request names the session and may set the segment length within bounds; where the
// files go is the configuration's (record.dir), never the network's.

// errRecording is a start refused because the session is being recorded already.
var errRecording = errors.New("the session is being recorded already")

// checkRecordConfig checks the record section at start, so a bad value stops avhost
// serve instead of failing when a session appears.
func checkRecordConfig(cfg Config) error {
	rc := cfg.Record
	if rc.Segment < record.MinSegment || rc.Segment > record.MaxSegment {
		return fmt.Errorf("%w: record.segment %v is outside %v…%v", ErrConfig, rc.Segment, record.MinSegment, record.MaxSegment)
	}
	if rc.MaxBytes < record.MinMaxBytes {
		return fmt.Errorf("%w: record.max_bytes %d is below %d", ErrConfig, rc.MaxBytes, record.MinMaxBytes)
	}
	for _, id := range rc.Sessions {
		if err := record.CheckName(id); err != nil {
			return fmt.Errorf("%w: record.sessions: %w", ErrConfig, err)
		}
	}
	return nil
}

// recordsFromStart says whether the configuration records session id from its creation.
func (s *Server) recordsFromStart(id string) bool {
	return s.cfg.Record.All || slices.Contains(s.cfg.Record.Sessions, id)
}

// recordStarts serialises the starts of recordings (of every server in the process),
// so that two cannot both find a session unrecorded, while record.Start's disk work
// (a directory made, a root opened) runs outside hmu: a slow disk holds up other
// starts, never the lookups of viewers.
var recordStarts sync.Mutex

// startRecording records sess in segments of seg (0: record.segment).
func (s *Server) startRecording(sess *session.Session, seg time.Duration) (record.Status, error) {
	id := sess.ID
	if err := record.CheckName(id); err != nil {
		return record.Status{}, err
	}
	if seg == 0 {
		seg = s.cfg.Record.Segment
	}
	recordStarts.Lock()
	defer recordStarts.Unlock()
	s.hmu.Lock()
	h := s.hosted[id]
	var cur *record.Recorder
	if h != nil {
		cur = h.rec
	}
	s.hmu.Unlock()
	switch {
	case h == nil:
		return record.Status{}, session.ErrNotFound
	case cur != nil:
		return cur.Status(), errRecording
	}
	rec, err := record.Start(h.stream, record.Config{Dir: s.cfg.Record.Dir, Session: id, Segment: seg,
		MaxBytes: s.cfg.Record.MaxBytes, Channels: sess.Config().Channels, Log: s.cfg.Log.With("session", id)})
	if err != nil {
		return record.Status{}, err
	}
	s.hmu.Lock()
	if s.hosted[id] != h { // the session closed meanwhile: nothing would stop rec
		s.hmu.Unlock()
		rec.Close()
		return record.Status{}, session.ErrNotFound
	}
	h.rec = rec
	s.hmu.Unlock()
	return rec.Status(), nil
}

// takeRecorder returns session id's recorder (nil for none), taking it from the
// session when take is set.
func (s *Server) takeRecorder(id string, take bool) *record.Recorder {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	h := s.hosted[id]
	if h == nil {
		return nil
	}
	rec := h.rec
	if take {
		h.rec = nil
	}
	return rec
}

// recordRequest is the body of POST …/record, all optional: {"segment": "10s"}.
type recordRequest struct {
	Segment string `json:"segment"`
}

// startRecord is POST /api/sessions/{id}/record.
func (s *Server) startRecord(w http.ResponseWriter, r *http.Request) {
	var req recordRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1024))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, `want no body or {"segment": "60s"}`, http.StatusBadRequest)
		return
	}
	var seg time.Duration
	if req.Segment != "" {
		d, err := time.ParseDuration(req.Segment)
		if err != nil || d < record.MinSegment || d > record.MaxSegment {
			http.Error(w, fmt.Sprintf("segment: a duration from %v to %v", record.MinSegment, record.MaxSegment), http.StatusBadRequest)
			return
		}
		seg = d
	}
	id := r.PathValue("id")
	if record.CheckName(id) != nil {
		http.Error(w, "this session id cannot name a recording", http.StatusBadRequest)
		return
	}
	sess, err := s.Sessions.Get(id)
	if err != nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	st, err := s.startRecording(sess, seg)
	switch {
	case errors.Is(err, record.ErrName):
		http.Error(w, "this session id cannot name a recording", http.StatusBadRequest)
	case errors.Is(err, session.ErrNotFound):
		http.Error(w, "no such session", http.StatusNotFound)
	case errors.Is(err, errRecording):
		http.Error(w, errRecording.Error(), http.StatusConflict)
	case err != nil:
		s.cfg.Log.Error("recording not started", "session", id, "err", err)
		http.Error(w, "recording not started (the host's log says why)", http.StatusInternalServerError)
	default:
		writeRecordStatus(w, http.StatusCreated, st)
	}
}

// stopRecord is DELETE /api/sessions/{id}/record: the current segment is finished
// and the final status returned.
func (s *Server) stopRecord(w http.ResponseWriter, r *http.Request) {
	rec := s.takeRecorder(r.PathValue("id"), true)
	if rec == nil {
		http.Error(w, "not recording", http.StatusNotFound)
		return
	}
	writeRecordStatus(w, http.StatusOK, rec.Close())
}

// recordStatus is GET /api/sessions/{id}/record: record.Status.
func (s *Server) recordStatus(w http.ResponseWriter, r *http.Request) {
	rec := s.takeRecorder(r.PathValue("id"), false)
	if rec == nil {
		http.Error(w, "not recording", http.StatusNotFound)
		return
	}
	writeRecordStatus(w, http.StatusOK, rec.Status())
}

func writeRecordStatus(w http.ResponseWriter, code int, st record.Status) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(st)
}
