package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestEqual(t *testing.T) {
	if !Equal("s3cret-token", "s3cret-token") || Equal("s3cret-toke", "s3cret-token") || Equal("", "") || Equal("x", "") {
		t.Fatal("Equal")
	}
}

func TestTicketIsSingleUseAndExpires(t *testing.T) {
	tk := Tickets{TTL: 50 * time.Millisecond}
	id, _ := tk.Issue("cred")
	if c, ok := tk.Redeem(id); !ok || c != "cred" {
		t.Fatalf("first redeem: %q %v", c, ok)
	}
	if _, ok := tk.Redeem(id); ok {
		t.Fatal("a ticket redeemed twice")
	}
	id, _ = tk.Issue("cred")
	time.Sleep(60 * time.Millisecond) // waiting out the TTL is the thing tested
	if _, ok := tk.Redeem(id); ok {
		t.Fatal("an expired ticket redeemed")
	}
}

// One credential's flood of tickets evicts its own oldest, never others' tickets, and
// never makes the host run out.
func TestTicketsPerCredentialCap(t *testing.T) {
	tk := Tickets{Max: 100, PerCred: 4}
	other, _ := tk.Issue("host")
	var first string
	for i := 0; i < 10000; i++ {
		id, err := tk.Issue("viewer")
		if err != nil {
			t.Fatalf("issue %d: %v", i, err)
		}
		if i == 0 {
			first = id
		}
	}
	if _, ok := tk.Redeem(first); ok {
		t.Fatal("the flooder's oldest ticket survived its cap")
	}
	if c, ok := tk.Redeem(other); !ok || c != "host" {
		t.Fatal("another credential's ticket was evicted")
	}
	for i := 0; i < 100; i++ {
		if _, err := tk.Issue(fmt.Sprint("cred", i)); err != nil && !errors.Is(err, ErrTooManyTickets) {
			t.Fatal(err)
		}
	}
	if len(tk.m) > 100 {
		t.Fatalf("%d tickets outstanding past Max", len(tk.m))
	}
}
