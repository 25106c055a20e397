package wal

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SyncPolicy says when appended data is forced to stable storage.
type SyncPolicy int

const (
	SyncAlways   SyncPolicy = iota // fdatasync before a write is reported durable (default)
	SyncInterval                   // fdatasync every Options.SyncInterval in the background
	SyncNever                      // never fdatasync: UNSAFE, for benchmarks only
)

// ParseSyncPolicy reads "always", "interval" or "never".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "always":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "never":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("wal: unknown sync policy %q (want always, interval or never)", s)
}

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// slowSync: an fdatasync this slow is logged, since it stalls every writer
// waiting for it and points at the disk.
const slowSync = time.Second

// waiter is a written frame whose writer waits for it to be durable.
type waiter struct {
	last    uint64
	durable func(error)
}

// syncer makes written frames durable: with SyncAlways as soon as there
// are any, taking after each fdatasync everything written meanwhile (group
// commit); with SyncInterval every Options.SyncInterval.
func (l *Log) syncer() {
	defer l.wg.Done()
	var tick <-chan time.Time
	if l.opts.Sync == SyncInterval {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.wake:
		case <-tick:
		case <-l.stopped:
			return
		}
		if err := l.sync(false); err != nil {
			l.log.Error("wal sync failed", "dir", l.opts.Dir, "err", err)
		}
	}
}

// sync makes every frame written so far durable (unless nothing was
// written since the last sync and force is false) and then tells their
// waiters. It holds l.mu only to take its snapshot, so writers go on
// meanwhile.
func (l *Log) sync(force bool) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if !force && !l.dirty {
		l.mu.Unlock()
		return nil
	}
	_ = l.flushPending() // a failure is in l.failed
	f, waiting, err := l.file, l.waiting, l.failed
	l.waiting, l.dirty = nil, false
	l.mu.Unlock()

	start := time.Now()
	if err == nil {
		err = syncFile(f, time.Duration(l.syncLast.Load()) < heldSyncMax)
	}
	if err == nil {
		// Frames in segments retired before (or during) this sync are
		// covered by their retirement's sync; the last one waited on
		// implies all before it.
		l.mu.Lock()
		r := l.retiring
		l.mu.Unlock()
		if r != nil {
			<-r.done
			err = r.err
			l.mu.Lock()
			if l.retiring == r {
				l.retiring = nil
			}
			l.mu.Unlock()
		}
	}
	if err == nil {
		// A retirement that failed meanwhile (and was awaited by a
		// writer) leaves its mark here.
		l.mu.Lock()
		err = l.failed
		l.mu.Unlock()
	}
	d := time.Since(start)
	if err != nil {
		l.mu.Lock()
		if l.failed == nil {
			// After a failed fdatasync the kernel may have dropped the
			// dirty pages: nothing written since can be trusted either.
			l.failed = err
		}
		l.mu.Unlock()
	} else {
		l.syncs.Add(1)
		l.syncLast.Store(int64(d))
		l.syncTotal.Add(int64(d))
		for {
			cur := l.syncMax.Load()
			if int64(d) <= cur || l.syncMax.CompareAndSwap(cur, int64(d)) {
				break
			}
		}
		if d > slowSync {
			l.log.Warn("slow wal fdatasync", "dir", l.opts.Dir, "duration", d)
		}
	}
	if len(waiting) > 0 && err == nil {
		l.groups.Add(1)
	}
	for _, w := range waiting {
		w.durable(err)
	}
	return err
}

// SyncWritten makes the frames written since the last sync durable and
// tells their waiters, as the syncer goroutine does (for CallerSyncs).
func (l *Log) SyncWritten() error { return l.sync(false) }

// Flush writes the frames waiting for the next sync into the active
// segment without syncing it: they survive the process's crash from then
// on, and the machine's once the next sync has run. With SyncAlways frames
// otherwise wait in memory until that sync.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	return l.flushPending()
}

// Sync makes every frame written so far durable, whatever the policy, and
// tells their waiters.
func (l *Log) Sync() error { return l.sync(true) }

// heldSyncMax: the goroutine syncing (the syncer, or with CallerSyncs the
// caller) keeps its processor through an fdatasync while the last one
// took less than this. Go lets a goroutine run this long
// before it preempts it, so a processor held that long is within what the
// scheduler expects anyway.
//
// A processor kept is a processor the runtime need not take back: during
// an ordinary (blocking) system call the runtime's monitor thread checks
// every 20 µs whether to hand the processor to another thread, and with
// the syncer in fdatasync nearly all the time under load it kept finding
// one to hand over, so it never slowed down. On the 2-vCPU machine of
// docs/performance.md that monitor took 12-15 % of the server's CPU at
// fsync=always, and 2 % with the processor kept. The cost: the garbage
// collector's stop-the-world phases wait for the fdatasync in progress,
// hence the bound, and a slow disk falls back to the blocking call.
const heldSyncMax = 10 * time.Millisecond

func fdatasync(f *os.File) error { return syncFile(f, false) }

// syncFile fdatasyncs f unless it was closed meanwhile, which only a
// retirement does after syncing it itself; held says whether the calling
// goroutine keeps its processor meanwhile (see heldSyncMax).
func syncFile(f *os.File, held bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("wal: fdatasync: %w", err)
	}
	var serr error
	// Control holds a reference on the descriptor: a concurrent Close
	// waits, and Control fails without calling us if Close came first.
	_ = rc.Control(func(fd uintptr) {
		for {
			if held {
				serr = nil
				if _, _, e := unix.RawSyscall(unix.SYS_FDATASYNC, fd, 0, 0); e != 0 {
					serr = e
				}
			} else {
				serr = unix.Fdatasync(int(fd))
			}
			if serr != unix.EINTR {
				break
			}
		}
	})
	if serr != nil {
		return fmt.Errorf("wal: fdatasync: %w", serr)
	}
	return nil
}
