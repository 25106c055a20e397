package httpapi

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage/encrypt"
)

// Messages of an encrypted queue come back as posted on every read path;
// another key answers 503 as Zaqar does.
func TestEncryptedQueueOverHTTP(t *testing.T) {
	s := newServer(t, nil)
	opts := DefaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	api := func(key string) *server {
		return &server{t: t, store: s.store, client: serveAPI(t, encrypt.Wrap(s.store, key), opts)}
	}
	right, wrong := api("AES256"), api("another key")
	right.expect("create", right.do("PUT", "/v2/queues/e", `{"_enable_encrypt_messages":true}`), 201)
	right.expect("metadata", right.do("GET", "/v2/queues/e", ""), 200, `"_enable_encrypt_messages":true`)
	r := right.expect("post", right.do("POST", "/v2/queues/e/messages", `{"messages":[{"body":{"secret":"s3"}},{"body":"two"},{"body":3}]}`), 201)
	id := r.body[strings.LastIndex(r.body, "/")+1 : len(r.body)-3]
	right.expect("list", right.do("GET", "/v2/queues/e/messages?echo=true", ""), 200, `"body":{"secret":"s3"}`, `"body":"two"`, `"body":3`)
	right.expect("get", right.do("GET", "/v2/queues/e/messages/"+id, ""), 200, `"body":3`)
	right.expect("get by ids", right.do("GET", "/v2/queues/e/messages?ids="+id, ""), 200, `"body":3`)
	right.expect("stats", right.do("GET", "/v2/queues/e/stats", ""), 200, `"body":{"secret":"s3"}`, `"body":3`)
	wrong.expect("wrong key list", wrong.do("GET", "/v2/queues/e/messages?echo=true", ""), 503,
		`"Messages could not be listed. Please try again in a few seconds."`)
	wrong.expect("wrong key claim", wrong.do("POST", "/v2/queues/e/claims", `{}`), 503)
	right.expect("claim", right.do("POST", "/v2/queues/e/claims?limit=1", `{}`), 201, `"body":{"secret":"s3"}`)
	right.expect("pop", right.do("DELETE", "/v2/queues/e/messages?pop=1", ""), 200, `"body":"two"`)
	if r := testenv.Do(t, s.client, "GET", "/v2/queues/e/messages/"+id, "", defaultHeaders...); strings.Contains(r.Body, `"body":3`) {
		t.Fatalf("the store under the layer answered the plaintext: %s", r.Body)
	}
	noKey := api("")
	noKey.expect("no key post", noKey.do("POST", "/v2/queues/e/messages", `{"messages":[{"body":1}]}`), 503,
		`"Messages could not be enqueued. Please try again in a few seconds."`)
}
