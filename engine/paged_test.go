package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

// The paged index: a backlog larger than the window lives on disk between
// the head and the tail of its queue (gap.go).

const testWindow = 8

// pagedEngine opens an engine whose queues keep testWindow messages of
// their head in memory, with one partition and small log segments so that
// checkpoints delete segments (and would delete the bodies of the gap if
// retention forgot them).
func pagedEngine(t *testing.T, dir string, clk *testenv.Clock) *Engine {
	return openEngine(t, dir, func(o *Options) {
		o.IndexWindow = testWindow
		o.Partitions = 1
		o.SegmentSize = MinSegmentSize
		o.CheckpointInterval = 40 * time.Millisecond // flush jobs wait 10 ms
		if clk != nil {
			o.Clock = clk.Now
		}
	})
}

// settle lets evictions complete: the flusher writes every job, then a
// group runs on each writer, which moves what is on disk out of memory.
func settle(t *testing.T, e *Engine) {
	t.Helper()
	for i := 0; i < 3; i++ {
		for _, p := range e.parts {
			done := make(chan struct{})
			p.flushes <- flushJob{sync: done}
			<-done
			if err := p.reapNow(); err != nil {
				t.Fatal(err)
			}
			checkWindows(t, p)
		}
	}
}

// checkWindows checks the invariants of every queue's resident entries:
// in strictly increasing sequence order, none inside the gap.
func checkWindows(t *testing.T, p *partition) {
	t.Helper()
	var bad string
	p.do(func(int64) error {
		p.queues.Range(func(_, v any) bool {
			q := v.(*queue)
			for i, e := range q.entries {
				if i > 0 && e.seq <= q.entries[i-1].seq {
					bad = fmt.Sprintf("queue %s: sequence %d after %d", q.name, e.seq, q.entries[i-1].seq)
				}
				if q.gap.holds(e.seq) {
					bad = fmt.Sprintf("queue %s: sequence %d resident inside the gap [%d, %d)", q.name, e.seq, q.gap.from, q.gap.to)
				}
			}
			return bad == ""
		})
		return nil
	})
	if bad != "" {
		t.Fatal(bad)
	}
}

// gapOf returns the published gap and resident entries of queue q.
func gapOf(e *Engine, q string) (*gapView, int) {
	v := e.partition("p", q).queue(qkey("p", q)).view()
	return v.gap, len(v.entries)
}

// postBacklog posts n messages in batches of 1 to 7, bodies {"n":i} with
// ttl(i), and returns their ids in order.
func postBacklog(t *testing.T, e *Engine, q string, n int, ttl func(i int) int64) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		k := min(1+rand.IntN(7), n-len(ids))
		msgs := make([]storage.NewMessage, k)
		for j := range msgs {
			i := len(ids) + j
			msgs[j] = storage.NewMessage{Body: testBody(i), TTL: ttl(i)}
		}
		got, err := e.PostMessages(ctx, "p", q, "client-a", msgs)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		ids = append(ids, got...)
	}
	return ids
}

func hour(int) int64 { return 3600 }

// testBody is message i's body: large enough that a backlog spans many
// log segments.
func testBody(i int) []byte {
	return []byte(fmt.Sprintf(`{"n":%d,"pad":"%0800d"}`, i, i))
}

