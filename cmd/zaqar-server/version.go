package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by `make build` and `make dist` with -ldflags "-X main.version=...
// -X main.commit=...". A plain `go build` or `go install` leaves them
// empty, and the module and VCS stamps Go embeds are used instead.
var (
	version = ""
	commit  = ""
)

// build describes this binary for --version and the start-up log.
type build struct {
	Version  string // release or `git describe`; "dev" when unknown
	Commit   string // VCS revision, "+dirty" when built from a modified tree
	Go       string // toolchain
	Platform string // GOOS/GOARCH
}

func currentBuild() build {
	b := build{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if ok {
		b = fillFromBuildInfo(b, info)
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// fillFromBuildInfo completes what -ldflags did not set from the stamps
// the Go toolchain embeds: the module version (set by `go install
// module@version`) and the VCS revision of the tree that was built.
func fillFromBuildInfo(b build, info *debug.BuildInfo) build {
	if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	if b.Commit == "" {
		var rev string
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && modified {
			rev += "+dirty"
		}
		b.Commit = rev
	}
	return b
}

func (b build) String() string {
	return fmt.Sprintf("zaqar-server %s (commit %s, %s, %s)", b.Version, b.Commit, b.Go, b.Platform)
}
