package syncuow

import (
	"fmt"
	gosync "sync"
)

// guard tells whether a unit of work is still open and which statements sent
// through it are still in flight. Run closes it when fn returns: from then on
// the transaction belongs to Run (which commits it, possibly through a
// pipeline that pgx does not see, and returns the connection to the pool),
// and every use through the Work fails with ErrDone.
//
// A statement is in flight from the moment it is sent until its results are
// read: a call (Exec, CopyFrom, Prepare, Begin, Commit...) until it returns;
// Rows, a Row and BatchResults until they are closed (a Row by its Scan).
// A statement still in flight when fn returns was sent by fn's goroutine
// that nobody waited for, or left unread: its changes could never be
// recorded, so close reports it and Run rolls back.
type guard struct {
	mu     gosync.Mutex
	idle   *gosync.Cond // broadcast when calls drops to zero
	closed bool
	// cut: close found statements in flight; the unit of work rolls back.
	cut   bool
	calls int                   // calls under way
	open  map[*pending]struct{} // results sent but not yet read to the end
}

func (g *guard) init() {
	if g.idle == nil {
		g.idle = gosync.NewCond(&g.mu)
	}
}

// do runs send unless the unit of work is closed, counting it in flight
// meanwhile. A call that was in flight when the unit of work closed fails
// with ErrDone whatever it did: the unit of work rolls back.
func (g *guard) do(what string, send func() error) error {
	g.mu.Lock()
	g.init()
	if g.closed {
		g.mu.Unlock()
		return fmt.Errorf("%s: %w", what, ErrDone)
	}
	g.calls++
	g.mu.Unlock()
	err := send()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls--
	if g.calls == 0 {
		g.idle.Broadcast()
	}
	if g.cut {
		if err != nil {
			return fmt.Errorf("%s: %w (%w)", what, ErrDone, err)
		}
		return fmt.Errorf("%s: statement still running when fn returned, rolled back: %w", what, ErrDone)
	}
	return err
}

// track registers results that stay in flight until they are read; call it
// from inside do, so that close sees them once the call has returned.
func (g *guard) track(closeFn func()) *pending {
	p := &pending{g: g, closeFn: closeFn}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = map[*pending]struct{}{}
	}
	g.open[p] = struct{}{}
	return p
}

// forget drops results that were read to the end.
func (g *guard) forget(p *pending) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.open, p)
}

// wasCut tells whether close found statements in flight.
func (g *guard) wasCut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cut
}

// close ends the unit of work and tells whether statements were in flight.
// If some were, it calls interrupt (which cancels what the server is running
// for the connection, so a statement blocked on a lock ends now), waits for
// the calls under way to return, and closes the results nobody read (waiting
// for a read under way), so the connection is idle and Run may roll back.
// Calling close again returns the first answer.
func (g *guard) close(interrupt func()) bool {
	g.mu.Lock()
	g.init()
	if g.closed {
		defer g.mu.Unlock()
		return g.cut
	}
	g.closed = true
	g.cut = g.calls > 0 || len(g.open) > 0
	cut := g.cut
	g.mu.Unlock()
	if !cut {
		return false
	}
	if interrupt != nil {
		interrupt()
	}
	g.mu.Lock()
	for g.calls > 0 {
		g.idle.Wait()
	}
	open := make([]*pending, 0, len(g.open))
	for p := range g.open {
		open = append(open, p)
	}
	g.mu.Unlock()
	for _, p := range open {
		p.cutOff()
	}
	return true
}

// pending is a statement whose results are read after the call that sent it
// returned. Its mutex is held while they are read, so that close can take
// them from a goroutine that is reading them without a data race.
type pending struct {
	mu      gosync.Mutex
	g       *guard
	closeFn func() // closes the results, reading what is left
	done    bool
}

// finish marks the results read to the end; p.mu is held.
func (p *pending) finish() {
	if !p.done {
		p.done = true
		p.g.forget(p)
	}
}

// cutOff closes results nobody read to the end.
func (p *pending) cutOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		p.closeFn()
		p.finish()
	}
}

// err is the error of results read after the unit of work was cut off.
func (p *pending) err(what string, err error) error {
	if p.g.wasCut() {
		if err != nil {
			return fmt.Errorf("%s: %w (%w)", what, ErrDone, err)
		}
		return fmt.Errorf("%s: results cut off when fn returned, rolled back: %w", what, ErrDone)
	}
	return err
}
