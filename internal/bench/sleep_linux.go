package bench

import (
	"errors"
	"syscall"
	"time"
)

// sleepUntil sleeps until t with nanosleep: Go's timers wake about 1 ms
// late on Linux, twice the delay the proxy is for.
func sleepUntil(t time.Time) {
	for {
		d := time.Until(t) - sleepSlack
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(d))
		if err := syscall.Nanosleep(&ts, nil); !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}
