// Package connlimit caps the connections that lamb's listeners hold: per
// client address on each listener, and in total across them, below the
// process's descriptor limit. Without caps, idle connections from anyone
// (about 20,000 of them) took every descriptor, and HTTP and SSH went down
// together.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Budget is the number of client connections the process may hold at once,
// shared by the listeners that use it.
type Budget struct{ slots chan struct{} }

// NewBudget returns a budget of n connections.
func NewBudget(n int) *Budget { return &Budget{slots: make(chan struct{}, max(1, n))} }

// Listener is a net.Listener that holds at most perAddr connections from
// one client address (IPv6: one /64) and takes each connection from a
// shared Budget.
type Listener struct {
	net.Listener
	budget  *Budget
	perAddr int

	mu     sync.Mutex
	count  map[string]int
	closed chan struct{}
	once   sync.Once
}

// Wrap returns ln with the caps: budget (nil: none) and perAddr (0: none).
func Wrap(ln net.Listener, budget *Budget, perAddr int) *Listener {
	return &Listener{Listener: ln, budget: budget, perAddr: perAddr, count: map[string]int{}, closed: make(chan struct{})}
}

// Accept returns the next connection within the caps. A client past its
// own cap is closed at once. At the total cap, Accept holds the connection
// it took until another closes, and takes no more meanwhile: new clients
// wait in the kernel's backlog while the connections already held
// (consoles, streams) keep working. (Taking the slot first would have each
// listener idle in Accept hold a slot that no connection uses.)
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := ClientKey(c.RemoteAddr().String())
		if !l.enter(key) {
			c.Close()
			continue
		}
		if l.budget != nil {
			select {
			case l.budget.slots <- struct{}{}:
			case <-l.closed:
				c.Close()
				l.leave(key)
				return nil, net.ErrClosed
			}
		}
		return &conn{Conn: c, done: func() { l.leave(key); l.release() }}, nil
	}
}

// Close stops accepting; a wait for room in the budget ends too.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *Listener) release() {
	if l.budget != nil {
		<-l.budget.slots
	}
}

func (l *Listener) enter(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perAddr > 0 && l.count[key] >= l.perAddr {
		return false
	}
	l.count[key]++
	return true
}

func (l *Listener) leave(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count[key]--; l.count[key] <= 0 {
		delete(l.count, key)
	}
}

// conn gives its place back once, when closed.
type conn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.done)
	return err
}

// ClientKey is the client a network address belongs to: an IPv4 address,
// or an IPv6 /64, since one host usually holds a whole /64. Anything that
// doesn't parse is its own client.
func ClientKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	var addr netip.Addr
	if err == nil {
		addr = ap.Addr()
	} else if addr, err = netip.ParseAddr(remote); err != nil {
		return remote
	}
	if addr.Is6() && !addr.Is4In6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.Unmap().String()
}
