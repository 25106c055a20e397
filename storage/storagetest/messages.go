package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

func init() {
	register("PostListFIFOAndPaging", func(e *env) {
		var want []string
		for i := 0; i < 7; i++ {
			want = append(want, e.post("q", "c1", fmt.Sprintf(`{"n":%d}`, 3*i), fmt.Sprintf(`"%d"`, 3*i+1), fmt.Sprintf("[%d]", 3*i+2))...)
		}
		seen := map[string]bool{}
		for _, id := range want {
			if seen[id] {
				e.t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
		var got []string
		marker := ""
		for pages := 0; pages < 20; pages++ {
			page, next := e.list("q", storage.ListMessagesOptions{Limit: 4, Marker: marker, Echo: true})
			if len(page) == 0 {
				break
			}
			got = append(got, ids(page)...)
			marker = next
		}
		if !equal(got, want) {
			e.t.Fatalf("paging order:\n got %v\nwant %v", got, want)
		}
		m, err := e.s.GetMessage(e.ctx, e.project, "q", want[0])
		if err != nil || string(m.Body) != `{"n":0}` || m.TTL != 300 || m.ClientID != "c1" {
			e.t.Fatalf("get: %+v %v", m, err)
		}
		if page, _ := e.list("q", storage.ListMessagesOptions{Marker: "not-a-marker", Echo: true}); len(page) != 0 {
			e.t.Fatalf("bad marker gave %d messages, want an empty page", len(page))
		}
		if page, _ := e.list("missing", storage.ListMessagesOptions{Echo: true}); len(page) != 0 {
			e.t.Fatal("missing queue listed messages")
		}
		if _, err := e.s.GetQueueMetadata(e.ctx, e.project, "q"); err != nil {
			e.t.Fatalf("post did not create the queue: %v", err)
		}
	})

	register("BodiesAreCopied", func(e *env) {
		buf := []byte(`{"a":"original"}`)
		ids, err := e.s.PostMessages(e.ctx, e.project, "q", "c", []storage.NewMessage{{Body: buf, TTL: 120, Checksum: "MD5:x"}})
		if err != nil {
			e.t.Fatal(err)
		}
		copy(buf, `{"a":"CLOBBERED"}`)
		m, _ := e.s.GetMessage(e.ctx, e.project, "q", ids[0])
		if string(m.Body) != `{"a":"original"}` || m.Checksum != "MD5:x" || m.TTL != 120 {
			e.t.Fatalf("stored message changed with the caller's buffer: %q %+v", m.Body, m)
		}
	})

	register("EchoClaimedDelayedFilters", func(e *env) {
		mine := e.post("q", "me", "1")
		theirs := e.post("q", "them", "2", "3")
		if page, _ := e.list("q", storage.ListMessagesOptions{ClientID: "me"}); !equal(ids(page), theirs) {
			e.t.Fatalf("echo=false: %v", ids(page))
		}
		if page, _ := e.list("q", storage.ListMessagesOptions{ClientID: "me", Echo: true}); len(page) != 3 || page[0].ID != mine[0] {
			e.t.Fatalf("echo=true: %v", ids(page))
		}
		c := e.claim("q", 1, 60, 60)
		if page, _ := e.list("q", storage.ListMessagesOptions{ClientID: "x"}); len(page) != 2 {
			e.t.Fatalf("claimed message listed without include_claimed: %d", len(page))
		}
		page, _ := e.list("q", storage.ListMessagesOptions{ClientID: "x", IncludeClaimed: true})
		if len(page) != 3 || page[0].ClaimID != c.ID {
			e.t.Fatalf("include_claimed: %+v", page)
		}
		d, _ := e.s.PostMessages(e.ctx, e.project, "d", "c", []storage.NewMessage{{Body: []byte("1"), TTL: 300, Delay: 30}})
		if page, _ := e.list("d", storage.ListMessagesOptions{Echo: true}); len(page) != 0 {
			e.t.Fatal("delayed message listed")
		}
		if page, _ := e.list("d", storage.ListMessagesOptions{Echo: true, IncludeDelayed: true}); len(page) != 1 {
			e.t.Fatal("include_delayed hides the message")
		}
		if st, err := e.s.QueueStats(e.ctx, e.project, "d"); err != nil || st.Delayed != 1 || st.Free != 1 || st.Total != 1 {
			e.t.Fatalf("stats of a delayed message: %+v %v", st, err)
		}
		if c := e.claim("d", 10, 60, 60); len(c.Messages) != 0 {
			e.t.Fatal("delayed message claimed")
		}
		if p, _ := e.s.PopMessages(e.ctx, e.project, "d", 10); len(p) != 0 {
			e.t.Fatal("delayed message popped")
		}
		e.clock.Advance(31 * time.Second)
		if st, _ := e.s.QueueStats(e.ctx, e.project, "d"); st.Delayed != 0 || st.Free != 1 {
			e.t.Fatalf("stats after the delay: %+v", st)
		}
		if c := e.claim("d", 10, 60, 60); len(c.Messages) != 1 || c.Messages[0].ID != d[0] {
			e.t.Fatal("message not claimable after its delay")
		}
	})

	register("ExpiryHidesMessages", func(e *env) {
		e.s.PostMessages(e.ctx, e.project, "q", "c", []storage.NewMessage{{Body: []byte("1"), TTL: 60}, {Body: []byte("2"), TTL: 120}})
		e.clock.Advance(61 * time.Second)
		page, _ := e.list("q", storage.ListMessagesOptions{Echo: true})
		if len(page) != 1 || string(page[0].Body) != "2" {
			e.t.Fatalf("after 61s: %d messages", len(page))
		}
		e.clock.Advance(60 * time.Second)
		if page, _ := e.list("q", storage.ListMessagesOptions{Echo: true}); len(page) != 0 {
			e.t.Fatal("expired message listed")
		}
		if c := e.claim("q", 10, 60, 60); len(c.Messages) != 0 {
			e.t.Fatal("expired message claimed")
		}
		if st, _ := e.s.QueueStats(e.ctx, e.project, "q"); st.Total != 0 {
			e.t.Fatalf("expired counted: %+v", st)
		}
	})

	register("GetMany", func(e *env) {
		ids := e.post("q", "c", "1", "2", "3")
		got, err := e.s.GetMessages(e.ctx, e.project, "q", []string{ids[2], "garbage", ids[0], "00000000000000000000000000000000"})
		if err != nil || len(got) != 2 {
			e.t.Fatalf("get many: %d %v", len(got), err)
		}
		if _, err := e.s.GetMessages(e.ctx, e.project, "missing", ids); !errors.Is(err, storage.ErrQueueNotFound) {
			e.t.Fatalf("missing queue: %v", err)
		}
		if _, err := e.s.GetMessage(e.ctx, e.project, "missing", ids[0]); !errors.Is(err, storage.ErrQueueNotFound) {
			e.t.Fatalf("get on missing queue: %v", err)
		}
		if _, err := e.s.GetMessage(e.ctx, e.project, "q", "garbage"); !errors.Is(err, storage.ErrMessageNotFound) {
			e.t.Fatalf("get malformed id: %v", err)
		}
	})

	register("DeleteWithClaimRules", func(e *env) {
		ids := e.post("q", "c", "1", "2", "3")
		c := e.claim("q", 1, 60, 60)
		c2 := e.claim("q", 1, 60, 60)
		cases := []struct {
			id, claim string
			want      error
		}{
			{ids[0], "", storage.ErrMessageClaimed},
			{ids[2], c.ID, storage.ErrMessageNotClaimed},
			{ids[0], c2.ID, storage.ErrMessageClaimed},
			{ids[0], "no-such-claim", storage.ErrClaimNotFound},
			{"00000000000000000000000000000000", "", nil},
			{ids[0], c.ID, nil},
			{ids[2], "", nil},
		}
		for i, tc := range cases {
			if err := e.s.DeleteMessage(e.ctx, e.project, "q", tc.id, tc.claim); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				e.t.Fatalf("case %d: delete(%s, %q) = %v, want %v", i, tc.id, tc.claim, err, tc.want)
			}
		}
		if got := ids2(e.all("q")); !equal(got, []string{ids[1]}) {
			e.t.Fatalf("left %v", got)
		}
		e.clock.Advance(121 * time.Second)
		if err := e.s.DeleteMessage(e.ctx, e.project, "q", ids[1], c2.ID); !errors.Is(err, storage.ErrMessageNotClaimed) {
			e.t.Fatalf("delete with an expired claim: %v", err)
		}
	})

	register("BulkDeleteAndPop", func(e *env) {
		ids := e.post("q", "c", "1", "2", "3", "4", "5")
		c := e.claim("q", 1, 60, 60)
		if err := e.s.DeleteMessages(e.ctx, e.project, "q", []string{ids[1], ids[4]}, []string{c.ID}); !errors.Is(err, storage.ErrMessageClaimed) {
			e.t.Fatalf("bulk delete of unclaimed with claim ids: %v", err)
		}
		if err := e.s.DeleteMessages(e.ctx, e.project, "q", []string{ids[0], ids[4], "bogus"}, nil); err != nil {
			e.t.Fatal(err)
		}
		popped, err := e.s.PopMessages(e.ctx, e.project, "q", 2)
		if err != nil || !equal(ids2(popped), []string{ids[1], ids[2]}) {
			e.t.Fatalf("pop: %v %v", ids2(popped), err)
		}
		if left := ids2(e.all("q")); !equal(left, []string{ids[3]}) {
			e.t.Fatalf("left %v", left)
		}
	})

	register("ConcurrentPostsAllPresentOnce", func(e *env) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		posted := map[string]bool{}
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					got, err := e.s.PostMessages(e.ctx, e.project, "q", "c", []storage.NewMessage{
						{Body: []byte(fmt.Sprintf("%d", w)), TTL: 300}, {Body: []byte(fmt.Sprintf("%d", w)), TTL: 300}})
					if err != nil {
						e.t.Error(err)
						return
					}
					mu.Lock()
					for _, id := range got {
						posted[id] = true
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		var all []storage.Message
		marker := ""
		for {
			page, next := e.list("q", storage.ListMessagesOptions{Limit: 20, Marker: marker, Echo: true})
			if len(page) == 0 {
				break
			}
			all, marker = append(all, page...), next
		}
		if len(all) != 160 || len(posted) != 160 {
			e.t.Fatalf("listed %d, posted %d distinct", len(all), len(posted))
		}
		for _, m := range all {
			if !posted[m.ID] {
				e.t.Fatalf("unknown id %s", m.ID)
			}
		}
	})
}

func ids2(m []storage.Message) []string { return ids(m) }
