package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

// TestSystemdUnit: packaging/zaqar-server.service keeps its hardening
// and passes `systemd-analyze verify` (with ExecStart pointed at an
// existing executable, since the binary is not installed here).
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("../../packaging/zaqar-server.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for _, want := range []string{"\nUser=zaqar\n", "\nProtectSystem=strict\n", "\nReadWritePaths=/var/lib/zaqar\n",
		"\nStateDirectory=zaqar\n", "\nLimitNOFILE=", "\nNoNewPrivileges=yes\n", "\nCapabilityBoundingSet=\n",
		"--data-dir /var/lib/zaqar", "\nRestartPreventExitStatus=2\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Unavailable(t, "systemd-analyze not installed (Debian package systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "zaqar-server.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/zaqar-server", self)), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// verify loads the machine's other units too and may warn about them
	// (an installed keystone.service): only lines about ours count.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "zaqar-server.service") {
			ours = append(ours, line)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