// TestPagedDrainFIFO drains a backlog 60 times the window through claims
// of random sizes, across clean restarts, crashes, compactions (deletes
// by id, Badger flattening), expiry in the gap and claims that expire: the
// first deliveries come in posting order, every live message is deleted
// exactly once with its body intact, and expired ones are never delivered.
func TestPagedDrainFIFO(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	dir := t.TempDir()
	e := pagedEngine(t, dir, clk)
	defer func() { e.Close() }()
	const n = 60 * testWindow
	// Every 13th message lives a minute: it expires in the gap.
	ids := postBacklog(t, e, "q", n, func(i int) int64 {
		if i%13 == 5 {
			return 60
		}
		return 3600
	})
	settle(t, e)
	// settle checkpointed, which deletes the log segments no live
	// message needs: not those of the gap.
	if segs := len(e.partition("p", "q").log.Segments()); segs < 4 {
		t.Fatalf("backlog spans %d log segments, want several", segs)
	}
	g, resident := gapOf(e, "q")
	if !g.open() || resident > 3*testWindow {
		t.Fatalf("after settling: gap %+v, %d resident; want most of %d messages on disk", g, resident, n)
	}
	clk.Add(2 * time.Minute) // the short-lived ones are gone
	want := map[string]int{}
	for i, id := range ids {
		if i%13 != 5 {
			want[id] = i
		}
	}
	if st, err := e.QueueStats(ctx, "p", "q"); err != nil || st.Total != int64(len(want)) {
		t.Fatalf("stats after expiry in the gap: %+v %v, want total %d", st, err, len(want))
	}
	// Deletes by id, some in the gap: compaction of the head, edits of
	// gap values on disk.
	for i := 20; i < n; i += 37 {
		if _, ok := want[ids[i]]; !ok {
			continue
		}
		if err := e.DeleteMessage(ctx, "p", "q", ids[i], ""); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
		delete(want, ids[i])
	}
	deleted := map[string]bool{}
	lastFirst := -1
	delivered := map[string]bool{}
	for round := 0; len(deleted) < len(want); round++ {
		if round > 10*n {
			t.Fatalf("drain stalled: %d of %d deleted", len(deleted), len(want))
		}
		switch round % 17 {
		case 5:
			e.Close()
			e = pagedEngine(t, dir, clk)
		case 11:
			crash(t, e)
			e = pagedEngine(t, dir, clk)
		case 14:
			if err := e.db.Flatten(1); err != nil {
				t.Fatal(err)
			}
		}
		c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 30, Grace: 30, Limit: 1 + rand.IntN(10)})
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		if len(c.Messages) == 0 {
			t.Fatalf("round %d: no message claimed with %d of %d left", round, len(want)-len(deleted), len(want))
		}
		for k, m := range c.Messages {
			i, ok := want[m.ID]
			if !ok || deleted[m.ID] {
				t.Fatalf("round %d: claimed %s (posted #%d): expired, deleted or unknown", round, m.ID, i)
			}
			if string(m.Body) != string(testBody(i)) {
				t.Fatalf("message #%d has body %q", i, m.Body)
			}
			if !delivered[m.ID] {
				if i < lastFirst {
					t.Fatalf("round %d: #%d delivered first after #%d", round, i, lastFirst)
				}
				lastFirst = i
				delivered[m.ID] = true
			}
			// One claim in 7 is left to expire: its messages come back.
			if round%7 == 3 {
				continue
			}
			if err := e.DeleteMessage(ctx, "p", "q", m.ID, c.ID); err != nil {
				t.Fatalf("round %d: delete %d of claim: %v", round, k, err)
			}
			deleted[m.ID] = true
		}
		if round%7 == 3 {
			clk.Add(61 * time.Second)
		}
		if round%5 == 0 {
			settle(t, e)
		}
	}
	if st, err := e.QueueStats(ctx, "p", "q"); err != nil || st.Total != 0 {
		t.Fatalf("drained queue: %+v %v", st, err)
	}
	if g, _ := gapOf(e, "q"); g.open() {
		t.Fatalf("drained queue keeps a gap %+v", g)
	}
}

// TestPagedDeleteInGap deletes messages of the gap by id, before and right
// before a page-in reaches them, then across a crash: they are gone from
// reads, stats and the drain.
func TestPagedDeleteInGap(t *testing.T) {
	dir := t.TempDir()
	e := pagedEngine(t, dir, nil)
	defer func() { e.Close() }()
	const n = 20 * testWindow
	ids := postBacklog(t, e, "q", n, hour)
	settle(t, e)
	g, _ := gapOf(e, "q")
	inGap := func(i int) bool {
		seq, _, _ := parseMessageID(ids[i])
		return g.open() && seq >= g.from && seq < g.to
	}
	// The first messages of the gap: the next page-in reads them, and the
	// flusher has not removed them from Badger yet.
	var gone []int
	for i := 0; i < n && len(gone) < 6; i++ {
		if inGap(i) && (len(gone) < 3 || i%11 == 0) {
			gone = append(gone, i)
		}
	}
	if len(gone) < 6 {
		t.Fatalf("gap %+v holds too few of %d messages", g, n)
	}
	for _, i := range gone {
		if _, err := e.GetMessage(ctx, "p", "q", ids[i]); err != nil {
			t.Fatalf("message #%d of the gap: %v", i, err)
		}
	}
	if err := e.DeleteMessages(ctx, "p", "q", []string{ids[gone[0]], ids[gone[1]]}, nil); err != nil {
		t.Fatal(err)
	}
	for _, i := range gone[2:] {
		if err := e.DeleteMessage(ctx, "p", "q", ids[i], ""); err != nil {
			t.Fatal(err)
		}
	}
	crashAt := gone[len(gone)-1]
	for _, i := range gone {
		if _, err := e.GetMessage(ctx, "p", "q", ids[i]); !errors.Is(err, storage.ErrMessageNotFound) {
			t.Fatalf("deleted message #%d of the gap: %v", i, err)
		}
	}
	st, err := e.QueueStats(ctx, "p", "q")
	if err != nil || st.Total != int64(n-len(gone)) {
		t.Fatalf("stats: %+v %v, want %d", st, err, n-len(gone))
	}
	isGone := map[string]bool{}
	for _, i := range gone {
		isGone[ids[i]] = true
	}
	next := 0
	for next < n {
		if next > crashAt && next < crashAt+testWindow {
			crash(t, e)
			e = pagedEngine(t, dir, nil)
			crashAt = n
		}
		msgs, err := e.PopMessages(ctx, "p", "q", 5)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("pop at #%d: %d %v", next, len(msgs), err)
		}
		for _, m := range msgs {
			for next < n && isGone[ids[next]] {
				next++
			}
			if next == n || m.ID != ids[next] {
				t.Fatalf("popped %s, want #%d", m.ID, next)
			}
			next++
		}
		for next < n && isGone[ids[next]] {
			next++
		}
	}
}

