// Package profiles holds zaqar-bench's workload files. A profile is an INI
// file whose keys are zaqar-bench flag names (without dashes); the command
// line overrides any of them.
package profiles

import (
	"embed"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/ini.v1"
)

//go:embed *.ini
var files embed.FS

// Names lists the built-in profiles.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".ini"))
	}
	sort.Strings(out)
	return out
}

// Load reads a built-in profile by name, or a file by path.
func Load(nameOrPath string) (map[string]string, error) {
	data, err := files.ReadFile(nameOrPath + ".ini")
	if err != nil {
		if data, err = os.ReadFile(nameOrPath); err != nil {
			return nil, fmt.Errorf("profile %q: not a built-in (%s) nor a readable file", nameOrPath, strings.Join(Names(), ", "))
		}
	}
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true}, data)
	if err != nil {
		return nil, fmt.Errorf("profile %q: %w", nameOrPath, err)
	}
	out := map[string]string{}
	for _, sec := range f.Sections() {
		for _, k := range sec.Keys() {
			out[k.Name()] = strings.TrimSpace(k.Value())
		}
	}
	return out, nil
}
