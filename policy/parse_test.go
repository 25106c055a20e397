package policy

import (
	"errors"
	"strings"
	"testing"
)

var (
	member = &Creds{Roles: []string{"member"}, ProjectID: "p1", UserID: "u1"}
	admin  = &Creds{Roles: []string{"admin"}, ProjectID: "p0", UserID: "root", IsAdmin: true}
	nobody = &Creds{}
)

func roles(r ...string) *Creds { return &Creds{Roles: r} }

func TestAllow(t *testing.T) {
	p1q1 := Target{ProjectID: "p1", QueueName: "q1"}
	p2 := Target{ProjectID: "p2"}
	tests := []struct {
		rule   string
		creds  *Creds
		target Target
		want   bool
	}{
		// Constants.
		{"", nobody, Target{}, true},
		{"", nil, Target{}, true},
		{"@", nobody, Target{}, true},
		{"!", admin, p1q1, false},

		// role: is case-insensitive on both sides.
		{"role:admin", admin, Target{}, true},
		{"role:admin", member, Target{}, false},
		{"role:ADMIN", admin, Target{}, true},
		{"role:admin", roles("Admin"), Target{}, true},
		{"role:ädmin", roles("ÄDMIN"), Target{}, true},
		{"role:admin", nil, Target{}, false},
		{"role:admin", roles("administrator"), Target{}, false},
		{"role:admin", roles("admi"), Target{}, false},
		// The kind is case-sensitive: ROLE is a credential path, and
		// there is no ROLE credential.
		{"ROLE:admin", admin, Target{}, false},
		{"role:%(project_id)s", roles("P1"), p1q1, true},
		{"role:%(project_id)s", roles("p1"), Target{}, false},
		{"role:ad%%min", roles("ad%min"), Target{}, true},

		// not applies to the next check only.
		{"not role:a and role:b", roles("b"), Target{}, true},
		{"not role:a and role:b", roles(), Target{}, false},
		{"not role:a and role:b", roles("a", "b"), Target{}, false},
		{"not (role:a and role:b)", roles(), Target{}, true},
		{"not not role:a", roles("a"), Target{}, true},
		{"not role:a", nil, Target{}, true},

		// and binds tighter than or.
		{"role:a or role:b and role:c", roles("a"), Target{}, true},
		{"role:a or role:b and role:c", roles("b"), Target{}, false},
		{"role:a or role:b and role:c", roles("b", "c"), Target{}, true},
		{"role:a and role:b or role:c", roles("c"), Target{}, true},
		{"role:a and role:b or role:c", roles("a"), Target{}, false},
		{"(role:a or role:b) and role:c", roles("a"), Target{}, false},
		{"(role:a or role:b) and role:c", roles("a", "c"), Target{}, true},
		{"role:a or (role:b and role:c) and role:d", roles("b", "c"), Target{}, false},
		{"role:a or (role:b and role:c) and role:d", roles("b", "c", "d"), Target{}, true},

		// Parentheses, nested and around a single check.
		{"(role:a)", roles("a"), Target{}, true},
		{"((role:a))", roles("b"), Target{}, false},
		{"((role:a or (role:b and not role:c)) and role:d)", roles("b", "d"), Target{}, true},
		{"((role:a or (role:b and not role:c)) and role:d)", roles("b", "c", "d"), Target{}, false},
		{"(role:a or role:b) and (role:c)", roles("b", "c"), Target{}, true},

		// Operators in any case.
		{"role:a AND role:b", roles("a", "b"), Target{}, true},
		{"role:a Or role:b", roles("b"), Target{}, true},
		{"NOT role:a", roles("b"), Target{}, true},

		// Substitution from the target; a missing key is false, and
		// not of a missing key is true, as in oslo.policy.
		{"project_id:%(project_id)s", member, p1q1, true},
		{"project_id:%(project_id)s", member, p2, false},
		{"project_id:%(project_id)s", member, Target{}, false},
		{"project_id:%(project_id)s", nobody, Target{}, false},
		{"not project_id:%(project_id)s", member, Target{}, true},
		{"project_id:%(tenant_id)s", member, p1q1, false},
		{"project_id:p%(queue_name)s", &Creds{ProjectID: "pq1"}, p1q1, true},
		{"user_id:%(queue_name)s", &Creds{UserID: "q1"}, p1q1, true},
		{"project_id:p1", member, Target{}, true},

		// Literal kinds compare their Python str() with the match.
		{"'q1':%(queue_name)s", nobody, p1q1, true},
		{"'q1':%(queue_name)s", nobody, Target{QueueName: "q2"}, false},
		{"'q1':%(queue_name)s", nobody, Target{}, false},
		{`"t1":%(topic_name)s`, nobody, Target{TopicName: "t1"}, true},
		{"'x':x", nobody, Target{}, true},
		{"'':", nobody, Target{}, true},
		{"True:%(queue_name)s", nobody, Target{QueueName: "True"}, true},
		{"True:%(queue_name)s", nobody, Target{QueueName: "true"}, false},
		{"False:False", nobody, Target{}, true},
		{"None:None", nobody, Target{}, true},
		{"1:%(queue_name)s", nobody, Target{QueueName: "1"}, true},
		{"1_000:1000", nobody, Target{}, true},
		{"-0:0", nobody, Target{}, true},
		{"+7:7", nobody, Target{}, true},
		{"-7:-7", nobody, Target{}, true},

		// Credential paths compare exactly, as strings.
		{"is_admin:True", admin, Target{}, true},
		{"is_admin:True", member, Target{}, false},
		{"is_admin:False", member, Target{}, true},
		{"is_admin:true", admin, Target{}, false},
		{"roles:admin", admin, Target{}, true},
		{"roles:ADMIN", admin, Target{}, false},
		{"roles:member", roles("reader", "member"), Target{}, true},
		{"user_id:u1", member, Target{}, true},
		{"domain_id:d", &Creds{DomainID: "d"}, Target{}, true},
		{"user_domain_id:d", &Creds{UserDomainID: "d"}, Target{}, true},
		{"project_domain_id:d", &Creds{ProjectDomainID: "d"}, Target{}, true},
		{"system_scope:all", &Creds{SystemScope: "all"}, Target{}, true},
		{"system_scope:all", member, Target{}, false},
		{"project_id:", nobody, Target{}, false}, // an unset credential is not ""
		{"tenant_id:p1", member, Target{}, false},
		{"project_id.id:p1", member, Target{}, false},
		{"a.b.c:x", admin, Target{}, false},

		// An unbound rule: reference is false.
		{"rule:admin_or_owner", admin, Target{}, false},
		{"not rule:admin_or_owner", admin, Target{}, true},

		// Zaqar's admin_or_owner.
		{adminOrOwner, admin, p2, true},
		{adminOrOwner, member, p1q1, true},
		{adminOrOwner, member, p2, false},
		{adminOrOwner, member, Target{}, false},
	}
	for _, tt := range tests {
		r, err := Parse(tt.rule)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.rule, err)
			continue
		}
		if got := r.Allow(tt.target, tt.creds); got != tt.want {
			t.Errorf("Parse(%q).Allow(%+v, %+v) = %v, want %v (parsed as %s)", tt.rule, tt.target, tt.creds, got, tt.want, r)
		}
	}
}

