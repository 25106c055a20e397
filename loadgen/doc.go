// Package loadgen drives a Zaqar Messaging API v2 endpoint with producers,
// consumers and observers, as the original zaqar-bench does, and measures
// it: an HDR latency histogram per worker and operation (merged at the
// end), request and message rates, errors by status, end-to-end delivery
// latency from a timestamp inside each message body, and an exactly-once
// ledger of every message produced and consumed.
//
// It speaks only the public HTTP API, so the same run measures this
// server, the original Zaqar, or any other v2 endpoint. Requests go
// through fasthttp's HostClient with pooled, reused request objects.
//
// Open loop: with Rate set, each producer sends on a fixed schedule and
// latency is counted from the intended send time, so a stalled server
// shows up as latency instead of being hidden by the generator waiting
// (coordinated omission).
package loadgen
