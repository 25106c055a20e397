package policy

import (
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
)

// zaqarDefaults is every rule of zaqar/common/policies at 15.0.0 with its
// check string, written out independently of defaults.go.
var zaqarDefaults = map[string]string{
	"context_is_admin": "role:admin",
	"admin_or_owner":   "is_admin:True or project_id:%(project_id)s",

	"claims:create": "", "claims:get": "", "claims:delete": "", "claims:update": "",

	"flavors:get_all": "", "flavors:create": "role:admin", "flavors:get": "",
	"flavors:delete": "role:admin", "flavors:update": "role:admin",

	"ping:get": "", "health:get": "role:admin",

	"messages:get_all": "", "messages:create": "", "messages:get": "",
	"messages:delete": "", "messages:delete_all": "",

	"pools:get_all": "role:admin", "pools:create": "role:admin", "pools:get": "role:admin",
	"pools:delete": "role:admin", "pools:update": "role:admin",

	"queues:get_all": "", "queues:create": "", "queues:get": "", "queues:delete": "",
	"queues:update": "", "queues:stats": "", "queues:share": "", "queues:purge": "",

	"subscription:get_all": "", "subscription:create": "", "subscription:get": "",
	"subscription:delete": "", "subscription:update": "", "subscription:confirm": "",

	"topics:get_all": "", "topics:create": "", "topics:get": "", "topics:delete": "",
	"topics:update": "", "topics:stats": "", "topics:purge": "",
}

func TestDefaults(t *testing.T) {
	defs := Defaults()
	if len(defs) != len(zaqarDefaults) {
		t.Errorf("Defaults() has %d rules, Zaqar 15.0.0 has %d", len(defs), len(zaqarDefaults))
	}
	seen := map[string]bool{}
	for _, d := range defs {
		want, ok := zaqarDefaults[d.Name]
		switch {
		case !ok:
			t.Errorf("default %q is not one of Zaqar's", d.Name)
		case d.Check != want:
			t.Errorf("default %q = %q, Zaqar has %q", d.Name, d.Check, want)
		case seen[d.Name]:
			t.Errorf("default %q listed twice", d.Name)
		}
		seen[d.Name] = true
		if d.Name != "context_is_admin" && d.Name != "admin_or_owner" &&
			(d.Description == "" || len(d.Operations) == 0 || d.Operations[0].Method == "" ||
				!strings.HasPrefix(d.Operations[0].Path, "/v2/")) {
			t.Errorf("default %q lacks its documentation: %+v", d.Name, d)
		}
	}

	e := Default()
	if got := len(e.Names()); got != len(zaqarDefaults) {
		t.Errorf("Default() has %d rules, want %d", got, len(zaqarDefaults))
	}
	for name, check := range zaqarDefaults {
		r, ok := e.Rule(name)
		if !ok {
			t.Errorf("Default() lacks %q", name)
			continue
		}
		if want := mustParse(t, check).String(); r.String() != want {
			t.Errorf("Default() %q = %s, want %s", name, r, want)
		}
		// Admin rules let only admins in; the rest let anyone in.
		switch check {
		case roleAdmin:
			if e.Allow(name, Target{}, member) || !e.Allow(name, Target{}, admin) {
				t.Errorf("%q must deny a member and allow an admin", name)
			}
		case unprotected:
			if !e.Allow(name, Target{}, nobody) || !e.Allow(name, Target{}, nil) {
				t.Errorf("%q must allow anyone", name)
			}
		}
	}

	// Defaults hands out copies.
	defs[0].Check = "!"
	defs[2].Operations[0].Path = "/changed"
	if again := Defaults(); again[0].Check == "!" || again[2].Operations[0].Path == "/changed" {
		t.Error("changing Defaults()' result changed the table")
	}
	if Default() != Default() {
		t.Error("Default() should build once")
	}
}

