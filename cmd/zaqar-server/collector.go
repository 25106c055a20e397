package main

import (
	"github.com/zaqar-go/zaqar/config"
	"github.com/zaqar-go/zaqar/internal/collector"
)

// storeMemory is what the configured message store keeps in the server's
// memory at most, from which the default memory limit follows, or 0 when
// that cannot be known at start: with pooling, each pool on the embedded
// engine opens its own index and Badger, and pools come and go with the
// catalogue while the server runs. Redis keeps its data in its own
// process (0 too): the server's heap is then its connections and
// requests, small at GOGC 400, and a limit near it would only make the
// collector run harder under load. Both get half the memory available.
func storeMemory(s config.Settings) int64 {
	if s.Pooling.Enabled {
		return 0
	}
	return s.Store.Memory()
}

// tuneCollector sets the collector as the server runs it (GOGC 400, a
// soft memory limit from memory_limit or the store's needs; the
// environment wins): internal/collector.
func tuneCollector(s config.Settings) (collector.Settings, error) {
	return collector.Tune(s.MemoryLimit, storeMemory(s))
}
