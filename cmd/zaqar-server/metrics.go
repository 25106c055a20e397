package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zaqar-go/zaqar/engine"
)

// registerEngineMetrics exports the embedded engine's counters: how many
// log appends share one fdatasync is the first thing to look at when
// tuning partitions and fsync.
func registerEngineMetrics(reg prometheus.Registerer, e *engine.Engine) {
	counter := func(name, help string, value func(engine.Metrics) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return value(e.Metrics()) })
	}
	reg.MustRegister(
		counter("zaqar_engine_messages_posted_total", "Messages posted to the embedded engine.",
			func(m engine.Metrics) float64 { return float64(m.MessagesPosted) }),
		counter("zaqar_wal_appends_total", "Frames (request groups) appended to the partition logs.",
			func(m engine.Metrics) float64 { return float64(m.WALAppends) }),
		counter("zaqar_wal_group_commits_total", "fdatasyncs that acknowledged appends (fsync=always).",
			func(m engine.Metrics) float64 { return float64(m.WALGroups) }),
		counter("zaqar_wal_syncs_total", "fdatasyncs of the partition logs.",
			func(m engine.Metrics) float64 { return float64(m.WALSyncs) }),
		counter("zaqar_wal_sync_seconds_total", "Time spent in fdatasync of the partition logs.",
			func(m engine.Metrics) float64 { return m.WALSyncSeconds }),
	)
}