func TestString(t *testing.T) {
	// The expected strings are oslo.policy's str() of its parse.
	tests := []struct{ rule, want string }{
		{"", "@"},
		{"@", "@"},
		{"!", "!"},
		{"role:a", "role:a"},
		{"(role:a)", "role:a"},
		{"role:a or role:b and role:c", "(role:a or (role:b and role:c))"},
		{"role:a and role:b and role:c", "(role:a and role:b and role:c)"},
		{"(role:a and role:b) and role:c", "((role:a and role:b) and role:c)"},
		{"role:a or (role:b and role:c) and role:d", "(role:a or (role:b and role:c and role:d))"},
		{"role:a or role:b and role:c and role:d or role:e", "(role:a or (role:b and role:c and role:d) or role:e)"},
		{"role:a and role:b or role:c", "((role:a and role:b) or role:c)"},
		{"not role:a and role:b", "(not role:a and role:b)"},
		{"NOT (role:a OR role:b)", "not (role:a or role:b)"},
		{"not not @", "not not @"},
		{"\t'x':%(queue_name)s\n", "'x':%(queue_name)s"},
		// Only whitespace separates words, so this is one role named
		// "a)or(role:b".
		{"((role:a)or(role:b))", "role:a)or(role:b"},
	}
	for _, tt := range tests {
		r := mustParse(t, tt.rule)
		if got := r.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.rule, got, tt.want)
		}
	}
	var nilRule *Rule
	if nilRule.String() != "!" || nilRule.Allow(Target{}, admin) {
		t.Error("a nil Rule must render as ! and deny")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ rule, want string }{
		{"(role:a", `unbalanced parenthesis: '(' is never closed at column 1`},
		{"role:a and (role:b or (role:c)", `'(' is never closed at column 12`},
		{"role:a)", `')' has no matching '(' at column 7`},
		{")", `')' has no matching '('`},
		{"role:a and", `dangling "and": nothing follows it at column 8`},
		{"and role:a", `dangling "and": nothing precedes it at column 1`},
		{"role:a or or role:b", `dangling "or": "or" follows it instead of a check at column 8`},
		{"(role:a and)", `dangling "and": ')' follows it`},
		{"(or role:a)", `dangling "or": nothing precedes it`},
		{"not", `dangling "not": nothing follows it`},
		{"role:a not role:b", `missing 'and' or 'or' before "not"`},
		{"role:a role:b", `missing 'and' or 'or' before "role:b" at column 8`},
		{"role:a (role:b)", `missing 'and' or 'or' before '('`},
		{"()", "empty parentheses at column 1"},
		{"role:a and ( )", "empty parentheses at column 12"},
		{"   ", "only whitespace"},
		{"admin", `check "admin" has no ':'`},
		{":admin", "empty check kind"},
		{"'member'", "bare quoted string 'member' is not a check"},
		{"role:a or \"x\"", `bare quoted string "x"`},
		{"'a':b'", "bare quoted string"},
		{"('a':b')", "bare quoted string"},
		{"http://example.com/check", "http: checks are not supported"},
		{"https:x", "https: checks are not supported"},
		{"project_id:%(project_id)d", `unsupported format "%(project_id)d"`},
		{"project_id:%s", `unsupported format "%s"`},
		{"project_id:%5s", `unsupported format "%5s"`},
		{"project_id:100%", "incomplete format: '%' at the end"},
		{"project_id:%(project_id", `incomplete format key`},
		{"project_id:%(project_id)", `incomplete format key`}, // the ')' is peeled off
		{"project_id:%(project_id)i", `unsupported format "%(project_id)i"`},
		{"( role:a or role:b )and(role:c)", `missing 'and' or 'or' before ")and(role:c"`},
		{"'x:y", "unterminated string literal kind"},
		{`'a\'b':x`, "unsupported string literal kind"},
		{"1abc:x", `unsupported literal kind "1abc"`},
		{"01:x", `unsupported literal kind "01"`},
		{"1.5:x", `unsupported literal kind "1.5"`},
		{"0x10:x", `unsupported literal kind "0x10"`},
		{"[1]:x", `invalid check kind "[1]"`},
		{"user-id:x", `invalid check kind "user-id"`},
		{"a..b:x", `invalid check kind "a..b"`},
		{"if:x", `invalid check kind "if"`},
		{"u'x':x", `invalid check kind "u'x'"`},
		{strings.Repeat("(", maxDepth+1) + "@" + strings.Repeat(")", maxDepth+1), "more than 100 deep"},
		{strings.Repeat("not ", maxDepth+1) + "@", "more than 100 deep"},
		// Within the parenthesis limit as written, but deeper once
		// rendered: each level gains an and-group.
		{strings.Repeat("(role:a or role:b and ", 60) + "role:c" + strings.Repeat(")", 60), "groups more than 100 deep"},
	}
	for _, tt := range tests {
		r, err := Parse(tt.rule)
		if err == nil {
			t.Errorf("Parse(%q) = %s, want an error containing %q", tt.rule, r, tt.want)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || se.Rule != tt.rule {
			t.Errorf("Parse(%q): error %#v is not a *SyntaxError naming the rule", tt.rule, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q): error %q does not contain %q", tt.rule, err, tt.want)
		}
	}
	// Just inside the nesting limit still parses.
	mustParse(t, strings.Repeat("(", maxDepth)+"@"+strings.Repeat(")", maxDepth))
}

