package config

import (
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/backend"
	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/wal"
)

func settingsOf(t *testing.T, env []string, overrides map[string]string) Settings {
	t.Helper()
	c, err := Load([]string{os.DevNull}, "", env, overrides)
	if err != nil {
		t.Fatal(err)
	}
	return c.Settings()
}

// other is a valid value of o other than its default ("" when there is
// none: an enumeration of one).
func other(o *Option) string {
	switch {
	case len(o.Choices) > 0:
		for _, ch := range o.Choices {
			if ch != o.Default {
				return ch
			}
		}
		return ""
	case o.Kind() == Bool:
		b, _ := parseBool(o.Default)
		return strconv.FormatBool(!b)
	case o.Kind() == Int:
		n, _ := strconv.ParseInt(o.Default, 10, 64)
		return strconv.FormatInt(n+1, 10)
	case o.Kind() == Duration:
		d, _ := parseDuration(o.Default)
		return (d + 1500*time.Millisecond).String()
	case o.Kind() == List:
		return "a.example, b.example"
	}
	return o.Default + "-other"
}

// changed lists the exported leaf fields (dotted paths) where a and b
// differ.
func changed(a, b reflect.Value, path string, out *[]string) {
	if a.Kind() == reflect.Struct {
		for i := 0; i < a.NumField(); i++ {
			if f := a.Type().Field(i); f.IsExported() {
				changed(a.Field(i), b.Field(i), path+"."+f.Name, out)
			}
		}
		return
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		*out = append(*out, path)
	}
}

// TestEveryOptionIsBound: every option has a Set of its kind; changing an
// option changes the settings, in fields no other option writes, except
// for the options accepted for compatibility, which change nothing.
func TestEveryOptionIsBound(t *testing.T) {
	base := reflect.ValueOf(settingsOf(t, nil, nil))
	owner := map[string]string{}
	for i := range Options {
		o := &Options[i]
		if o.Set.set == nil {
			t.Errorf("[%s] %s: no Set", o.Section, o.Name)
			continue
		}
		v := other(o)
		if v == "" && len(o.Choices) > 0 {
			if !o.Set.inert {
				t.Errorf("[%s] %s: one choice, yet it sets something", o.Section, o.Name)
			}
			continue
		}
		var diff []string
		changed(base, reflect.ValueOf(settingsOf(t, nil, map[string]string{o.Key(): v})), "Settings", &diff)
		switch {
		case o.Set.inert && len(diff) > 0:
			t.Errorf("[%s] %s is marked as having no effect, yet sets %v", o.Section, o.Name, diff)
		case !o.Set.inert && len(diff) == 0:
			t.Errorf("[%s] %s = %q changes no setting", o.Section, o.Name, v)
		}
		for _, f := range diff {
			if prev, ok := owner[f]; ok {
				t.Errorf("%s is set by both %s and [%s] %s", f, prev, o.Section, o.Name)
			}
			owner[f] = "[" + o.Section + "] " + o.Name
		}
	}
}

// TestDefaultSettingsAreThePackages: with no configuration the settings
// are the packages' own defaults (the table's Default strings show them).
func TestDefaultSettingsAreThePackages(t *testing.T) {
	s := settingsOf(t, nil, nil)
	api := httpapi.DefaultOptions()
	api.CORS = httpapi.DefaultCORSOptions()
	if !reflect.DeepEqual(s.API, api) {
		t.Errorf("API settings\n%+v\nwant httpapi's defaults\n%+v", s.API, api)
	}
	store := backend.DefaultSpec()
	store.Dir, store.RedisURI = "./data", "redis://127.0.0.1:6379"
	if s.Store != store {
		t.Errorf("store %+v, want %+v", s.Store, store)
	}
	if !reflect.DeepEqual(s.Pooling.SQL, sqldb.DefaultOptions()) {
		t.Errorf("management store %+v, want sqldb's defaults", s.Pooling.SQL)
	}
	if s.Bind != "127.0.0.1" || s.Port != 8888 || s.Auth.PolicyFile != DefaultPolicyFile || s.Auth.Strategy != "" ||
		s.Auth.Keystone.TokenCacheTime != 300*time.Second || s.Auth.Keystone.HTTPConnectTimeout != 5*time.Second ||
		s.Notify.Workers != 10 || s.Notify.WebhookTimeout != 10*time.Second || s.Pooling.CacheTTL != 10*time.Second {
		t.Errorf("defaults: %+v", s)
	}
}

