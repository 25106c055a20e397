package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/storage"
)

// TestBodiesReadTogether: bodies read with one pread come out whole and in
// their own message, whether posts interleave with other queues' records
// (gaps in the log), lie far apart, or exceed one read's bound.
func TestBodiesReadTogether(t *testing.T) {
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Partitions = 1 })
	defer e.Close()
	var want []string
	for i := 0; i < 30; i++ {
		body := fmt.Sprintf(`"q%d-%s"`, i, strings.Repeat("x", i*37))
		switch {
		case i%7 == 3: // far apart: another queue's large record between
			post(t, e, "other", `"`+strings.Repeat("y", bodyGap+100)+`"`)
		case i%5 == 1: // close: a small record of another queue between
			post(t, e, "other", `"z"`)
		case i == 20: // larger than one read
			body = `"` + strings.Repeat("w", maxBodyRead+10) + `"`
		}
		post(t, e, "q", body)
		want = append(want, body)
	}
	msgs, _, err := e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 40, Echo: true})
	if err != nil || len(msgs) != len(want) {
		t.Fatalf("list: %d messages, %v", len(msgs), err)
	}
	for i, m := range msgs {
		if string(m.Body) != want[i] {
			t.Fatalf("message %d: body of %d bytes, want %d", i, len(m.Body), len(want[i]))
		}
	}
	// Claims read the same way.
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 20})
	if err != nil || len(c.Messages) != 20 {
		t.Fatalf("claim: %d, %v", len(c.Messages), err)
	}
	for i, m := range c.Messages {
		if string(m.Body) != want[i] {
			t.Fatalf("claimed message %d: wrong body", i)
		}
	}
}

// TestClaimBodiesRecycled: a claim's bodies stay whole until the claim is
// recycled, however many claims run meanwhile, and claims reading into a
// recycled buffer, smaller or larger than what it held, get their own
// bodies.
func TestClaimBodiesRecycled(t *testing.T) {
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Partitions = 1 })
	defer e.Close()
	var want, ids []string
	for i := 0; i < 60; i++ {
		// Mostly small, to fit a pooled buffer, with a few claims
		// needing more room than it has.
		size := 50 + i
		if i%13 == 5 {
			size = 40 << 10
		}
		body := fmt.Sprintf(`"m%d-%s"`, i, strings.Repeat(string(rune('a'+i%26)), size))
		ids = append(ids, post(t, e, "q", body)...)
		want = append(want, body)
	}
	claim := func(limit int) storage.Claim {
		t.Helper()
		c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: limit})
		if err != nil || len(c.Messages) != limit {
			t.Fatalf("claim: %d messages, %v", len(c.Messages), err)
		}
		return c
	}
	check := func(c storage.Claim, from int) {
		t.Helper()
		for i, m := range c.Messages {
			if string(m.Body) != want[from+i] || m.ID != ids[from+i] {
				t.Fatalf("message %d: %s with body %.20q, want %s with %.20q", from+i, m.ID, m.Body, ids[from+i], want[from+i])
			}
		}
	}
	kept := claim(10)
	next := 10
	for _, limit := range []int{2, 20, 1, 10, 5} {
		c := claim(limit)
		check(c, next)
		c.Recycle()
		c.Recycle() // a second call is harmless
		next += limit
	}
	check(kept, 0)
	held, err := e.GetClaim(ctx, "p", "q", kept.ID)
	if err != nil {
		t.Fatal(err)
	}
	kept.Recycle()
	last := claim(12)
	check(last, next)
	last.Recycle()
	check(held, 0)
}