func TestParseList(t *testing.T) {
	tests := []struct {
		list [][]string
		want string
	}{
		{nil, "@"},
		{[][]string{}, "@"},
		{[][]string{{}}, "!"},
		{[][]string{{"role:a"}}, "role:a"},
		{[][]string{{"role:a", "role:b"}, {"rule:c"}}, "((role:a and role:b) or rule:c)"},
		{[][]string{{}, {"role:a"}, {}, {"role:b"}}, "(role:a or role:b)"},
		{[][]string{{"@", "!"}}, "(@ and !)"},
	}
	for _, tt := range tests {
		r, err := ParseList(tt.list)
		if err != nil {
			t.Errorf("ParseList(%q): %v", tt.list, err)
			continue
		}
		if got := r.String(); got != tt.want {
			t.Errorf("ParseList(%q) = %s, want %s", tt.list, got, tt.want)
		}
	}
	r, _ := ParseList([][]string{{"role:a", "role:b"}, {"role:c"}})
	for _, c := range []struct {
		creds *Creds
		want  bool
	}{{roles("a"), false}, {roles("a", "b"), true}, {roles("c"), true}} {
		if got := r.Allow(Target{}, c.creds); got != c.want {
			t.Errorf("list rule %s with roles %v = %v, want %v", r, c.creds.Roles, got, c.want)
		}
	}

	for _, bad := range [][][]string{
		{{"role:a or role:b"}},
		{{"(role:a)"}},
		{{"role:a)"}},
		{{"not"}},
		{{""}},
		{{"admin"}},
		{{"role:a", "'x'"}},
		{{"project_id:%(x)d"}},
	} {
		if r, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) = %s, want an error", bad, r)
		}
	}
}

