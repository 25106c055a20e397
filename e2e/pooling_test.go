package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/sqldb/sqltest"
)

// TestPoolingAcrossRestart runs the binary in pooling mode with its
// catalogue on each SQL database: pools are created over the admin API,
// queues spread over them, and after a restart every queue is still found
// in its pool with its messages.
func TestPoolingAcrossRestart(t *testing.T) {
	for _, d := range sqltest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "zaqar.conf")
			body := fmt.Sprintf("[DEFAULT]\npooling = True\nadmin_mode = True\n[drivers:management_store:sqlalchemy]\nuri = %s\n", sqltest.FreshURI(t, d))
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			port := freePort(t)
			p := start(t, port, filepath.Join(dir, "default"), "--config-file", conf)
			for _, pool := range []string{"a", "b"} {
				uri := "badger://" + filepath.Join(dir, pool) + "?fsync=always&partitions=2"
				if code, b := p.request("PUT", "/v2/pools/"+pool, `{"weight": 50, "uri": "`+uri+`"}`, "X-Roles: admin"); code != 201 {
					t.Fatalf("create pool %s: %d %s\n%s", pool, code, b, p.log)
				}
			}
			const queues = 12
			for i := 0; i < queues; i++ {
				code, b := p.request("POST", fmt.Sprintf("/v2/queues/q%d/messages", i), fmt.Sprintf(`{"messages":[{"body":%d}]}`, i))
				if code != 201 {
					t.Fatalf("post q%d: %d %s", i, code, b)
				}
			}
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				t.Fatal("no exit within 30s of SIGTERM")
			}
			p = start(t, port, filepath.Join(dir, "default"), "--config-file", conf)
			for i := 0; i < queues; i++ {
				msgs, _ := p.allMessages(t, fmt.Sprintf("q%d", i), 0)
				if len(msgs) != 1 {
					t.Fatalf("queue q%d has %d messages after restart, want 1", i, len(msgs))
				}
			}
			used := 0
			for _, pool := range []string{"a", "b"} {
				if _, err := os.Stat(filepath.Join(dir, pool)); err == nil {
					used++
				}
			}
			if used != 2 {
				t.Fatalf("%d pool directories exist, want 2", used)
			}
			if code, b := p.request("GET", "/v2/queues?with_count=true", ""); code != 200 || !strings.Contains(string(b), fmt.Sprintf(`"count":%d`, queues)) {
				t.Fatalf("queue listing: %d %s", code, b)
			}
			if code, b := p.request("GET", "/v2/health", "", "X-Roles: admin"); code != 200 || !strings.Contains(string(b), `"catalog_reachable":true`) {
				t.Fatalf("health: %d %s", code, b)
			}
		})
	}
}
