package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

// TestTwoNodesOverOneRedis runs two server processes over one Redis:
// messages posted to one are claimed from the other, and consumers on
// both nodes never hold the same message in overlapping claims; every
// message is consumed exactly once.
func TestTwoNodesOverOneRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "zaqar.conf")
	if err := os.WriteFile(conf, []byte("[drivers]\nmessage_store = redis\n[drivers:message_store:redis]\nuri = "+r.URI()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := []*proc{
		start(t, freePort(t), filepath.Join(dir, "a"), "--config-file", conf),
		start(t, freePort(t), filepath.Join(dir, "b"), "--config-file", conf),
	}

	// Posted on A, claimed on B.
	code, body := nodes[0].request("POST", "/v2/queues/cross/messages", `{"messages":[{"body":"from-a"}]}`)
	if code != 201 {
		t.Fatalf("post on A: %d %s", code, body)
	}
	code, body = nodes[1].request("POST", "/v2/queues/cross/claims", `{"ttl": 60, "grace": 60}`)
	if code != 201 || !json.Valid(body) || !strings.Contains(string(body), "from-a") {
		t.Fatalf("claim on B: %d %s", code, body)
	}

	// Load: 4 posters on each node, 3 consumers on each node.
	const perPoster, posters = 50, 4
	var posted sync.Map
	var wg sync.WaitGroup
	for _, n := range nodes {
		for w := 0; w < posters; w++ {
			wg.Add(1)
			go func(n *proc) {
				defer wg.Done()
				for i := 0; i < perPoster; i++ {
					payload := `{"messages":[{"body":"m","ttl":300},{"body":"m","ttl":300}]}`
					code, body := n.request("POST", "/v2/queues/work/messages", payload)
					if code != 201 {
						t.Errorf("post: %d %s", code, body)
						return
					}
					for _, id := range ids(body) {
						posted.Store(id, true)
					}
				}
			}(n)
		}
	}
	wg.Wait()
	total := 0
	posted.Range(func(_, _ any) bool { total++; return true })
	if total != 2*posters*perPoster*2 {
		t.Fatalf("%d distinct ids acknowledged, want %d", total, 2*posters*perPoster*2)
	}

	type hold struct {
		claim string
		until time.Time
	}
	var mu sync.Mutex
	consumed := map[string]int{}
	holders := map[string]hold{}
	var failures []string
	for _, n := range nodes {
		for c := 0; c < 3; c++ {
			wg.Add(1)
			go func(n *proc) {
				defer wg.Done()
				empty := 0
				for empty < 3 {
					code, body := n.request("POST", "/v2/queues/work/claims?limit=7", `{"ttl": 60, "grace": 60}`)
					if code == 204 {
						empty++
						continue
					}
					if code != 201 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("claim: %d %s", code, body))
						mu.Unlock()
						return
					}
					empty = 0
					var claim struct {
						Messages []struct {
							ID   string `json:"id"`
							Href string `json:"href"`
						} `json:"messages"`
					}
					json.Unmarshal(body, &claim)
					for _, m := range claim.Messages {
						mu.Lock()
						if h, ok := holders[m.ID]; ok && time.Now().Before(h.until) {
							failures = append(failures, "message "+m.ID+" handed out in two live claims")
						}
						holders[m.ID] = hold{claim: m.Href, until: time.Now().Add(60 * time.Second)}
						mu.Unlock()
						if code, b := n.request("DELETE", m.Href, ""); code != 204 {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("delete %s: %d %s", m.Href, code, b))
							mu.Unlock()
							continue
						}
						mu.Lock()
						consumed[m.ID]++
						delete(holders, m.ID)
						mu.Unlock()
					}
				}
			}(n)
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %s", len(failures), failures[0])
	}
	posted.Range(func(k, _ any) bool {
		if consumed[k.(string)] != 1 {
			t.Errorf("message %s consumed %d times, want 1", k, consumed[k.(string)])
		}
		return true
	})
	if len(consumed) != total {
		t.Fatalf("consumed %d distinct messages, posted %d", len(consumed), total)
	}
	for _, n := range nodes {
		code, body := n.request("GET", "/v2/queues/work/stats", "")
		if code != 200 || !strings.Contains(string(body), `"total":0`) {
			t.Fatalf("stats after draining: %d %s", code, body)
		}
	}
}
