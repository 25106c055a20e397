package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestBuildInfoFallback: without -ldflags the version comes from the
// module stamp and the commit from the VCS stamp Go embeds; what
// -ldflags set wins.
func TestBuildInfoFallback(t *testing.T) {
	stamped := &debug.BuildInfo{
		Main: debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
		},
	}
	for _, c := range []struct {
		name        string
		in          build
		info        *debug.BuildInfo
		version, co string
	}{
		{"stamps only", build{}, stamped, "v1.4.0", "0123456789ab+dirty"},
		{"ldflags win", build{Version: "2.0.0", Commit: "feedface"}, stamped, "2.0.0", "feedface"},
		{"devel build", build{}, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", ""},
	} {
		got := fillFromBuildInfo(c.in, c.info)
		if got.Version != c.version || got.Commit != c.co {
			t.Errorf("%s: version %q commit %q, want %q %q", c.name, got.Version, got.Commit, c.version, c.co)
		}
	}
	b := currentBuild()
	if b.Version == "" || b.Commit == "" || b.Go != runtime.Version() {
		t.Fatalf("currentBuild() = %+v", b)
	}
}

// TestStaticBuild builds zaqar-server as the Dockerfile and `make dist`
// do (CGO_ENABLED=0, version and commit through -ldflags) and checks
// that the binary is static, so that it runs on a base image without a
// libc, and that --version reports what was set.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server: skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "zaqar-server")
	cmd := exec.Command("go", "build", "-ldflags", "-s -w -X main.version=9.8.7 -X main.commit=abcdef123456", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader: it would not run on a base image without libc")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary links %v", libs)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("--version: %v", err)
	}
	want := "zaqar-server 9.8.7 (commit abcdef123456, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if string(out) != want {
		t.Fatalf("--version printed %q, want %q", out, want)
	}
}
