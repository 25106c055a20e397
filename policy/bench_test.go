package policy

import "testing"

// TestAllowDoesNotAllocate pins the hot path: checking a request against the
// default rules must not allocate.
func TestAllowDoesNotAllocate(t *testing.T) {
	e := Default()
	target := Target{ProjectID: "p1", QueueName: "q1"}
	creds := &Creds{Roles: []string{"member", "Admin"}, ProjectID: "p1", UserID: "u1"}
	for _, tt := range []struct {
		name string
		rule *Rule
	}{
		{`""`, mustParse(t, "")},
		{"role:admin", mustParse(t, "role:admin")},
		{"role:ädmin (non-ASCII fold)", mustParse(t, "role:ädmin")},
		{"admin_or_owner", mustParse(t, adminOrOwner)},
		{"literal kind", mustParse(t, "not 'frozen':%(queue_name)s and user_id:u%(project_id)s")},
	} {
		tt.rule.Allow(target, creds)
		if n := testing.AllocsPerRun(1000, func() { tt.rule.Allow(target, creds) }); n != 0 {
			t.Errorf("Rule(%s).Allow allocates %v times per call", tt.name, n)
		}
	}
	for _, name := range []string{"queues:get", "pools:get", "admin_or_owner", "no:such:rule"} {
		if n := testing.AllocsPerRun(1000, func() { e.Allow(name, target, creds) }); n != 0 {
			t.Errorf("Enforcer.Allow(%q) allocates %v times per call", name, n)
		}
	}
	if n := testing.AllocsPerRun(1000, func() { e.IsAdmin(creds) }); n != 0 {
		t.Errorf("IsAdmin allocates %v times per call", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	e := Default()
	target := Target{ProjectID: "p1", QueueName: "q1"}
	creds := &Creds{Roles: []string{"member", "reader", "admin"}, ProjectID: "p1", UserID: "u1"}
	unprotected, _ := e.Rule("queues:get")
	adminOnly, _ := e.Rule("pools:get")
	owner, _ := e.Rule("admin_or_owner")
	for _, bb := range []struct {
		name string
		f    func() bool
	}{
		{"rule/empty", func() bool { return unprotected.Allow(target, creds) }},
		{"rule/role:admin", func() bool { return adminOnly.Allow(target, creds) }},
		{"rule/admin_or_owner", func() bool { return owner.Allow(target, creds) }},
		{"enforcer/queues:get", func() bool { return e.Allow("queues:get", target, creds) }},
		{"enforcer/pools:get", func() bool { return e.Allow("pools:get", target, creds) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !bb.f() {
					b.Fatal("denied")
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("role:admin or (project_id:%(project_id)s and not 'frozen':%(queue_name)s)"); err != nil {
			b.Fatal(err)
		}
	}
}
