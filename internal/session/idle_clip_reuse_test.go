package session_test

import (
	"testing"

	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// A session closed and a new one created under the same id: whatever the closed one
// still does with its idle picture must not move the new one's reservation in the
// host's budget. The budget hook once found its account by id, so the old session
// giving back its clip's bytes (an idle frame replacing the clip) took them off the
// new session's, and the host then admitted that much more than its budget.
func TestAClosedSessionCannotGiveBackItsSuccessorsReservation(t *testing.T) {
	gsttest.Init()
	cfg := session.Config{ID: "reuse", Width: 64, Height: 64}
	cost, err := session.Cost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const fb = 64 * 64 * 3
	m := &session.Manager{MemoryBudget: 4 * cost}
	defer m.CloseAll()
	old, err := m.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, fb)
	if err := old.SetIdleClip([][]byte{frame, frame, frame, frame}); err != nil {
		t.Fatal(err)
	}
	if got := m.Reserved(); got != cost+4*fb {
		t.Fatalf("reserved %d, want %d", got, cost+4*fb)
	}
	if err := m.Close("reuse"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(cfg); err != nil {
		t.Fatal(err)
	}
	old.Idle(frame) // refused or not, it must not touch the new session's account
	if got := m.Reserved(); got != cost {
		t.Fatalf("after the closed session's idle frame the host holds %d bytes reserved, want %d (the new session's)", got, cost)
	}
}
