// Package config loads zaqar.conf the way oslo.config does: repeatable
// --config-file (later files win), --config-dir, then OS_<GROUP>__<OPTION>
// environment variables, then command-line flags. One typed option table
// (options.go) drives parsing, validation, the flags, --help, the sample
// file and what each option sets in Settings (the option structs of the
// packages it configures), so they cannot disagree, and an option's name
// is written once. Unknown or invalid options in sections we own stop
// start-up; sections owned by other OpenStack libraries only warn.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// Kind is an option's type.
type Kind int

const (
	String Kind = iota
	Int
	Bool
	Duration // seconds as a float, or a Go duration such as 50ms
	List     // comma-separated
)

// Option describes one configuration option.
type Option struct {
	Section string
	Name    string
	Default string
	Help    string
	Choices []string // allowed values for enumerations
	Min     *int64
	Secret  bool
	// Flag is the zaqar-server flag that overrides the option, if any.
	Flag string
	// Set applies the option's value to Settings: the one place its
	// meaning is written. It gives the option its Kind.
	Set Setter
}

// Kind is the option's type.
func (o *Option) Kind() Kind { return o.Set.kind }

// Key names the option as Load's overrides do: "section.name".
func (o *Option) Key() string { return o.Section + "." + o.Name }

// FlagUsage is the --help text of the option's Flag. A Bool option's flag
// takes no value and sets it to true; it is described by the option's
// help.
func (o *Option) FlagUsage() string {
	if o.Kind() == Bool {
		h := strings.TrimSuffix(o.Help, ".")
		return strings.ToLower(h[:1]) + h[1:]
	}
	u := fmt.Sprintf("override [%s] %s", o.Section, o.Name)
	if len(o.Choices) > 0 {
		u += " (" + strings.Join(o.Choices, "|") + ")"
	}
	return u
}

// Sections we accept but do not use yet; any option name is allowed there.
var openSections = map[string]bool{"storage": true}

// Foreign sections belong to other OpenStack libraries: warn, never fail.
var foreignSections = map[string]bool{"profiler": true, "healthcheck": true, "trustee": true,
	"cache": true, "oslo_middleware": true, "oslo_reports": true, "oslo_concurrency": true}

// foreign reports whether a section belongs to another library;
// oslo.messaging has one per driver (oslo_messaging_rabbit, ...).
func foreign(section string) bool {
	return foreignSections[section] || strings.HasPrefix(section, "oslo_messaging_")
}

// known reports whether name is an option of Zaqar 15 or of the libraries
// its deployments configure, in section (knownOptions).
func known(section, name string) bool {
	for _, n := range strings.Fields(knownOptions[section]) {
		if n == name {
			return true
		}
	}
	return false
}

// Shared sections are read by oslo libraries too (keystonemiddleware,
// oslo.policy, oslo.middleware); operators' files carry options of theirs
// we do not use (memcached_servers, region_name, ...): those only warn.
var sharedSections = map[string]bool{"keystone_authtoken": true, "oslo_policy": true, "cors": true}

// FileList is the repeatable --config-file flag (later files win).
type FileList []string

func (f *FileList) String() string     { return strings.Join(*f, ",") }
func (f *FileList) Set(v string) error { *f = append(*f, v); return nil }

// Config holds resolved values by "section.name".
type Config struct {
	values   map[string]string
	Sources  []string // files read, in order
	Warnings []string
	// NoEffect lists the options set in files that Zaqar has and this
	// server accepts without acting on them ("[section] name").
	NoEffect []string
}

func key(section, name string) string { return strings.ToLower(section) + "." + name }

func lookup(section, name string) *Option {
	for i := range Options {
		if strings.EqualFold(Options[i].Section, section) && Options[i].Name == name {
			return &Options[i]
		}
	}
	return nil
}

