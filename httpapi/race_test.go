//go:build race

package httpapi

// raceEnabled: the race detector allows 8128 live goroutines, which
// bounds how many waiters a test may hold.
const raceEnabled = true
