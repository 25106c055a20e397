// Package engine is the embedded message store: a partitioned, append-only
// log engine persisted on Badger. It implements storage.Store.
//
// # Stages
//
// Queues hash to partitions by (project, queue). Each partition runs the
// same stages, each in its own files with one job:
//
//   - API (messages.go, claims.go, queues.go, subscriptions.go): reads go
//     straight to the published state; changes become ops for the writer.
//   - State machine (apply.go, state.go): queues, messages (entries),
//     claims and subscriptions in memory. A record (record.go: what is
//     logged, with a format version) changes it only through apply, which
//     returns its effects; recovery replays records through the same apply,
//     so live and recovered state cannot disagree.
//   - Writer pipeline (writer.go, pipeline.go): one goroutine takes every
//     op queued meanwhile, validates each against the state, applies and
//     encodes their records, and writes them as ONE log frame (package
//     wal). It goes on with the next group without waiting for the
//     fdatasync; groups complete strictly in order once durable and
//     placed: published to readers, handed to the flusher, acknowledged.
//   - Retention (retention.go): message bodies stay in the log, so a
//     segment may be deleted only when the checkpoint covers it and no
//     live message's body is in it; live bodies are counted per segment.
//   - Flusher (flush.go, persist.go): writes the effects of applied
//     records to Badger in large unsynced batches, then checkpoints: Badger
//     is synced, the last covered log index stored, deletable segments
//     removed.
//   - Badger schema (schema.go, batch.go, migrate.go): key layout, value
//     formats (one value per posted batch), migrations at open.
//   - Recovery (recover.go): load the state from Badger, replay the log
//     after the checkpoint. Reaping (reap.go) removes expired data on the
//     writer; Badger follows through the flusher.
//   - Paged index (gap.go): moves the backlog of a queue between memory
//     and Badger, on the writer, once the flusher has written it.
//
// Readers never take the writer's path: each queue publishes its entry
// slice through an atomic pointer, and the mutable parts of an entry
// (expiry, claim, deletion, body) are atomics. Claim state is a shared
// claimRef whose state pointer is swapped on renewal and release, so "is
// this message held by a live claim" is two atomic loads.
//
// # Invariants
//
//  1. Acknowledged means durable: every change returns after its record is
//     in the log and, with fsync=always, fdatasync'ed.
//  2. Recovery rebuilds memory from Badger, then replays the log after the
//     checkpoint through apply. The WAL truncates a torn tail; nothing
//     acknowledged is in a torn tail.
//  3. FIFO per queue by a per-queue sequence that never goes backwards
//     (persisted under 'n'); a batch gets consecutive sequences and is
//     published at once.
//  4. A message is held by at most one live claim: claims are selected by
//     the single writer of the queue's partition.
//  5. Expired messages are filtered on every read and reclaimed by the
//     reaper (memory, Badger keys) and value-log GC.
//  6. Memory is bounded per queue, not per message: a queue keeps its head
//     (IndexWindow messages and what claims hold) and its recent tail in
//     memory, one entry each (TestIndexBytesPerMessage); the backlog in
//     between, its gap, is on disk and paged in as consumers advance
//     (gap.go, docs/paged-index.md). Bodies are read from disk on demand.
//  7. Every key starts with the queue's (project, queue) prefix.
//
// Message ids are 32 hex digits: the sequence then 64 random bits, so a
// lookup is a binary search and an id cannot be guessed from a sequence.
package engine
