// Package wal is the write-ahead log of the embedded engine: a directory of
// append-only segment files holding batches of opaque records, written by
// group commit and repaired after a crash.
//
// # Life cycle
//
// The engine keeps one Log per partition and drives it so:
//
//   - Open scans the segments it must (see Recovery), repairs a torn
//     tail and starts the syncer goroutine.
//   - FirstIndex and LastIndex are checked against the caller's checkpoint;
//     SkipTo(checkpoint) moves the next index past a checkpoint that a log
//     cut short by a crash no longer reaches, so new records never reuse
//     indexes it covers.
//   - ReplayAt(checkpoint, fn) rebuilds the state: fn sees every later
//     record in index order, with its Pos.
//   - Write(records, pos, durable) as often as needed, from any goroutine.
//     It returns the index of the batch's last record at once and calls
//     durable when the batch is durable (see Durability). pos receives
//     where each record lies, for ReadAt.
//   - ReadAt(pos, p) reads a record's bytes back, also from the segment
//     being written.
//   - Sync before a checkpoint: it makes everything written durable,
//     whatever the policy.
//   - Retention is the caller's: Segments lists the segments with their
//     index ranges, Rotate closes the active one so that it can go too,
//     Remove deletes one whose records are covered by a checkpoint and no
//     longer read. The log never drops records on its own.
//   - Close syncs, tells every waiter and closes; later writes fail.
//
// Stats are cumulative counters for metrics.
//
// # Format
//
// A segment is named "%016x.wal" after the index of its first record and
// holds a sequence of frames:
//
//	+---------+---------+-------------+---------+-------+-----------------+
//	| len u32 | crc u32 | first u64   | n u32   | flags | payload         |
//	+---------+---------+-------------+---------+-------+-----------------+
//	  little endian; len counts from "first" to the end of the payload;
//	  crc is CRC-32C (Castagnoli) of those same len bytes.
//
// The payload holds n records, each a uvarint length followed by its bytes;
// with flag bit 0 set the whole payload is S2-compressed, and its records
// are not addressable by ReadAt. Bits 4-7 of flags are the format version
// and bits 1-3 are reserved (zero). This build writes version 1 and reads
// versions 0 (frames written before there was a version: flags 0 or 1,
// same layout) and 1. A frame of any other version or with a reserved bit
// set is refused with an error naming it, never read. One frame is one
// Write: its records get the consecutive indexes first..first+n-1 and are
// recovered all together or not at all.
//
// # Durability
//
// With SyncAlways (the default) the syncer runs back to back: it writes
// every frame stamped while the previous fdatasync ran with one write call,
// fdatasyncs once (group commit), and calls their durable callbacks in
// index order. Writers never wait for I/O, so a caller can write the next
// batch while the disk syncs the previous one. The syncer keeps its Go
// processor through an fdatasync while syncs are fast (heldSyncMax in
// sync.go), and shares its OS thread with other goroutines: a thread of its
// own cost two thread switches each time it waited for frames.
// With SyncInterval the syncer fdatasyncs every Options.SyncInterval, and
// with SyncNever never: a crash can lose acknowledged records. With both,
// durable is called before Write returns. A failed fdatasync fails the log:
// the kernel may have dropped the dirty pages, so later writes fail too.
//
// A full segment is retired in the background (truncated to its frames,
// synced, closed, sealed); the next sync waits for it, so nothing written after
// it is reported durable before it is. With SyncAlways its tail is synced before the
// next segment exists, so a crash never leaves a torn frame in front of a
// newer segment.
//
// # Space
//
// The active segment is zero-filled ahead of its frames (512 KiB at a
// time, written in the same sync as the frames that follow them), so most
// syncs overwrite blocks the file already has and flush data only, with no
// extent conversion or new size to write. A retired segment, and the
// active one at a clean close, gives the space past its last frame back.
// After a crash the zeros past the last frame read as the end of the log.
// The next segment is not prepared in advance: zero-filling a whole
// segment at once made the log's own syncs flush megabytes of zeros.
//
// # Recovery
//
// Open reads the last segment, and any other that is not sealed. A retired
// segment is sealed once synced: "<segment>.seal" records where its frames
// end, the index of its last record and where its last frame starts (see
// seal.go). Open trusts a seal that matches its segment (same size, the
// last frame there with a good CRC and that index) instead of reading the
// segment, so a start reads a bounded part of the log whatever the
// backlog; a segment whose seal is missing, torn or does not match is read
// whole, as before seals, and sealed once the log has opened. A sealed
// segment's frames are checked when first read: ReplayAt checks every
// frame it reads, and ReadAt reads a sealed segment whole before serving
// its first record from it, failing every read from it if a frame is
// damaged (errCorrupt, logged): corruption is reported when the data is
// used, never served.
//
// A frame that is short, zero-length or fails its CRC at the end of the
// LAST segment is a torn write from a crash: the bytes from there on are
// copied to "<segment>.broken", the segment is truncated to its last good
// frame, and the log continues (see repair.go). So is a torn tail followed
// only by frameless segments (a crash just after a rotation) and, without
// SyncAlways, a torn tail in the segment retired last (it is synced in the
// background, so writeback may have saved the active segment first): the
// log ends at the tear and the active segment becomes "<segment>.broken".
// Any other damage found in an older segment, or a frame whose index does
// not follow its predecessor, cannot come from a crash and fails Open (a
// corrupt log). A frame of an unknown version fails Open wherever it lies,
// and the log is left untouched. Segments removed from the middle
// (Remove) leave gaps, which are fine; overlapping segments are not.
package wal
