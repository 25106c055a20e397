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
	if l.opts.Sync == SyncAlways {
		l.syncerSlice.Store(int64(shortenSlice(syncerSlice)))
	}
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
		err = fdatasync(f)
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

// Sync makes every frame written so far durable, whatever the policy, and
// tells their waiters.
func (l *Log) Sync() error { return l.sync(true) }

// fdatasync syncs f unless it was closed meanwhile, which only a
// retirement does after syncing it itself.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("wal: fdatasync: %w", err)
	}
	var serr error
	// Control holds a reference on the descriptor: a concurrent Close
	// waits, and Control fails without calling us if Close came first.
	_ = rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
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
