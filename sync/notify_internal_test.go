package sync

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestNotifier_OneSendAtATimeAndNoWakeUpLost: wake-ups asked for while a
// send is running (held here, as one waiting for the notify lock or a
// connection would be) start no second send beside it; they share one send
// that begins after it ends.
func TestNotifier_OneSendAtATimeAndNoWakeUpLost(t *testing.T) {
	e := &Engine{cfg: Config{}, log: slog.New(slog.DiscardHandler)}
	release := make(chan struct{})
	began := make(chan int, 10)
	var running, most, sends atomic.Int32
	n := &notifier{e: e, interval: time.Millisecond, sendFn: func(context.Context) error {
		k := sends.Add(1)
		if r := running.Add(1); r > most.Load() {
			most.Store(r)
		}
		began <- int(k)
		if k == 1 {
			<-release
		}
		running.Add(-1)
		return nil
	}}
	n.wake()
	assert.Equal(t, 1, <-began, "the first wake-up sends")
	for range 50 { // commits while the first send is held
		n.wake()
	}
	select {
	case k := <-began:
		t.Fatalf("send %d began while the first was running", k)
	default:
	}
	close(release)
	assert.Equal(t, 2, <-began, "the wake-ups asked for meanwhile get a send after it")
	assert.EqualValues(t, 1, most.Load(), "never two sends at once")
}
