package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The original's own working configuration (the reference deployment's
// zaqar.conf) starts this server: every option is read or accepted.
func TestOriginalsConfigurationIsAccepted(t *testing.T) {
	for _, f := range []string{"testdata/zaqar15-reference.conf", "testdata/zaqar15-every-option.conf"} {
		c, err := Load([]string{f}, "", nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(c.NoEffect) == 0 {
			t.Fatalf("%s: no option reported as accepted without effect", f)
		}
		for _, w := range c.Warnings {
			if strings.Contains(w, "unknown") {
				t.Errorf("%s: %s", f, w)
			}
		}
	}
	c, err := Load([]string{"testdata/zaqar15-reference.conf"}, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settings()
	if s.Store.Driver != "redis" || s.Port != 18888 || !s.API.AdminMode || s.API.SignedURLKey != "zaqar-reference-secret" {
		t.Fatalf("implemented options did not take effect: %+v", s)
	}
	for _, want := range []string{"[drivers:management_store:redis] uri", "[drivers:transport:websocket] notification_bind"} {
		found := false
		for _, n := range c.NoEffect {
			found = found || n == want
		}
		if !found {
			t.Errorf("%s not reported as without effect: %v", want, c.NoEffect)
		}
	}
}

func TestTypoInOurOptionStopsStartUp(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "zaqar.conf")
	for _, c := range []struct{ text, want string }{
		{"[drivers:message_store:badger]\nfsyncc = never\n", "[drivers:message_store:badger] fsyncc: unknown option"},
		{"[transport]\nmax_message_tll = 60\n", "[transport] max_message_tll: unknown option"},
		{"[DEFAULT]\nadmin_mod = true\n", "[DEFAULT] admin_mod: unknown option"},
		{"[drivers:message_store:redis]\nmax_reconect_attempts = 3\n", "[drivers:message_store:redis] max_reconect_attempts: unknown option"},
	} {
		if err := os.WriteFile(f, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load([]string{f}, "", nil, nil)
		if err == nil || !strings.Contains(err.Error(), f+": "+c.want) {
			t.Fatalf("%q: error %v, want one naming file, section and option (%s)", c.text, err, c.want)
		}
	}
}
