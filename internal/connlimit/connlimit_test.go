package connlimit

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestClientKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5000", "192.0.2.7"},
		{"[2001:db8:1:2::1]:22", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::9]:22", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"pipe", "pipe"},
	} {
		if got := ClientKey(c.in); got != c.want {
			t.Errorf("ClientKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The default total keeps room below the descriptor limit for the
// database and for each connection's own outgoing call.
func TestBudgetKeepsRoomBelowTheDescriptorLimit(t *testing.T) {
	for _, limit := range []uint64{1024, 20000, 65536} {
		b := budgetFor(limit)
		if 2*b+reserve > int(limit) || b < 32 {
			t.Errorf("budgetFor(%d) = %d", limit, b)
		}
	}
	if b := budgetFor(1 << 40); b != maxDefaultBudget {
		t.Errorf("budgetFor(huge) = %d", b)
	}
	if b := DescriptorBudget(); b < 32 || b > maxDefaultBudget {
		t.Errorf("DescriptorBudget() = %d", b)
	}
}

// Closing the listener ends an Accept that waits for room in the budget,
// and a connection's place is given back once however often it is closed.
func TestListenerAtTheCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Wrap(inner, NewBudget(1), 0)
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	errs := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				errs <- err
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", inner.Addr().String(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	var first net.Conn
	select {
	case first = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("first connection not accepted")
	}
	second := dial()
	first.Close()
	first.Close() // a second Close gives nothing back twice
	select {
	case c := <-accepted:
		c.Write([]byte("x"))
		b := make([]byte, 1)
		second.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(second, b); err != nil {
			t.Fatalf("second connection: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second connection not accepted after the first closed")
	}
	if n := len(ln.budget.slots); n != 1 {
		t.Fatalf("%d slots taken, want 1", n)
	}
	dial() // waits for room
	ln.Close()
	select {
	case <-errs:
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
}
