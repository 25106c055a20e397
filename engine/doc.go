// Package engine is the embedded message store: a partitioned, append-only
// log engine persisted on Badger. It implements storage.Store.
//
// # Shape
//
// Queues hash to partitions by (project, queue). A partition has:
//
//   - one writer goroutine (partition.run) that owns all mutation. It takes
//     every request queued meanwhile, validates each against memory, emits
//     records and writes the whole group as ONE log frame, then goes on
//     with the next group without waiting for the fdatasync. Groups are
//     completed in order once durable (see commit): the changes are
//     published to readers, handed to the flusher and only then
//     acknowledged. The log's syncer covers every frame written during one
//     fdatasync with the next (group commit), so applying and writing
//     overlap with syncing;
//   - its own write-ahead log (package wal) under Dir/wal/pNN;
//   - a flusher goroutine that writes the index and state of applied records
//     to the shared Badger DB in large unsynced batches, then checkpoints:
//     Badger is synced, the last covered log index is stored, and log
//     segments that are covered and hold no live message body are deleted.
//
// Message bodies stay in the log: an entry records the segment and offset
// of its body and readers pread it (the page cache serves recent ones).
// Badger stores only small index values, so a post costs one log write
// plus an index entry. With log compression on, frames are not
// addressable and bodies go to Badger instead.
//
// Readers (list, get, stats, claim lookup) never take the writer's path:
// each queue publishes its entry slice through an atomic pointer, and the
// mutable parts of an entry (expiry, claim, deletion, body) are atomics.
// Claim state is a shared claimRef whose state pointer is swapped
// atomically on renewal and release, so "is this message held by a live
// claim" is two atomic loads.
//
// # Invariants
//
//  1. Acknowledged means durable: every change returns after its record is
//     in the log and, with fsync=always, fdatasync'ed.
//  2. Recovery (load + recover) rebuilds memory from Badger, then replays
//     the log after the checkpoint through the same apply function used
//     live, so live and recovered state cannot disagree. The WAL truncates
//     a torn tail; nothing acknowledged is in a torn tail.
//  3. FIFO per queue by a per-queue sequence that never goes backwards
//     (persisted under 'n'); a batch gets consecutive sequences and is
//     published at once.
//  4. A message is held by at most one live claim: claims are selected by
//     the single writer of the queue's partition.
//  5. Expired messages are filtered on every read and reclaimed by the
//     reaper (memory, Badger keys) and value-log GC.
//  6. Memory per live message is one entry (~140 bytes, see
//     TestIndexBytesPerMessage); bodies are read from disk on demand.
//  7. Every key starts with the queue's (project, queue) prefix.
//
// Message ids are 32 hex digits: the sequence then 64 random bits, so a
// lookup is a binary search and an id cannot be guessed from a sequence.
package engine
