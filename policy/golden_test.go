package policy

import (
	"encoding/json"
	"os"
	"testing"
)

// goldenCreds and goldenTargets mirror CREDS and TARGETS in
// testdata/oslo_golden.py; an empty string there is an absent key.
var goldenCreds = []Creds{
	{},
	{Roles: []string{"admin"}, IsAdmin: true, ProjectID: "p1", UserID: "u1"},
	{Roles: []string{"Member", "reader"}, ProjectID: "p1"},
	{Roles: []string{"ADMIN"}, ProjectID: "p2", UserID: "q1", SystemScope: "all"},
}

var goldenTargets = []Target{
	{},
	{ProjectID: "p1", QueueName: "q1"},
	{ProjectID: "p2", QueueName: "q2", TopicName: "t1"},
}

// TestOsloGolden compares Parse, String and Allow with what oslo.policy
// itself made of several hundred generated rules: the same rules must fail
// to parse, and the rest must render and evaluate identically.
func TestOsloGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/oslo_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Rule  string
		Error bool
		Str   string
		Eval  string
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	refs := map[string]*Rule{
		"r1": mustParse(t, "role:admin"),
		"r2": mustParse(t, "project_id:%(project_id)s"),
	}
	var parsed int
	for _, c := range cases {
		r, err := Parse(c.Rule)
		if c.Error {
			if err == nil {
				t.Errorf("Parse(%q) = %v, want an error (oslo.policy cannot use it)", c.Rule, r)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v; oslo.policy parses it as %s", c.Rule, err, c.Str)
			continue
		}
		parsed++
		if got := r.String(); got != c.Str {
			t.Errorf("Parse(%q).String() = %s, oslo.policy: %s", c.Rule, got, c.Str)
		}
		bindForTest(r, refs)
		got := make([]byte, 0, len(c.Eval))
		for i := range goldenCreds {
			for _, tg := range goldenTargets {
				if r.Allow(tg, &goldenCreds[i]) {
					got = append(got, '1')
				} else {
					got = append(got, '0')
				}
			}
		}
		if string(got) != c.Eval {
			t.Errorf("%q: allow per creds x target = %s, oslo.policy: %s", c.Rule, got, c.Eval)
		}
	}
	if parsed < 200 {
		t.Fatalf("only %d golden rules parse; the golden file is not exercising much", parsed)
	}
}

func mustParse(t testing.TB, s string) *Rule {
	t.Helper()
	r, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return r
}

// bindForTest binds r's rule: references from refs, as an Enforcer would,
// leaving unknown names unbound (false).
func bindForTest(r *Rule, refs map[string]*Rule) {
	r.root.walk(func(n *node) {
		if n.op == opRule {
			n.ref = refs[n.refName]
		}
	})
}
