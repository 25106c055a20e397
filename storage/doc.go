// Package storage is the contract between the transport layers (httpapi, and
// later wsapi) and the message stores (the embedded engine, the Redis store,
// the pooling router).
//
// The transport guarantees that the data it hands over is well-formed: queue
// names match Zaqar's rules, TTLs and limits are within range, message bodies
// are valid JSON. A store keeps its data model consistent: FIFO per queue, at
// most one live claim per message, expiry never returns a message, everything
// scoped by project. Stores report failures only with the sentinel errors of
// errors.go (wrapped with %w), so the transport can map them to statuses in
// one table.
//
// Every implementation must pass storagetest.Run, the shared conformance
// suite, so behaviour cannot drift between drivers.
package storage