// TestSettingsFlow: values from files, the environment and flags reach
// the settings, converted as the packages read them.
func TestSettingsFlow(t *testing.T) {
	p := write(t, t.TempDir(), "z.conf", "[DEFAULT]\ndebug = yes\n[drivers]\nmessage_store = redis\n"+
		"[drivers:message_store:badger]\nfsync = interval\nfsync_interval = 0.25\npartitions = 8\n"+
		"[signed_url]\nsecret_key = k\n[keystone_authtoken]\ntoken_cache_time = 0\nauth_uri = http://old\n"+
		"[cors]\nallowed_origin = https://a.example\n")
	c, err := Load([]string{p}, "", []string{"OS_TRANSPORT__MAX_MESSAGES_PER_PAGE=7"},
		map[string]string{"drivers:message_store:badger.path": "/d"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settings()
	switch {
	case !s.Log.Debug || !s.API.Profiling:
		t.Error("debug: log level and profiling")
	case s.Store.Driver != backend.Redis || s.Store.Dir != "/d" || s.Store.Partitions != 8 ||
		s.Store.Fsync != wal.SyncInterval || s.Store.FsyncInterval != 250*time.Millisecond:
		t.Errorf("store: %+v", s.Store)
	case s.API.SignedURLKey != "k" || s.Notify.SecretKey != "k":
		t.Error("secret_key: signed URLs and confirmations")
	case s.Auth.Keystone.TokenCacheTime != -1 || s.Auth.DeprecatedAuthURI != "http://old" || s.Auth.Keystone.WWWAuthenticateURI != "":
		t.Errorf("keystone: %+v", s.Auth)
	case len(s.API.CORS.AllowedOrigin) != 1 || s.API.MaxMessagesPerPage != 7:
		t.Errorf("api: %+v", s.API)
	}
	for _, ch := range Options[indexOf(t, "drivers:message_store:badger", "fsync")].Choices {
		if got := settingsOf(t, nil, map[string]string{"drivers:message_store:badger.fsync": ch}).Store.Fsync.String(); got != ch {
			t.Errorf("fsync %s read as %s", ch, got)
		}
	}
}

func indexOf(t *testing.T, section, name string) int {
	for i, o := range Options {
		if o.Section == section && o.Name == name {
			return i
		}
	}
	t.Fatalf("no option [%s] %s", section, name)
	return -1
}

// TestFlags: the command-line flags the table declares, as --help shows
// them.
func TestFlags(t *testing.T) {
	var got []string
	for i := range Options {
		if o := &Options[i]; o.Flag != "" {
			got = append(got, o.Flag+": "+o.FlagUsage()+" -> "+o.Key())
		}
	}
	sort.Strings(got)
	want := []string{
		"bind: override [drivers:transport:wsgi] bind -> drivers:transport:wsgi.bind",
		"data-dir: override [drivers:message_store:badger] path -> drivers:message_store:badger.path",
		"debug: log at debug level -> DEFAULT.debug",
		"fsync: override [drivers:message_store:badger] fsync (always|interval|never) -> drivers:message_store:badger.fsync",
		"partitions: override [drivers:message_store:badger] partitions -> drivers:message_store:badger.partitions",
		"port: override [drivers:transport:wsgi] port -> drivers:transport:wsgi.port",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("flags:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 10 * time.Second: "10s",
		50 * time.Millisecond: "50ms", time.Minute: "1m", 0: "0s", time.Hour + time.Second: "1h0m1s"} {
		if got := durationText(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
		if back, err := parseDuration(durationText(d)); err != nil || back != d {
			t.Errorf("%v does not read back: %v %v", d, back, err)
		}
	}
}

// TestRedisReplicatedAcknowledgements: wait_replicas and wait_timeout
// reach the Redis store's settings; a negative count is refused.
func TestRedisReplicatedAcknowledgements(t *testing.T) {
	s := settingsOf(t, nil, map[string]string{"drivers:message_store:redis.wait_replicas": "2",
		"drivers:message_store:redis.wait_timeout": "0.25"})
	if s.Store.WaitReplicas != 2 || s.Store.WaitTimeout != 250*time.Millisecond {
		t.Fatalf("wait_replicas %d wait_timeout %s, want 2 and 250ms", s.Store.WaitReplicas, s.Store.WaitTimeout)
	}
	if _, err := Load([]string{os.DevNull}, "", nil, map[string]string{"drivers:message_store:redis.wait_replicas": "-1"}); err == nil {
		t.Fatal("wait_replicas = -1 accepted")
	}
}