// TestPagedListings lists a queue with a head, a gap and a tail from
// markers in each: every message comes once, in order.
func TestPagedListings(t *testing.T) {
	e := pagedEngine(t, t.TempDir(), nil)
	defer e.Close()
	ids := postBacklog(t, e, "q", 12*testWindow, hour)
	settle(t, e)
	tail := postBacklog(t, e, "q", 5, hour) // resident until the next eviction
	ids = append(ids, tail...)
	g, _ := gapOf(e, "q")
	if !g.open() {
		t.Fatal("no gap")
	}
	for _, start := range []int{-1, 2, int(g.from) + 3, int(g.to) - 2, len(ids) - 3} {
		marker := ""
		if start >= 0 {
			marker = strconv.Itoa(start + 1) // sequences start at 1
		}
		var got []string
		for {
			msgs, next, err := e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 7, Echo: true, Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				got = append(got, m.ID)
			}
			marker = next
		}
		want := ids[start+1:]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("from #%d: listed %d messages, want %d in order", start+1, len(got), len(want))
		}
	}
	got, err := e.GetMessages(ctx, "p", "q", []string{ids[0], ids[int(g.from)+1], ids[len(ids)-1]})
	if err != nil || len(got) != 3 {
		t.Fatalf("get by ids across head, gap and tail: %d %v", len(got), err)
	}
}

// TestPagedStatsAndLimit: stats and _max_messages count the gap exactly.
func TestPagedStatsAndLimit(t *testing.T) {
	dir := t.TempDir()
	e := pagedEngine(t, dir, nil)
	defer func() { e.Close() }()
	const limit = 10 * testWindow
	if _, err := e.CreateQueue(ctx, "p", "q", storage.Metadata{storage.MetaMaxMessages: limit}); err != nil {
		t.Fatal(err)
	}
	ids := postBacklog(t, e, "q", limit, hour)
	settle(t, e)
	if g, _ := gapOf(e, "q"); !g.open() {
		t.Fatal("no gap")
	}
	check := func(when string, total, claimed int64) {
		t.Helper()
		st, err := e.QueueStats(ctx, "p", "q")
		if err != nil || st.Total != total || st.Claimed != claimed || st.Free != total-claimed {
			t.Fatalf("%s: %+v %v, want total %d claimed %d", when, st, err, total, claimed)
		}
		if st.Oldest == nil || st.Newest == nil || st.Newest.ID != ids[len(ids)-1] {
			t.Fatalf("%s: oldest/newest %+v %+v", when, st.Oldest, st.Newest)
		}
	}
	check("full", limit, 0)
	if _, err := e.PostMessages(ctx, "p", "q", "c", storagetestBatch(1)); !errors.Is(err, storage.ErrLimitExceeded) {
		t.Fatalf("post over _max_messages with a gap: %v", err)
	}
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 3})
	if err != nil || len(c.Messages) != 3 {
		t.Fatalf("claim: %v", err)
	}
	check("claimed", limit, 3)
	if err := e.DeleteMessage(ctx, "p", "q", ids[limit/2], ""); err != nil { // in the gap
		t.Fatal(err)
	}
	check("deleted in the gap", limit-1, 3)
	if _, err := e.PostMessages(ctx, "p", "q", "c", storagetestBatch(1)); err != nil {
		t.Fatalf("post after a delete in the gap: %v", err)
	}
	ids = append(ids, "")
	ids = ids[:len(ids)-1]
	e.Close()
	e = pagedEngine(t, dir, nil)
	st, err := e.QueueStats(ctx, "p", "q")
	if err != nil || st.Total != limit || st.Claimed != 3 {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	if _, err := e.PostMessages(ctx, "p", "q", "c", storagetestBatch(1)); !errors.Is(err, storage.ErrLimitExceeded) {
		t.Fatalf("post over _max_messages after restart: %v", err)
	}
}

