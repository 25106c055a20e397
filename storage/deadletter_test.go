package storage

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDeadLetterOf(t *testing.T) {
	for _, c := range []struct {
		name string
		meta Metadata
		want DeadLetter
		ok   bool
	}{
		{"policy", Metadata{MetaMaxClaimCount: json.Number("3"), MetaDeadLetterQueue: "dlq", MetaDeadLetterTTL: json.Number("600")}, DeadLetter{3, "dlq", 600}, true},
		{"no ttl", Metadata{MetaMaxClaimCount: json.Number("1"), MetaDeadLetterQueue: "dlq"}, DeadLetter{1, "dlq", 0}, true},
		{"no queue", Metadata{MetaMaxClaimCount: json.Number("3")}, DeadLetter{}, false},
		{"no count", Metadata{MetaDeadLetterQueue: "dlq"}, DeadLetter{}, false},
		{"zero count", Metadata{MetaMaxClaimCount: json.Number("0"), MetaDeadLetterQueue: "dlq"}, DeadLetter{}, false},
		{"empty queue name", Metadata{MetaMaxClaimCount: json.Number("2"), MetaDeadLetterQueue: ""}, DeadLetter{}, false},
		{"nil", nil, DeadLetter{}, false},
	} {
		got, ok := DeadLetterOf(c.meta)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
	d := DeadLetter{MaxClaims: 2}
	if d.Due(1) || !d.Due(2) || !d.Due(3) {
		t.Error("Due is not claimCount >= MaxClaims")
	}
}

func TestDeadLetterMoved(t *testing.T) {
	now := time.Unix(1000, 0)
	m := Message{Body: []byte(`"x"`), Checksum: "MD5:1", Expires: now.Add(90*time.Second + 500*time.Millisecond)}
	for _, c := range []struct {
		name string
		d    DeadLetter
		m    Message
		ttl  int64
	}{
		{"policy ttl", DeadLetter{TTL: 600}, m, 600},
		{"what is left", DeadLetter{}, m, 90},
		{"at least a second", DeadLetter{}, Message{Expires: now.Add(-time.Minute)}, 1},
	} {
		got := c.d.Moved(c.m, now)
		if got.TTL != c.ttl || string(got.Body) != string(c.m.Body) || got.Checksum != c.m.Checksum {
			t.Errorf("%s: %+v, want ttl %d", c.name, got, c.ttl)
		}
	}
}
