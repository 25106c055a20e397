package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardSeriesExist renders /metrics of a server that has served
// posts, claims and deletes, and checks that every series the packaged
// Grafana dashboard queries is there: a renamed metric would leave a
// panel silently empty.
func TestDashboardSeriesExist(t *testing.T) {
	p := start(t, freePort(t), t.TempDir())
	// A message's delay applies in a queue with a default delay (Zaqar's rule).
	if code, _ := p.request("PUT", "/v2/queues/orders", `{"_default_message_delay":60}`); code != 201 {
		t.Fatalf("create queue: %d", code)
	}
	if code, _ := p.request("POST", "/v2/queues/orders/messages", `{"messages":[{"body":1,"ttl":300,"delay":0},{"body":2,"ttl":300,"delay":0},{"body":3,"ttl":300}]}`); code != 201 {
		t.Fatalf("post: %d", code)
	}
	code, body := p.request("POST", "/v2/queues/orders/claims?limit=1", `{"ttl":60,"grace":60}`)
	var claim struct {
		Messages []struct{ Href string } `json:"messages"`
	}
	if code != 201 || json.Unmarshal(body, &claim) != nil || len(claim.Messages) != 1 {
		t.Fatalf("claim: %d %s", code, body)
	}
	if code, _ := p.request("DELETE", claim.Messages[0].Href, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	code, metrics := p.request("GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	present := map[string]bool{}
	for _, line := range strings.Split(string(metrics), "\n") {
		if name, _, ok := strings.Cut(line, "{"); ok && !strings.HasPrefix(line, "#") {
			present[name] = true
		} else if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			present[name] = true
		}
	}
	for _, want := range []string{`zaqar_queue_messages{project="e2e",queue="orders",state="visible"} 1`,
		`zaqar_queue_messages{project="e2e",queue="orders",state="delayed"} 1`,
		`zaqar_queue_messages_deleted_total{project="e2e",queue="orders"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(metrics, "zaqar_queue"))
		}
	}

	raw, err := os.ReadFile("../packaging/grafana/zaqar-server.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct{ List []struct{ Query any } }
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var exprs []string
	for _, panel := range dash.Panels {
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q queries nothing", panel.Title)
		}
		for _, target := range panel.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok && strings.HasPrefix(q, "label_values(") {
			exprs = append(exprs, q)
		}
	}
	// Series names: zaqar_*, process_*, go_*; PromQL's functions and
	// label names are lower case too, but never carry these prefixes.
	series := regexp.MustCompile(`\b(?:zaqar|process|go)_[a-z0-9_]+`)
	checked := 0
	for _, expr := range exprs {
		for _, name := range series.FindAllString(expr, -1) {
			checked++
			if !present[name] {
				t.Errorf("the dashboard queries %s (in %q), which /metrics lacks", name, expr)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d series references found in the dashboard: %s", checked, fmt.Sprint(exprs))
	}
}

// grep returns the lines of text that contain s.
func grep(text []byte, s string) string {
	var out []string
	for _, line := range strings.Split(string(text), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
