package policy

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that whatever it accepts renders
// to a string it accepts again with the same rendering, and that evaluating
// an accepted rule never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "@", "!", " ", "role:admin", "ROLE:admin", "rule:admin_or_owner",
		adminOrOwner, "not role:a and role:b", "role:a or role:b and role:c",
		"role:a or (role:b and role:c) and role:d", "((role:a))",
		"(role:a and role:b) and role:c", "not (role:a or not role:b)",
		"'q1':%(queue_name)s", `"t":%(topic_name)s`, "True:%(queue_name)s",
		"1_000:1000", "-0:0", "None:None", "a.b.c:x", "role:ad%%min",
		"role:%(a(b)c)s", "project_id:%(project_id)", "role:a)or(role:b",
		"('a':b')", "'a':b'", "http:x", "(", ")", "()", "and", "not",
		"role:a\u2003or\u001crole:b", "role:\xff", "role:ä AND role:Ä",
		"user_id:%(queue_name)s%(topic_name)s", "is_admin:True or not @",
		// Once parsed, rendered more deeply nested than the limit.
		strings.Repeat("(role:a or role:b and ", 60) + "role:c" + strings.Repeat(")", 60),
		strings.Repeat("(role:a or role:b and ", 50) + "role:c" + strings.Repeat(")", 50),
	} {
		f.Add(s)
	}
	// The golden rules from oslo.policy, valid and not.
	if data, err := os.ReadFile("testdata/oslo_golden.json"); err == nil {
		var cases []struct{ Rule string }
		if json.Unmarshal(data, &cases) == nil {
			for i, c := range cases {
				if i%5 == 0 {
					f.Add(c.Rule)
				}
			}
		}
	}
	creds := []*Creds{nil, member, admin, {Roles: []string{"ä", "a", "b", "c"}, ProjectID: "p1", UserID: "q1"}}
	targets := []Target{{}, {ProjectID: "p1", QueueName: "q1", TopicName: "t"}}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if r != nil {
				t.Fatalf("Parse(%q) returned both a rule and %v", s, err)
			}
			return
		}
		out := r.String()
		r2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) renders as %q, which does not parse: %v", s, out, err)
		}
		if out2 := r2.String(); out2 != out {
			t.Fatalf("Parse(%q) renders as %q, which renders as %q", s, out, out2)
		}
		for _, c := range creds {
			for _, tg := range targets {
				if r.Allow(tg, c) != r2.Allow(tg, c) {
					t.Fatalf("%q and its rendering %q disagree for %+v on %+v", s, out, c, tg)
				}
			}
		}
	})
}

// FuzzLoadBytes checks that no policy file, however malformed, panics the
// loader, and that every error names the file.
func FuzzLoadBytes(f *testing.F) {
	for _, name := range []string{"policy.yaml", "policy.json", "broken.yaml"} {
		if data, err := os.ReadFile("testdata/" + name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "null", "{}", "[]", "a: rule:b\nb: rule:a\n", "a: [[role:x], role:y, []]\n",
		"x: &r role:a\ny: *r\n", "a: *nope\n", "a: b: c\n", "\xff", "a:\n", "<<: {a: b}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := LoadBytes("fuzz.yaml", data)
		if err != nil {
			if e != nil || !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not start with the file name (or came with an Enforcer)", err)
			}
			return
		}
		for _, name := range e.Names() {
			e.Allow(name, Target{ProjectID: "p"}, member)
		}
	})
}
