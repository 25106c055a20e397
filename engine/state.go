package engine

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/zaqar-go/zaqar/storage"
)

// entry is one live message in a queue's in-memory state. Fields that change
// after publication (expiry, claim, deletion, body) are atomics: the
// partition writer changes them, readers load them without locks.
//
// Cost: the struct is ~120 bytes plus the client id string (shared between
// the messages of one batch) and the body while it waits for the flusher;
// see TestIndexBytesPerMessage.
type entry struct {
	seq        uint64
	nonce      uint64
	created    int64 // unix ns
	delayUntil int64 // unix ns, 0 = none
	client     string
	checksum   string
	// Where the body lies in the partition's log (seg 0: not in the log,
	// read it from Badger). Set by the writer before the entry is
	// published, immutable afterwards.
	seg  uint64
	off  int64
	blen uint32
	// batchOff is seq minus the first sequence of the post that created
	// the entry: Badger keeps one index value per posted batch (see
	// batchRef), so a change to a message rewrites its batch's value.
	batchOff uint32

	expires    atomic.Int64 // unix ns
	ttl        atomic.Int64 // seconds, raised by claims
	claim      atomic.Pointer[claimRef]
	claimCount atomic.Int32
	deleted    atomic.Bool
	body       atomic.Pointer[[]byte] // set until the flusher wrote it to Badger
}

// claimRef is shared by the entries one claim holds. Renewal and release
// swap its state; an entry holds the claim while the state is live.
type claimRef struct {
	id    string
	seqs  []uint64 // messages taken by the claim; set before the claim is shared
	state atomic.Pointer[claimState]
}

type claimState struct {
	expires int64 // unix ns; 0 = released
	updated int64 // unix ns of creation or renewal
	ttl     int64
	grace   int64
}

func (c *claimRef) live(now int64) bool {
	s := c.state.Load()
	return s != nil && s.expires > now
}

// liveClaim returns the claim holding e at now, or nil.
func (e *entry) liveClaim(now int64) *claimRef {
	c := e.claim.Load()
	if c != nil && c.live(now) {
		return c
	}
	return nil
}

// batch is the first sequence of the post that created e.
func (e *entry) batch() uint64 { return e.seq - uint64(e.batchOff) }

func (e *entry) visible(now int64) bool {
	return !e.deleted.Load() && e.expires.Load() > now
}

// messageID is 32 hex digits: the queue sequence then random bits, so a
// lookup is a binary search and a guessed sequence alone is not an id.
func messageID(seq, nonce uint64) string {
	return string(appendMessageID(make([]byte, 0, messageIDLen), seq, nonce))
}

// messageIDLen is the length of every message id.
const messageIDLen = 32

func appendMessageID(dst []byte, seq, nonce uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], seq)
	binary.BigEndian.PutUint64(b[8:], nonce)
	return hex.AppendEncode(dst, b[:])
}

func parseMessageID(id string) (seq, nonce uint64, ok bool) {
	if len(id) != 32 {
		return 0, 0, false
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(id)); err != nil {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), true
}

// queue is the in-memory state of one (project, queue).
//
// Ownership: the partition writer goroutine is the only one that mutates a
// queue. Readers see entries through the published slice (append-only
// between compactions, replaced wholesale by compaction) and the atomics.
// claims is guarded by mu because GetClaim reads it from request
// goroutines.
type queue struct {
	project, name string
	exists        bool // writer-only: created explicitly or by a post
	meta          atomic.Pointer[storage.Metadata]
	published     atomic.Pointer[queueView]
	entries       []*entry   // writer's view (head and tail), published after each group commit
	part          *partition // owner, for paging (gap.go)
	gap           gapState   // writer-only: what lies on disk between head and tail
	evict         evictMark  // writer-only: an eviction under way
	nextSeq       uint64     // writer-only
	live          int64      // writer-only: messages posted and not yet deleted or reaped (_max_messages)
	// Writer-only, so that the reaper skips a queue with nothing to remove
	// instead of scanning every entry each second, a stall of the writer
	// that grows with the queue:
	expiresFrom int64 // no entry expires before this (unix ns); 0 = unknown
	deletions   bool  // an entry was deleted since the last compaction
	// Writer-only: the earliest delay still running (unix ns; 0 = none),
	// so that the reaper wakes waiting consumers when it ends.
	nextDelayEnd int64
	// Writer-only claim cursor: every entry below sequence claimFrom is
	// deleted, expired or held by a claim, so claims and pops start there
	// rather than walk a head of taken messages each time; it holds until
	// claimFromUntil, the earliest end of a claim it passed (0 = none),
	// and a released claim resets it.
	claimFrom      uint64
	claimFromUntil int64
	// Writer-only: how many entries below the claim cursor the last
	// page-in kept (those held by claims; it drops deleted ones).
	heldAtPageIn int
	// cursor is the claim cursor as readers see it (mayClaim): published
	// whenever the writer moves it, so that a claim finding nothing need
	// not queue for the writer.
	cursor atomic.Pointer[claimCursor]
	// Writer-only: the copy of entries into a larger array made in the
	// background (see appendEntry). aheadOf is the array being copied.
	growth  chan grownEntries
	aheadOf **entry

	mu     sync.RWMutex
	claims map[string]*claimRef
}