func TestEnforcerBasics(t *testing.T) {
	e := Default()
	if e.Allow("no:such:rule", Target{}, admin) {
		t.Error("an unknown rule name must deny")
	}
	if r, ok := e.Rule("no:such:rule"); ok || r != nil || r.Allow(Target{}, admin) {
		t.Error("Rule of an unknown name must be (nil, false), and a nil Rule denies")
	}
	if !e.IsAdmin(admin) || e.IsAdmin(member) || e.IsAdmin(nil) {
		t.Error("IsAdmin must follow context_is_admin = role:admin")
	}
	// admin_or_owner reads IsAdmin, not the admin role.
	roleOnly := &Creds{Roles: []string{"admin"}}
	if e.Allow("admin_or_owner", Target{ProjectID: "p"}, roleOnly) {
		t.Error("admin_or_owner must not look at roles")
	}
	roleOnly.IsAdmin = e.IsAdmin(roleOnly)
	if !e.Allow("admin_or_owner", Target{ProjectID: "p"}, roleOnly) {
		t.Error("admin_or_owner must allow once IsAdmin is set")
	}
}

func TestLoadFiles(t *testing.T) {
	operator := &Creds{Roles: []string{"operator"}, ProjectID: "p1"}
	other := &Creds{Roles: []string{"member"}, ProjectID: "p2"}
	for _, file := range []string{"testdata/policy.yaml", "testdata/policy.json"} {
		e, err := Load(file)
		if err != nil {
			t.Fatalf("Load(%s): %v", file, err)
		}
		tests := []struct {
			rule   string
			creds  *Creds
			target Target
			want   bool
		}{
			// Overridden: owners only.
			{"queues:delete", member, Target{ProjectID: "p1"}, true},
			{"queues:delete", other, Target{ProjectID: "p1"}, false},
			{"queues:delete", admin, Target{ProjectID: "p1"}, true},
			// A custom rule, and a default that references it.
			{"operator", operator, Target{}, true},
			{"pools:get_all", operator, Target{}, true},
			{"pools:get_all", admin, Target{}, true},
			{"pools:get_all", member, Target{}, false},
			// Not overridden: still the default.
			{"pools:create", operator, Target{}, false},
			{"queues:get", other, Target{ProjectID: "p1"}, true},
		}
		if strings.HasSuffix(file, ".yaml") {
			tests = append(tests, []struct {
				rule   string
				creds  *Creds
				target Target
				want   bool
			}{
				{"messages:create", member, Target{ProjectID: "p1", QueueName: "q"}, true},
				{"messages:create", member, Target{ProjectID: "p1", QueueName: "frozen"}, false},
			}...)
		} else {
			tests = append(tests, []struct {
				rule   string
				creds  *Creds
				target Target
				want   bool
			}{
				// [["role:operator", "project_id:%(project_id)s"], "role:admin"]
				{"flavors:create", operator, Target{ProjectID: "p1"}, true},
				{"flavors:create", operator, Target{ProjectID: "p2"}, false},
				{"flavors:create", admin, Target{}, true},
				// [] allows everyone, [[]] denies everyone.
				{"health:get", nobody, Target{}, true},
				{"ping:get", admin, Target{}, false},
			}...)
		}
		for _, tt := range tests {
			if got := e.Allow(tt.rule, tt.target, tt.creds); got != tt.want {
				r, _ := e.Rule(tt.rule)
				t.Errorf("%s: %q (%s) for %+v on %+v = %v, want %v", file, tt.rule, r, tt.creds, tt.target, got, tt.want)
			}
		}
	}
	if !Default().Allow("queues:delete", Target{ProjectID: "p1"}, other) {
		t.Error("loading a file changed Default()")
	}
}

