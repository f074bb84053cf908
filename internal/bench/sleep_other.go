//go:build !linux

package bench

import "time"

// sleepUntil sleeps until t with Go's timer. Outside Linux there is no
// syscall.Nanosleep in the standard library: the proxy's delay is then as
// precise as the platform's timers (on Linux they wake about 1 ms late, so
// figures of the network variants measured elsewhere are not comparable
// with the published ones, which come from Linux).
func sleepUntil(t time.Time) {
	time.Sleep(time.Until(t) - sleepSlack)
}
