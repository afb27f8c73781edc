package loadtest

import "time"

// SetRedialFor shortens how long agents and the control connection wait for a coordinator that went
// away (tests); the returned func restores it.
func SetRedialFor(d time.Duration) (restore func()) {
	prev := redialFor
	redialFor = d
	return func() { redialFor = prev }
}