func TestLoadBrokenFile(t *testing.T) {
	_, err := Load("testdata/broken.yaml")
	if err == nil {
		t.Fatal("Load(broken.yaml) succeeded")
	}
	const want = `testdata/broken.yaml:5: rule "queues:delete": unbalanced parenthesis`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	var le *LoadError
	if !errors.As(err, &le) || le.Line != 5 || le.Rule != "queues:delete" || le.File != "testdata/broken.yaml" {
		t.Errorf("error %#v is not a LoadError for line 5", err)
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("error %v does not wrap the SyntaxError", err)
	}

	_, err = Load("testdata/no-such-policy.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string // each must appear in the error
	}{
		{"undefined reference", "a: role:x\nb: rule:a or rule:nope\n",
			[]string{`p.yaml:2: rule "b": rule:nope refers to undefined rule "nope"`}},
		{"cycle", "a: rule:b\nb: role:x or rule:c\nc: not rule:a\n",
			[]string{`p.yaml:1: rule "a": cycle of rule: references: a -> b -> c -> a`}},
		{"self reference", "x: role:y\nloop: rule:loop\n",
			[]string{`p.yaml:2: rule "loop": cycle of rule: references: loop -> loop`}},
		{"cycle through a default", "admin_or_owner: rule:queues:get\nqueues:get: rule:admin_or_owner\n",
			[]string{"admin_or_owner -> queues:get -> admin_or_owner"}},
		{"top-level list", "- role:admin\n", []string{"p.yaml:1: the top level must be a mapping", "not a list"}},
		{"top-level string", "\n\nrole:admin\n", []string{"p.yaml:3: the top level must be a mapping"}},
		{"non-string key", "a: role:x\n7: role:y\n", []string{"p.yaml:2: a rule name must be a string, not the number 7"}},
		{"empty key", `"": role:x` + "\n", []string{"p.yaml:1: empty rule name"}},
		{"duplicate", "a: role:x\nb: role:y\na: role:z\n", []string{`p.yaml:3: rule "a": defined twice (first on line 1)`}},
		{"duplicate JSON", "{\"a\": \"role:x\",\n \"a\": \"role:y\"}\n", []string{`p.yaml:2: rule "a": defined twice`}},
		{"null value", "a:\n", []string{`p.yaml:1: rule "a": the value is empty (null)`}},
		{"number value", "a: 5\n", []string{`p.yaml:1: rule "a": the value must be a check string`, "not the number 5"}},
		{"bool value", "a: true\n", []string{"not the boolean true"}},
		{"mapping value", "a: {b: c}\n", []string{"not a mapping"}},
		{"bad list item", "a:\n  - [role:x]\n  - [\"role:y or role:z\"]\n", []string{`p.yaml:3: rule "a": a list-form item must be a single check`}},
		{"non-string list item", "a:\n  - [role:x, 3]\n", []string{"p.yaml:2:", "a list-form check must be a string, not the number 3"}},
		{"nested too deep", "a: [[[role:x]]]\n", []string{"a list-form check must be a string, not a list"}},
		{"bad check in list", "a: [[\"http:x\"]]\n", []string{"http: checks are not supported"}},
		{"yaml syntax", "a: role:x\nb: role:y\nc: d: e\n", []string{"p.yaml:3: mapping values are not allowed"}},
		{"yaml syntax on line 1", "a: b: c\n", []string{"p.yaml:1: mapping values are not allowed"}},
		{"yaml parser error", "a: role:x\nb: role:y\n- role:z\n", []string{"p.yaml:3: did not find expected key"}},
		{"JSON missing comma", "{\"a\": \"role:x\",\n\"b\": \"role:y\"\n\"c\": \"role:z\"}\n", []string{"p.yaml:3: did not find expected ',' or '}'"}},
		{"control character", "a: role:x\nb: role:\x01\n", []string{"p.yaml:2: control characters are not allowed"}},
		{"invalid UTF-8", "a: role:x\n\nb: role:\xff\n", []string{"p.yaml:3: invalid leading UTF-8 octet"}},
		{"unknown alias", "a: role:x\nb: *nope\n", []string{"p.yaml:2: unknown anchor 'nope' referenced"}},
		{"two documents", "a: role:x\n---\nb: role:y\n", []string{"p.yaml:2: a policy file holds one YAML document"}},
		{"all problems reported", "a: (role:x\nb: role:y\nc: role:y and\n", []string{
			`p.yaml:1: rule "a": unbalanced parenthesis`, `p.yaml:3: rule "c": dangling "and"`}},
	}
	for _, tt := range tests {
		_, err := LoadBytes("p.yaml", []byte(tt.file))
		if err == nil {
			t.Errorf("%s: loaded %q without error", tt.name, tt.file)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tt.name, err, w)
			}
		}
	}
}