func storagetestBatch(n int) []storage.NewMessage {
	out := make([]storage.NewMessage, n)
	for i := range out {
		out[i] = storage.NewMessage{Body: []byte(`"x"`), TTL: 3600}
	}
	return out
}

// TestPagedRestartLoadsHead: a restart reads the head and tail of a queue,
// not its gap, and serves the backlog as before.
func TestPagedRestartLoadsHead(t *testing.T) {
	dir := t.TempDir()
	e := pagedEngine(t, dir, nil)
	ids := postBacklog(t, e, "q", 40*testWindow, hour)
	settle(t, e)
	e.Close()
	e = pagedEngine(t, dir, nil)
	defer e.Close()
	q := e.partition("p", "q").queue(qkey("p", "q"))
	if g, resident := gapOf(e, "q"); !g.open() || resident > 3*testWindow || q.live != int64(len(ids)) {
		t.Fatalf("after restart: gap %+v, %d resident, live %d; want %d messages mostly on disk", g, resident, q.live, len(ids))
	}
	msgs, err := e.PopMessages(ctx, "p", "q", 20)
	if err != nil || len(msgs) != 20 || msgs[0].ID != ids[0] || msgs[19].ID != ids[19] {
		t.Fatalf("pop after restart: %d %v", len(msgs), err)
	}
}