// Load reads files, then the directory's *.conf files, then the
// environment, then overrides (flags), validating every value.
func Load(files []string, dir string, env []string, overrides map[string]string) (*Config, error) {
	c := &Config{values: map[string]string{}}
	for _, o := range Options {
		c.values[key(o.Section, o.Name)] = o.Default
	}
	if len(files) == 0 {
		for _, f := range []string{"./zaqar.conf", filepath.Join(Dir, "zaqar.conf")} {
			if _, err := os.Stat(f); err == nil {
				files = []string{f}
				break
			}
		}
	}
	if dir != "" {
		more, err := filepath.Glob(filepath.Join(dir, "*.conf"))
		if err != nil {
			return nil, err
		}
		sort.Strings(more)
		files = append(files, more...)
	}
	var errs []error
	for _, f := range files {
		if err := c.loadFile(f); err != nil {
			errs = append(errs, err)
		}
	}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "OS_") {
			continue
		}
		if o := envOption(k); o != nil {
			if err := c.set(o, v, "environment "+k); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for k, v := range overrides {
		sec, name, _ := strings.Cut(k, ".")
		o := lookup(sec, name)
		if o == nil {
			errs = append(errs, fmt.Errorf("unknown option %s", k))
			continue
		}
		if err := c.set(o, v, "command line"); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// envOption maps OS_<GROUP>__<OPTION> to an option; colons in group names
// are written as underscores (OS_DRIVERS_MESSAGE_STORE_BADGER__FSYNC).
func envOption(k string) *Option {
	group, name, ok := strings.Cut(strings.TrimPrefix(k, "OS_"), "__")
	if !ok {
		return nil
	}
	for i := range Options {
		o := &Options[i]
		g := strings.ToUpper(strings.ReplaceAll(o.Section, ":", "_"))
		if g == strings.ToUpper(group) && strings.EqualFold(o.Name, name) {
			return o
		}
	}
	return nil
}

func (c *Config) loadFile(path string) error {
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true, AllowPythonMultilineValues: true, Insensitive: false}, path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.Sources = append(c.Sources, path)
	var errs []error
	for _, sec := range f.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			name = "DEFAULT"
		}
		if len(sec.Keys()) == 0 {
			continue
		}
		if foreign(name) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: section [%s] belongs to another service; ignored", path, name))
			continue
		}
		if openSections[name] {
			continue
		}
		for _, k := range sec.Keys() {
			// oslo.config reads option-name and option_name alike.
			opt := strings.ReplaceAll(k.Name(), "-", "_")
			o := lookup(name, opt)
			if o == nil && known(name, opt) {
				if !slices.Contains(c.NoEffect, "["+name+"] "+opt) {
					c.NoEffect = append(c.NoEffect, "["+name+"] "+opt)
				}
				continue
			}
			if o == nil && sharedSections[name] {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s: [%s] %s is not used by this server; ignored", path, name, k.Name()))
				continue
			}
			if o == nil {
				errs = append(errs, fmt.Errorf("%s: [%s] %s: unknown option", path, name, k.Name()))
				continue
			}
			if err := c.set(o, unquote(k.Value()), path); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

func (c *Config) set(o *Option, v, source string) error {
	v = strings.TrimSpace(v)
	bad := func(why string) error {
		return fmt.Errorf("%s: [%s] %s = %q: %s", source, o.Section, o.Name, v, why)
	}
	switch o.Kind() {
	case Int:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return bad("not an integer")
		}
		if o.Min != nil && n < *o.Min {
			return bad(fmt.Sprintf("must be at least %d", *o.Min))
		}
	case Bool:
		b, ok := parseBool(v)
		if !ok {
			return bad("not a boolean (true/false)")
		}
		v = strconv.FormatBool(b)
	case Duration:
		if _, err := parseDuration(v); err != nil {
			return bad("not a duration (seconds, or e.g. 50ms)")
		}
	}
	if len(o.Choices) > 0 {
		ok := false
		for _, ch := range o.Choices {
			if strings.EqualFold(ch, v) {
				ok, v = true, ch
			}
		}
		if !ok {
			return bad(fmt.Sprintf("must be one of %q", o.Choices))
		}
	}
	c.values[key(o.Section, o.Name)] = v
	return nil
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on", "t", "y":
		return true, true
	case "false", "0", "no", "off", "f", "n":
		return false, true
	}
	return false, false
}

func parseDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return 0, errors.New("negative")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err == nil && d < 0 {
		return 0, errors.New("negative")
	}
	return d, err
}

// String returns an option's value.
func (c *Config) String(section, name string) string { return c.values[key(section, name)] }

// Int returns an integer option (validated at load).
func (c *Config) Int(section, name string) int64 {
	n, _ := strconv.ParseInt(c.values[key(section, name)], 10, 64)
	return n
}

// Bool returns a boolean option.
func (c *Config) Bool(section, name string) bool {
	b, _ := parseBool(c.values[key(section, name)])
	return b
}

// Duration returns a duration option.
func (c *Config) Duration(section, name string) time.Duration {
	d, _ := parseDuration(c.values[key(section, name)])
	return d
}

// List returns a comma-separated option.
func (c *Config) List(section, name string) []string { return splitList(c.values[key(section, name)]) }

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Sample renders a commented zaqar.conf with every option and its default.
func Sample() string {
	var b strings.Builder
	b.WriteString("# zaqar.conf sample: every option with its default (generated by zaqar-server --print-sample-config)\n")
	section := ""
	for _, o := range Options {
		if o.Section != section {
			section = o.Section
			fmt.Fprintf(&b, "\n[%s]\n", section)
		}
		fmt.Fprintf(&b, "\n# %s", o.Help)
		if len(o.Choices) > 0 {
			fmt.Fprintf(&b, " (one of: %s)", strings.Join(o.Choices, ", "))
		}
		fmt.Fprintf(&b, "\n#%s = %s\n", o.Name, o.Default)
	}
	return b.String()
}