func TestLoadAccepts(t *testing.T) {
	tests := []struct {
		name, file, rule string
		want             string // the rule's String
	}{
		{"empty file", "", "queues:get", "@"},
		{"only comments", "# nothing\n\n# here\n", "pools:get", "role:admin"},
		{"empty mapping", "{}\n", "pools:get", "role:admin"},
		{"null document", "null\n", "pools:get", "role:admin"},
		{"tab-indented JSON", "{\n\t\"pools:get\": \"role:ops\",\n\t\"x\": [[\"role:a\", \"role:b\"]]\n}\n", "pools:get", "role:ops"},
		{"JSON escapes", `{"pools:get": "role:\u00e9t\u00e9"}`, "pools:get", "role:été"},
		{"list of lists", "x: [[\"role:a\", \"role:b\"], [\"rule:pools:get\"]]\n", "x", "((role:a and role:b) or rule:pools:get)"},
		{"bare strings in the list", "x: [\"role:a\", \"\", [role:b]]\n", "x", "(role:a or role:b)"},
		{"block list", "x:\n  - - role:a\n    - role:b\n  - - role:c\n", "x", "((role:a and role:b) or role:c)"},
		{"empty list", "x: []\n", "x", "@"},
		{"list of empty lists", "x: [[], []]\n", "x", "!"},
		{"folded string", "x: >-\n  role:a or\n  role:b\n", "x", "(role:a or role:b)"},
		{"alias", "x: &r role:a\ny: *r\n", "y", "role:a"},
		{"unknown names may be referenced", "mine: role:mine\nqueues:get: rule:mine\n", "queues:get", "rule:mine"},
		{"empty string allows", "pools:get: \"\"\n", "pools:get", "@"},
	}
	for _, tt := range tests {
		e, err := LoadBytes("p.yaml", []byte(tt.file))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		r, ok := e.Rule(tt.rule)
		if !ok || r.String() != tt.want {
			t.Errorf("%s: rule %q = %s (found %v), want %s", tt.name, tt.rule, r, ok, tt.want)
		}
		if len(e.Names()) < len(zaqarDefaults) {
			t.Errorf("%s: defaults lost, only %d rules", tt.name, len(e.Names()))
		}
	}
}

// TestOverrideRebinds checks that a default referring to an overridden rule
// follows the override, in each Enforcer separately.
func TestOverrideRebinds(t *testing.T) {
	a, err := LoadBytes("a.yaml", []byte("admin_or_owner: role:a\nqueues:delete: rule:admin_or_owner\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadBytes("b.yaml", []byte("admin_or_owner: role:b\nqueues:delete: rule:admin_or_owner\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allow("queues:delete", Target{}, roles("a")) || a.Allow("queues:delete", Target{}, roles("b")) {
		t.Error("a.yaml's queues:delete must follow its admin_or_owner")
	}
	if !b.Allow("queues:delete", Target{}, roles("b")) || b.Allow("queues:delete", Target{}, roles("a")) {
		t.Error("b.yaml's queues:delete must follow its admin_or_owner")
	}
	c, err := LoadBytes("c.yaml", []byte("context_is_admin: role:operator\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsAdmin(roles("operator")) || c.IsAdmin(roles("admin")) {
		t.Error("IsAdmin must use the file's context_is_admin")
	}
}

// TestConcurrentAllow runs evaluations in parallel for the race detector.
func TestConcurrentAllow(t *testing.T) {
	e, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := e.Rule("pools:get_all")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := &Creds{Roles: []string{"operator"}, ProjectID: "p1", IsAdmin: g%2 == 0}
			for i := 0; i < 1000; i++ {
				if !e.Allow("queues:delete", Target{ProjectID: "p1"}, c) || !r.Allow(Target{}, c) ||
					!Default().Allow("queues:get", Target{}, c) {
					t.Error("unexpected deny")
					return
				}
			}
		}(g)
	}
	wg.Wait()
}