// TestPagedEvictionWaitsForFlush: a run of the tail leaves memory only
// once the flusher wrote it, and without the batch of a message changed
// since it was marked, whose change the flusher writes from memory.
func TestPagedEvictionWaitsForFlush(t *testing.T) {
	e := openEngine(t, t.TempDir(), func(o *Options) {
		o.IndexWindow, o.Partitions = testWindow, 1
		o.CheckpointInterval = time.Hour // flush jobs wait a second
	})
	defer e.Close()
	p := e.partition("p", "q")
	var mark evictMark
	var gapOpen bool
	writer := func() {
		t.Helper()
		if err := p.do(func(int64) error {
			q := p.queue(qkey("p", "q"))
			mark, gapOpen = q.evict, q.gap.open()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Posts of two messages: a batch has a neighbour to lose.
	var ids []string
	for len(ids) < 5*testWindow {
		ids = append(ids, post(t, e, "q", `"a"`, `"b"`)...)
	}
	writer()
	if mark.to == 0 || gapOpen {
		// The flusher wrote the posts and the run left memory already:
		// a machine slower than the flusher's one-second wait.
		t.Skipf("after posting %d messages: mark %+v, gap %v; want a run marked and still resident", len(ids), mark, gapOpen)
	}
	// The flusher writes everything, the mark's group included.
	done := make(chan struct{})
	p.flushes <- flushJob{sync: done}
	<-done
	// A delete of the second message of the run's first batch, in a
	// group that then completes the eviction while the flusher has not
	// written the delete yet: the first message must stay in memory.
	victim := -1
	for i, id := range ids {
		if seq, _, _ := parseMessageID(id); seq == mark.from+1 {
			victim = i
		}
	}
	if victim < 0 || mark.to-mark.from < 4 {
		t.Fatalf("mark %+v: want a run of two batches at least", mark)
	}
	if err := e.DeleteMessage(ctx, "p", "q", ids[victim], ""); err != nil {
		t.Fatal(err)
	}
	writer()
	if !gapOpen {
		t.Fatalf("the run did not leave memory once written: mark %+v, flushed %d", mark, p.flushedGroup.Load())
	}
	settle(t, e)
	var listed int
	marker := ""
	for {
		msgs, next, err := e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 10, Echo: true, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if m.ID == ids[victim] {
				t.Fatal("deleted message listed")
			}
		}
		listed += len(msgs)
		marker = next
	}
	if listed != len(ids)-1 {
		t.Fatalf("listed %d messages, want %d", listed, len(ids)-1)
	}
}

// TestPagedStatsCountDelayedInGap: delayed messages of the gap count as
// delayed in stats until their delay is over, also after a delete in the
// gap and across a restart; messages without a delay never do.
func TestPagedStatsCountDelayedInGap(t *testing.T) {
	dir := t.TempDir()
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	e := pagedEngine(t, dir, clk)
	defer func() { e.Close() }()
	const n = 30 * testWindow
	var ids []string
	for len(ids) < n {
		msgs := make([]storage.NewMessage, 5)
		for j := range msgs {
			msgs[j] = storage.NewMessage{Body: testBody(len(ids) + j), TTL: 3600}
			if (len(ids)+j)%2 == 0 {
				msgs[j].Delay = 300
			}
		}
		got, err := e.PostMessages(ctx, "p", "q", "client-a", msgs)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	settle(t, e)
	if g, resident := gapOf(e, "q"); !g.open() || resident > 3*testWindow {
		t.Fatalf("gap %+v with %d resident", g, resident)
	}
	check := func(when string, total, delayed int64) {
		t.Helper()
		st, err := e.QueueStats(ctx, "p", "q")
		if err != nil || st.Total != total || st.Delayed != delayed {
			t.Fatalf("%s: total %d delayed %d (%v), want %d and %d", when, st.Total, st.Delayed, err, total, delayed)
		}
	}
	check("posted", n, n/2)
	// A delayed message deep in the gap, and one that is not delayed.
	for _, id := range []string{ids[n/2], ids[n/2+1]} {
		if err := e.DeleteMessage(ctx, "p", "q", id, ""); err != nil {
			t.Fatal(err)
		}
	}
	check("deleted in the gap", n-2, n/2-1)
	settle(t, e)
	e.Close()
	e = pagedEngine(t, dir, clk)
	check("after restart", n-2, n/2-1)
	clk.Add(299 * time.Second)
	check("before the delay is over", n-2, n/2-1)
	clk.Add(2 * time.Second)
	check("after the delay", n-2, 0)
}

// TestPagedHeldClaims claims a backlog 100 times the window without
// deleting anything: every message is delivered once, in order, and the
// page-ins grow with the messages held, as each copies the head they stay
// in (a page-in of half a window each time cost the claims O(held)).
func TestPagedHeldClaims(t *testing.T) {
	e, ids := pagedBacklog(t)
	n := len(ids)
	if g, _ := gapOf(e, "q"); g == nil {
		t.Fatal("no gap: the backlog is all in memory")
	}
	p := e.partition("p", "q")
	var before int
	p.do(func(int64) error { before = p.pageIns; return nil })
	for next := 0; next < n; {
		c := claimNext(t, e, ids, next)
		next += len(c.Messages)
	}
	var pageIns int
	p.do(func(int64) error { pageIns = p.pageIns - before; return nil })
	// Sized by the window alone, page-ins took 89 here.
	if pageIns > n/(pageInMaxWindows*testWindow)+20 {
		t.Fatalf("%d page-ins to claim %d messages with a window of %d", pageIns, n, testWindow)
	}
}

// TestPagedDrainKeepsWindow: claiming and deleting a backlog keeps the
// head near its window: deleted messages do not count as held ones when
// a page-in is sized.
func TestPagedDrainKeepsWindow(t *testing.T) {
	e, ids := pagedBacklog(t)
	n := len(ids)
	p := e.partition("p", "q")
	q := p.queue(qkey("p", "q"))
	most := 0
	for done := 0; done < n; {
		c := claimNext(t, e, ids, done)
		got := make([]string, len(c.Messages))
		for i, m := range c.Messages {
			got[i] = m.ID
		}
		if err := e.DeleteMessages(ctx, "p", "q", got, []string{c.ID}); err != nil {
			t.Fatal(err)
		}
		done += len(got)
		p.do(func(int64) error { most = max(most, q.headEnd()); return nil })
	}
	if most > 4*testWindow {
		t.Fatalf("the head held up to %d entries draining with a window of %d", most, testWindow)
	}
}

// pagedBacklog opens a paged engine holding a backlog of 100 windows in
// queue q, settled (mostly on disk), and returns it with the ids in order.
func pagedBacklog(t *testing.T) (*Engine, []string) {
	e := pagedEngine(t, t.TempDir(), nil)
	t.Cleanup(func() { e.Close() })
	ids := postBacklog(t, e, "q", 100*testWindow, hour)
	settle(t, e)
	return e, ids
}

// claimNext claims up to 4 messages of queue q, which must be ids[next:]
// in order.
func claimNext(t *testing.T, e *Engine, ids []string, next int) storage.Claim {
	t.Helper()
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 4})
	if err != nil || len(c.Messages) == 0 {
		t.Fatalf("claim at message %d: %v, %d messages", next, err, len(c.Messages))
	}
	for i, m := range c.Messages {
		if m.ID != ids[next+i] {
			t.Fatalf("claim delivered %s as message %d, want %s", m.ID, next+i, ids[next+i])
		}
	}
	return c
}
