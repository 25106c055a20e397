package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load([]string{os.DevNull}, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := func(got, want any) {
		t.Helper()
		if got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	f(c.String("drivers:transport:wsgi", "bind"), "127.0.0.1")
	f(c.Int("drivers:transport:wsgi", "port"), int64(8888))
	f(c.String("drivers:message_store:badger", "path"), "./data")
	f(c.String("drivers:message_store:badger", "fsync"), "always")
	f(c.Int("transport", "max_messages_post_size"), int64(262144))
	f(c.Duration("drivers:message_store:badger", "fsync_interval"), 50*time.Millisecond)
	f(len(c.List("transport", "subscriber_types")), 5)
	f(c.Bool("DEFAULT", "admin_mode"), false)
}

func TestPrecedenceFilesEnvFlags(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.conf", "[DEFAULT]\nadmin_mode = True\n[drivers:transport:wsgi]\nport = 9000\nbind = 0.0.0.0\n")
	b := write(t, dir, "b.conf", "[drivers:transport:wsgi]\nport = 9001\n")
	confd := filepath.Join(dir, "conf.d")
	os.Mkdir(confd, 0o755)
	write(t, confd, "10-x.conf", "[transport]\nmax_messages_per_page = 7\n")
	write(t, confd, "20-y.conf", "[transport]\nmax_messages_per_page = 8\n")
	env := []string{"OS_DRIVERS_MESSAGE_STORE_BADGER__FSYNC=never", "OS_TRANSPORT__DEFAULT_CLAIM_TTL=600", "PATH=/bin"}
	c, err := Load([]string{a, b}, confd, env, map[string]string{"drivers:transport:wsgi.bind": "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Int("drivers:transport:wsgi", "port") != 9001 {
		t.Fatal("later file must win")
	}
	if !c.Bool("DEFAULT", "admin_mode") {
		t.Fatal("oslo boolean True not read")
	}
	if c.Int("transport", "max_messages_per_page") != 8 {
		t.Fatal("config dir files must apply in lexical order")
	}
	if c.String("drivers:message_store:badger", "fsync") != "never" || c.Int("transport", "default_claim_ttl") != 600 {
		t.Fatal("environment overrides not applied")
	}
	if c.String("drivers:transport:wsgi", "bind") != "127.0.0.2" {
		t.Fatal("flags must win over files")
	}
}

func TestInlineHashAndQuotesKept(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "z.conf", "# comment\n[drivers:management_store:sqlalchemy]\nuri = mysql+pymysql://u:p#x@h/db\n[drivers:message_store:badger]\npath = \"/var/lib/zaqar data\"\n")
	c, err := Load([]string{p}, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String("drivers:management_store:sqlalchemy", "uri"); got != "mysql+pymysql://u:p#x@h/db" {
		t.Fatalf("inline # cut the value: %q", got)
	}
	if got := c.String("drivers:message_store:badger", "path"); got != "/var/lib/zaqar data" {
		t.Fatalf("quotes not stripped: %q", got)
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ body, want string }{
		{"[transport]\nmax_queues_per_page = x\n", "[transport] max_queues_per_page = \"x\": not an integer"},
		{"[transport]\nmax_queues_per_page = 0\n", "must be at least 1"},
		{"[transport]\nbogus = 1\n", "[transport] bogus: unknown option"},
		{"[DEFAULT]\nadmin_mode = perhaps\n", "not a boolean"},
		{"[drivers]\nmessage_store = mongodb\n", "must be one of"},
		{"[DEFAULT]\nauth_strategy = noauth\n", "auth_strategy"},
		{"[keystone_authtoken]\ntoken_cache_time = soon\n", "[keystone_authtoken] token_cache_time"},
		{"[drivers:message_store:badger]\nfsync_interval = soon\n", "not a duration"},
		{"[unknown_section]\nx = 1\n", "unknown option"},
	}
	for _, tc := range cases {
		p := write(t, dir, "bad.conf", tc.body)
		_, err := Load([]string{p}, "", nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Fatalf("%q: error %v does not name file and %q", tc.body, err, tc.want)
		}
	}
	if _, err := Load([]string{filepath.Join(dir, "missing.conf")}, "", nil, nil); err == nil {
		t.Fatal("a missing --config-file must fail")
	}
	if _, err := Load([]string{os.DevNull}, "", []string{"OS_TRANSPORT__MAX_MESSAGES_PER_PAGE=many"}, nil); err == nil {
		t.Fatal("a bad environment value must fail")
	}
}

func TestForeignSectionsWarnOnly(t *testing.T) {
	p := write(t, t.TempDir(), "f.conf", "[profiler]\nenabled = true\n[notification]\nsmtp_host = mail\n")
	c, err := Load([]string{p}, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "[profiler]") {
		t.Fatalf("warnings: %v", c.Warnings)
	}
}

// Sections shared with oslo libraries: our options are read and checked,
// the libraries' other options only warn.
func TestSharedSections(t *testing.T) {
	p := write(t, t.TempDir(), "f.conf", "[keystone_authtoken]\nauth_url = http://k:5000/v3\nmemcached_servers = m:11211\n"+
		"[cors]\nallowed_origin = https://a.example, https://b.example\n[oslo_policy]\npolicy_file = /etc/zaqar/p.yaml\n")
	c, err := Load([]string{p}, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.NoEffect) != 1 || c.NoEffect[0] != "[keystone_authtoken] memcached_servers" || len(c.Warnings) != 0 {
		t.Fatalf("no effect %v, warnings %v", c.NoEffect, c.Warnings)
	}
	if c.String("keystone_authtoken", "auth_url") != "http://k:5000/v3" || c.Int("keystone_authtoken", "token_cache_time") != 300 {
		t.Fatal("keystone_authtoken values")
	}
	if got := c.List("cors", "allowed_origin"); len(got) != 2 || got[1] != "https://b.example" {
		t.Fatalf("allowed_origin %q", got)
	}
	if c.String("oslo_policy", "policy_file") != "/etc/zaqar/p.yaml" {
		t.Fatal("policy_file")
	}
}

// TestSampleInSync keeps the committed sample equal to the option table.
func TestSampleInSync(t *testing.T) {
	b, err := os.ReadFile("../zaqar.conf.sample")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Sample() {
		t.Fatal("zaqar.conf.sample is stale: regenerate with `zaqar-server --print-sample-config > zaqar.conf.sample`")
	}
	if _, err := Load([]string{"../zaqar.conf.sample"}, "", nil, nil); err != nil {
		t.Fatalf("the sample does not load: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("[DEFAULT]\ndebug = true\n[transport]\nmax_messages_per_page = 5\n")
	f.Add("[drivers:message_store:badger]\npath = \"x\" # y\n\tcontinued\n")
	f.Add("junk without section\n[[[\n=\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "f.conf")
		os.WriteFile(p, []byte(body), 0o644)
		c, err := Load([]string{p}, "", nil, nil)
		if err == nil && c.Int("transport", "max_messages_per_page") < 1 {
			t.Fatal("accepted an out-of-range value")
		}
	})
}
