package session

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
)

// Manager holds the host's sessions.
type Manager struct {
	// MaxSessions caps live sessions; defaults to 16.
	MaxSessions int
	// MemoryBudget caps the sum of the sessions' estimated memory (Cost) in bytes: a
	// create that would go over it fails with ErrMemoryBudget. Defaults to
	// DefaultMemoryBudget(); negative: no budget.
	MemoryBudget int64
	Log          *slog.Logger
	// OnCreate, if set, runs for each new session before Create returns (outputs
	// attach there); an error closes the session and fails Create.
	OnCreate func(*Session) error

	mu       sync.Mutex
	sessions map[string]*Session
	creating map[string]bool
	cost     map[string]int64 // estimated memory of each live or starting session
	reserved int64            // their sum
	// account tells apart the sessions that held one id in turn: a session's budget
	// hook (reserveFor) moves bytes only while its own account is the id's, so one
	// closed and replaced under its id cannot move its successor's.
	account map[string]*byte
}

// Create starts a session. The pipeline is built outside the lock: a slow start does
// not hold up other sessions.
func (m *Manager) Create(cfg Config) (*Session, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	cost := cfg.cost()
	// The caps are checked and the slot and memory reserved under one lock, so
	// concurrent creates cannot all pass the check.
	m.mu.Lock()
	if m.sessions == nil {
		m.sessions, m.creating, m.cost = map[string]*Session{}, map[string]bool{}, map[string]int64{}
		m.account = map[string]*byte{}
	}
	if m.MaxSessions == 0 {
		m.MaxSessions = 16
	}
	if m.MemoryBudget == 0 {
		m.MemoryBudget = DefaultMemoryBudget()
	}
	if m.sessions[cfg.ID] != nil || m.creating[cfg.ID] {
		m.mu.Unlock()
		return nil, ErrExists
	}
	if len(m.sessions)+len(m.creating) >= m.MaxSessions {
		m.mu.Unlock()
		return nil, ErrLimit
	}
	if m.MemoryBudget > 0 && m.reserved+cost > m.MemoryBudget {
		used, budget := m.reserved, m.MemoryBudget
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: a %dx%d session needs about %d MiB; sessions hold %d of the host's %d MiB",
			ErrMemoryBudget, cfg.Width, cfg.Height, cost>>20, used>>20, budget>>20)
	}
	m.creating[cfg.ID] = true
	m.cost[cfg.ID] = cost
	m.reserved += cost
	acct := new(byte)
	m.account[cfg.ID] = acct
	m.mu.Unlock()

	log := m.Log
	if log == nil {
		log = slog.Default()
	}
	s, err := newSession(cfg, log)
	if err == nil {
		s.clip.reserve = m.reserveFor(cfg.ID, acct) // idle clips count against the budget
	}
	if err == nil && m.OnCreate != nil {
		if err = m.OnCreate(s); err != nil {
			s.Close()
		}
	}
	m.mu.Lock()
	delete(m.creating, cfg.ID)
	if err == nil {
		m.sessions[cfg.ID] = s
	} else {
		m.release(cfg.ID)
	}
	m.mu.Unlock()
	if err == nil {
		log.Info("session created", "session", cfg.ID, "size", [2]int{cfg.Width, cfg.Height}, "fps", cfg.FPS)
	}
	return s, err
}

// Get returns a session by id.
func (m *Manager) Get(id string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sessions[id]; s != nil {
		return s, nil
	}
	return nil, ErrNotFound
}

// List returns the sessions sorted by id.
func (m *Manager) List() []*Session {
	m.mu.Lock()
	out := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, s)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Close tears a session down.
func (m *Manager) Close(id string) error {
	m.mu.Lock()
	s := m.sessions[id]
	delete(m.sessions, id)
	if s != nil {
		m.release(id)
	}
	m.mu.Unlock()
	if s == nil {
		return ErrNotFound
	}
	return s.Close()
}

// release returns a session's memory to the budget; m.mu is held.
func (m *Manager) release(id string) {
	m.reserved -= m.cost[id]
	delete(m.cost, id)
	delete(m.account, id)
}

// Reserved is the estimated memory of the live and starting sessions, in bytes.
func (m *Manager) Reserved() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reserved
}

// CloseAll tears every session down (shutdown).
func (m *Manager) CloseAll() {
	for _, s := range m.List() {
		m.Close(s.ID)
	}
}
