package wsapi

import (
	"testing"

	"github.com/zaqar-go/zaqar/policy"
)

// FuzzFrame: any frame, text or binary, decodes or fails cleanly, passes
// or fails the schema check without panicking, and whatever decodes
// encodes again in both encodings.
func FuzzFrame(f *testing.F) {
	s := &Server{policy: policy.Default()}
	var err error
	if s.actions, err = s.actionTable(); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{"action":"message_post","headers":{"Client-ID":"x","X-Project-ID":"p"},"body":{"queue_name":"q","messages":[{"body":1}]}}`,
		`{"action":"claim_create","headers":{},"body":{"limit":1.5}}`, `[]`, `{"action":null}`, `{`, "\x81\xa6action\xa5queue",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		v, err := decodeFrame(data, binary)
		if err != nil {
			return
		}
		if doc, ok := v.(map[string]any); ok {
			s.check(doc)
		}
		for _, b := range []bool{false, true} {
			if _, err := encodeFrame(map[string]any{"request": v}, b); err != nil {
				t.Fatalf("decoded value does not encode (binary=%v): %v", b, err)
			}
		}
	})
}