func TestRoleFold(t *testing.T) {
	// Python's str.lower() on both sides; the ASCII fast path and the
	// rune-by-rune path must agree with it.
	tests := []struct {
		role, have string
		want       bool
	}{
		{"admin", "ADMIN", true},
		{"admin", "admi", false},
		{"admi", "admin", false},
		{"@", "`", false},
		{"[", "{", false},
		{"k", "\u212a", true}, // KELVIN SIGN lowercases to k
		{"\u212a", "K", true},
		{"ß", "SS", false},
		{"σ", "Σ", true},
		{"ádmin", "ÁDMIN", true},
		{"ádmin", "ÁDMINX", false},
		{"\xff", "\xfe", false},
		{"a\xff", "A\xff", true},
	}
	for _, tt := range tests {
		r := mustParse(t, "role:"+tt.role)
		if got := r.Allow(Target{}, roles(tt.have)); got != tt.want {
			t.Errorf("role:%s with role %q = %v, want %v", tt.role, tt.have, got, tt.want)
		}
		r = mustParse(t, "role:%(queue_name)s")
		if got := r.Allow(Target{QueueName: tt.role}, roles(tt.have)); got != tt.want {
			t.Errorf("role:%%(queue_name)s = %q with role %q = %v, want %v", tt.role, tt.have, got, tt.want)
		}
	}
}
