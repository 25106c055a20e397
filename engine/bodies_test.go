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