// queueView is what readers see of a queue: its resident entries and its
// gap, published together so that a reader never finds a message in both
// or in neither.
type queueView struct {
	entries []*entry
	gap     *gapView // nil: no gap
}

func newQueue(project, name string) *queue {
	q := &queue{project: project, name: name, nextSeq: 1, claims: map[string]*claimRef{}}
	q.published.Store(&queueView{entries: []*entry{}})
	return q
}

func (q *queue) snapshot() []*entry { return q.published.Load().entries }

func (q *queue) view() *queueView { return q.published.Load() }

// writerView is the view of the writer's state as it is now. Writer only.
func (q *queue) writerView() *queueView {
	return &queueView{entries: q.entries, gap: q.gapView()}
}

// growAheadMin is the capacity from which a queue's entries are copied
// into a larger array ahead of need, off the writer. Growing in append
// copies every pointer into fresh memory, page faults included, while
// the writer and every post waiting on it stand still (tens of
// milliseconds at millions of messages: docs/performance.md).
const growAheadMin = 1 << 16

// grownEntries is entries copied into a larger array: to holds the
// len(from) pointers of from.
type grownEntries struct {
	from, to []*entry
}

// appendEntry appends e to the writer's view of the queue's entries.
func (q *queue) appendEntry(e *entry) {
	if len(q.entries) == cap(q.entries) && q.aheadOf != nil {
		q.adoptGrown()
	}
	q.entries = append(q.entries, e)
	if c := cap(q.entries); c >= growAheadMin && len(q.entries) >= c-c/4 {
		q.growAhead()
	}
}

// growAhead starts copying entries into an array twice as large, unless
// a copy of this array is under way. Elements below len(entries) are
// never written again in this array (appends go past them, compaction
// makes a new one), so the copy may run beside the writer.
func (q *queue) growAhead() {
	if q.aheadOf == unsafe.SliceData(q.entries) {
		return
	}
	if q.aheadOf != nil {
		// A copy of an array that compaction replaced: start anew once
		// it is done.
		select {
		case <-q.growth:
			q.aheadOf = nil
		default:
			return
		}
	}
	if q.growth == nil {
		q.growth = make(chan grownEntries, 1)
	}
	from := q.entries
	q.aheadOf = unsafe.SliceData(from)
	go func() {
		to := make([]*entry, len(from), 2*cap(from))
		copy(to, from)
		q.growth <- grownEntries{from: from, to: to}
	}()
}

// adoptGrown moves entries, full, to the array grown ahead if its copy is
// done and was made of this array; otherwise append grows it as usual.
func (q *queue) adoptGrown() {
	select {
	case g := <-q.growth:
		q.aheadOf = nil
		if unsafe.SliceData(g.from) == unsafe.SliceData(q.entries) {
			n := len(g.from)
			q.entries = append(g.to[:n], q.entries[n:]...)
		}
	default:
	}
}

func (q *queue) publish() { q.published.Store(q.writerView()) }

// find returns the entry with seq in entries (sorted by seq), or nil.
func find(entries []*entry, seq uint64) *entry {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].seq >= seq })
	if i < len(entries) && entries[i].seq == seq {
		return entries[i]
	}
	return nil
}

// after returns the position of the first entry with seq > marker.
func after(entries []*entry, marker uint64) int {
	return sort.Search(len(entries), func(i int) bool { return entries[i].seq > marker })
}

// added notes a new entry for compact's bookkeeping. Writer only.
func (q *queue) added(e *entry) {
	if q.expiresFrom != 0 {
		q.expiresFrom = min(q.expiresFrom, e.expires.Load())
	}
}

// compact drops deleted and expired entries from the writer's view.
// Returns the removed entries so their keys can be deleted from Badger.
// A claim only ever extends an entry's expiry, so expiresFrom stays a
// lower bound until the next full scan.
func (q *queue) compact(now int64) []*entry {
	if !q.deletions && q.expiresFrom != 0 && now < q.expiresFrom {
		return nil
	}
	q.deletions = false
	q.expiresFrom = math.MaxInt64
	first := -1
	for i, e := range q.entries {
		x := e.expires.Load()
		if e.deleted.Load() || x <= now {
			first = i
			break
		}
		q.expiresFrom = min(q.expiresFrom, x)
	}
	if first < 0 {
		return nil // the common case for a busy queue: nothing to copy
	}
	var removed []*entry
	keep := make([]*entry, first, len(q.entries))
	copy(keep, q.entries[:first])
	for _, e := range q.entries[first:] {
		x := e.expires.Load()
		if e.deleted.Load() || x <= now {
			removed = append(removed, e)
			continue
		}
		q.expiresFrom = min(q.expiresFrom, x)
		keep = append(keep, e)
	}
	q.entries = keep
	return removed
}

