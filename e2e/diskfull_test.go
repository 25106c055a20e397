package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

// TestFullDisk is the operator's check on a small filesystem: posts fill an
// 80 MB tmpfs until they answer 503 with Zaqar's body and the reason, while
// reads, claims, ping and the queue's DELETE still work; deleting the queue
// brings posts back by themselves; killed on the full disk, the server
// starts again and serves reads and deletes.
func TestFullDisk(t *testing.T) {
	data := filepath.Join(testenv.TmpFS(t, 80<<20), "data")
	conf := filepath.Join(t.TempDir(), "zaqar.conf")
	os.WriteFile(conf, []byte("[drivers:message_store:badger]\nmin_free_bytes = 16777216\nsegment_size = 4194304\n"+
		"reap_interval = 0.05\ncheckpoint_interval = 0.1\n"), 0o644)
	port := freePort(t)
	p := start(t, port, data, "--config-file", conf)
	batch := `{"messages":[` + strings.Repeat(`{"ttl":3600,"body":"`+strings.Repeat("x", 8000)+`"},`, 9) +
		`{"ttl":3600,"body":"last"}]}`
	fill := func() (int, string) {
		t.Helper()
		for n := 0; n < 5000; n++ {
			code, body := p.request("POST", "/v2/queues/fill/messages", batch)
			switch code {
			case 201:
			case 503:
				return n, string(body)
			default:
				t.Fatalf("post %d: %d %s", n, code, body)
			}
		}
		t.Fatal("80 MB took 5000 posts of 72 KB without a refusal")
		return 0, ""
	}
	n, refusal := fill()
	var doc struct{ Title, Description string }
	if err := json.Unmarshal([]byte(refusal), &doc); err != nil || doc.Title != "Service temporarily unavailable" ||
		!strings.Contains(doc.Description, "storage is full") || !strings.Contains(doc.Description, "Please try again") {
		t.Fatalf("refusal after %d posts: %s", n, refusal)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v2/ping", "", 204},
		{"GET", "/v2/queues/fill/stats", "", 200},
		{"GET", "/v2/queues/fill/messages?echo=true", "", 200},
		{"POST", "/v2/queues/fill/claims?limit=5", `{"ttl":60,"grace":60}`, 201},
		{"DELETE", "/v2/queues/fill", "", 204},
	} {
		if code, body := p.request(c.method, c.path, c.body); code != c.want {
			t.Fatalf("%s %s on a full disk: %d %s", c.method, c.path, code, body)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := p.request("POST", "/v2/queues/after/messages", `{"messages":[{"body":1}]}`)
		if code == 201 {
			break
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("posts did not come back after the queue delete: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond) // waiting for a checkpoint and a space check
	}

	fill()
	p.kill()
	q := start(t, port, data, "--config-file", conf)
	if code, body := q.request("GET", "/v2/queues/fill/stats", ""); code != 200 {
		t.Fatalf("stats after a restart on the full disk: %d %s", code, body)
	}
	if code, body := q.request("DELETE", "/v2/queues/fill", ""); code != 204 {
		t.Fatalf("delete after a restart on the full disk: %d %s", code, body)
	}
}
