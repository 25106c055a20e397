// Package wal is the write-ahead log of the embedded engine: a directory of
// append-only segment files holding batches of opaque records, written by
// group commit and repaired after a crash.
//
// # Format
//
// A log is a directory of segments named "%016x.wal" after the index of
// their first record. A segment is a sequence of frames:
//
//	+---------+---------+-------------+---------+-------+-----------------+
//	| len u32 | crc u32 | first u64   | n u32   | flags | payload         |
//	+---------+---------+-------------+---------+-------+-----------------+
//	  little endian; len counts from "first" to the end of the payload;
//	  crc is CRC-32C (Castagnoli) of those same len bytes.
//
// The payload holds n records, each a uvarint length followed by its bytes;
// with flag bit 0 set the whole payload is S2-compressed. One frame is one
// Append call: its records get the consecutive indexes first..first+n-1 and
// are recovered all together or not at all.
//
// # Durability
//
// Write stamps a frame at once and reports, through a callback, when it is
// durable; Append waits for that. With SyncAlways a syncer goroutine runs
// back to back: it writes every frame stamped while the previous fdatasync
// ran with one write call, fdatasyncs once (group commit), and runs their
// callbacks in index order. Writers never wait for a sync, so a caller can write the
// next batch while the disk syncs the previous one. SyncInterval syncs in
// the background; SyncNever never syncs and is unsafe: a crash can lose
// acknowledged records.
//
// # Space
//
// The active segment is preallocated ahead of its frames (fallocate, 1
// MiB at a time), so most syncs journal an extent conversion rather than
// new blocks and a new size. A retired segment, and the active one at a
// clean close, gives the space past its last frame back. After a crash the
// zeros past the last frame read as the end of the log. The next segment
// is not prepared in advance: writing it full of zeros doubles what the
// disk writes, and each fdatasync flushes the disk's cache whole, zeros
// included (measured: syncs during such a fill took 5 ms against 0.5 ms).
//
// # Recovery
//
// Open reads every segment. A frame that is short, zero-length or fails its
// CRC at the end of the LAST segment is a torn write from a crash: the bytes
// from there on are copied to "<segment>.broken", the segment is truncated to
// its last good frame, and the log continues (see repair.go). So is a torn
// tail followed only by frameless segments (a crash just after a rotation)
// and, without SyncAlways, a torn tail in the segment retired last (it is
// synced in the background, so writeback may have saved the active
// segment first): the log ends at the tear and the active segment becomes
// "<segment>.broken". Any other damage in an older segment, or a frame
// whose index does not follow its predecessor, cannot come from a crash
// and is reported as errCorrupt. SkipTo moves the next index past a
// checkpoint that a log cut short no longer reaches.
//
// With SyncAlways the syncer runs on an OS thread of its own with a short
// scheduler slice where the kernel allows (see sched.go): it then gets a
// CPU back sooner each time the disk answers.
//
// # Life cycle
//
// Open, Replay (rebuild state), Append as often as needed, Compact after a
// checkpoint made old records redundant, Close.
package wal