func (q *queue) getClaim(id string) *claimRef {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.claims[id]
}

func (q *queue) setClaim(c *claimRef) {
	q.mu.Lock()
	q.claims[c.id] = c
	q.mu.Unlock()
}

// dropDeadClaims forgets claims that no longer hold a live message,
// returning their ids, and reports whether one of them ran out (rather
// than being released or losing its messages), which makes its messages
// claimable again. It looks only at each claim's own messages, not at the
// whole queue.
func (q *queue) dropDeadClaims(now int64) (dropped []string, ranOut bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, c := range q.claims {
		if !q.holds(c, now) {
			delete(q.claims, id)
			dropped = append(dropped, id)
			if st := c.state.Load(); st.expires != 0 && st.expires <= now {
				ranOut = true
			}
		}
	}
	return dropped, ranOut
}

// claimable calls take with each entry a claim or pop may take at now, in
// sequence order, until take returns false. It reads the head only and
// pages in from the gap when the head runs out, so that nothing is
// skipped. Writer only.
func (q *queue) claimable(now int64, take func(*entry) bool) {
	if q.claimFromUntil != 0 && now >= q.claimFromUntil {
		q.resetClaimCursor()
	}
	from, until := q.claimFrom, q.claimFromUntil
	q.scanClaimable(now, take)
	if q.claimFrom != from || q.claimFromUntil != until {
		q.cursor.Store(&claimCursor{from: q.claimFrom, until: q.claimFromUntil})
	}
}

func (q *queue) scanClaimable(now int64, take func(*entry) bool) {
	next := q.claimFrom
	passing := true // still in the prefix of entries nothing can take
	for {
		end := q.headEnd()
		for i := lower(q.entries, next); i < end; i++ {
			en := q.entries[i]
			next = en.seq + 1
			c := en.liveClaim(now)
			if !en.visible(now) || c != nil {
				if passing {
					q.claimFrom = en.seq + 1
					if c != nil {
						if x := c.state.Load().expires; q.claimFromUntil == 0 || x < q.claimFromUntil {
							q.claimFromUntil = x
						}
					}
				}
				continue
			}
			passing = false
			if en.delayUntil > now {
				continue
			}
			if !take(en) {
				return
			}
		}
		if !q.gap.open() || q.part == nil {
			return
		}
		if q.part.pageIn(q, max(q.part.window, q.part.pageInWant(q)), 0) == 0 && q.gap.open() {
			return // unreadable: the claim takes what it found
		}
	}
}

// resetClaimCursor makes the next claim look from the head again: a claim
// ended or was shortened, so messages it held may be claimable.
func (q *queue) resetClaimCursor() {
	q.claimFrom, q.claimFromUntil = 0, 0
	q.cursor.Store(nil)
}

// claimCursor is a published claim cursor: no entry below sequence from
// can be claimed before until (unix ns; 0 = until the cursor moves).
type claimCursor struct {
	from  uint64
	until int64
}

// mayClaim reports whether a claim at now might find a message, from
// what readers see: false only when every published entry is deleted,
// expired, delayed or held by a live claim and no part of the queue is
// on disk. Messages of groups not yet published are not acknowledged to
// their producers, so a claim answering nothing meanwhile is one that
// ran before them. Safe from any goroutine.
func (q *queue) mayClaim(now int64) bool {
	v := q.published.Load()
	if v.gap != nil {
		return true
	}
	var from uint64
	if c := q.cursor.Load(); c != nil && (c.until == 0 || now < c.until) {
		from = c.from
	}
	for i := lower(v.entries, from); i < len(v.entries); i++ {
		en := v.entries[i]
		if en.visible(now) && en.delayUntil <= now && en.liveClaim(now) == nil {
			return true
		}
	}
	return false
}

// delaysOver reports whether a delayed message became visible since the
// last call, and moves nextDelayEnd on. Writer only; it scans the entries
// only when a delay ended.
func (q *queue) delaysOver(now int64) bool {
	if q.nextDelayEnd == 0 || now < q.nextDelayEnd {
		return false
	}
	q.nextDelayEnd = 0
	for _, e := range q.entries {
		if e.delayUntil > now && (q.nextDelayEnd == 0 || e.delayUntil < q.nextDelayEnd) {
			q.nextDelayEnd = e.delayUntil
		}
	}
	return true
}

// holds reports whether claim c still holds a visible message.
func (q *queue) holds(c *claimRef, now int64) bool {
	if !c.live(now) {
		return false
	}
	for _, seq := range c.seqs {
		if e := find(q.entries, seq); e != nil && e.claim.Load() == c && e.visible(now) {
			return true
		}
	}
	return false
}

func qkey(project, queue string) string {
	var n [binary.MaxVarintLen64]byte
	return string(n[:binary.PutUvarint(n[:], uint64(len(project)))]) + project + queue
}
