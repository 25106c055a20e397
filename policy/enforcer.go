package policy

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

// Enforcer holds the effective rules: Zaqar's defaults with an operator's
// policy file laid over them, every rule: reference bound. It is immutable
// and safe for concurrent use.
type Enforcer struct {
	rules map[string]*Rule
	admin *Rule // context_is_admin, looked up once for IsAdmin
}

// LoadError is a problem with one rule of a policy file, or with the file
// as a whole when Rule is empty. Load joins every such problem it finds
// (errors.Join), so an operator sees all of them at once.
type LoadError struct {
	File string // as passed to Load or LoadBytes; empty for the defaults
	Line int    // 1-based; 0 when unknown
	Rule string // the rule's name; empty when the problem is the whole file
	Err  error
}

func (e *LoadError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *LoadError) Unwrap() error { return e.Err }

// Default returns an Enforcer with only Zaqar's default rules. It is built
// once and shared.
func Default() *Enforcer { return defaultEnforcer() }

var defaultEnforcer = sync.OnceValue(func() *Enforcer {
	e, err := build("", nil)
	if err != nil {
		panic("policy: default rules do not load: " + err.Error())
	}
	return e
})

// Load reads an oslo.policy YAML or JSON file and lays it over the
// defaults. A missing file is an error (wrapping fs.ErrNotExist) rather than
// silently meaning the defaults, so a mistyped path is noticed; callers that
// want oslo.policy's tolerance can test for it and use Default.
func Load(path string) (*Enforcer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return LoadBytes(path, data)
}

// LoadBytes is Load for a policy already in memory; name is used in error
// messages in place of the file's path.
func LoadBytes(name string, data []byte) (*Enforcer, error) {
	defs, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	return build(name, defs)
}

// Allow reports whether the named rule admits creds acting on target. An
// unknown name denies: asking about a rule nobody defined is a bug, and the
// closed answer is the safe one.
func (e *Enforcer) Allow(name string, target Target, creds *Creds) bool {
	return e.rules[name].Allow(target, creds)
}

// Rule returns the effective rule of that name, so a caller can look it up
// once and evaluate it per request. An unknown name returns (nil, false);
// a nil *Rule denies.
func (e *Enforcer) Rule(name string) (*Rule, bool) {
	r, ok := e.rules[name]
	return r, ok
}

// IsAdmin evaluates context_is_admin, which Zaqar uses to decide whether the
// caller is an administrator; admin_or_owner then reads the answer as
// is_admin:True, so callers set creds.IsAdmin from this. A policy whose
// context_is_admin itself tests is_admin sees the value creds already has.
func (e *Enforcer) IsAdmin(creds *Creds) bool {
	return e.admin.Allow(Target{}, creds)
}

// Names returns the names of all effective rules, sorted.
func (e *Enforcer) Names() []string {
	names := make([]string, 0, len(e.rules))
	for name := range e.rules {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ruleDef is a rule read from a policy file.
type ruleDef struct {
	name string
	rule *Rule
	line int
}

// build parses the defaults afresh (binding mutates rule: nodes, so rules
// are never shared between Enforcers), lays defs over them and binds every
// rule: reference, refusing undefined names and cycles: oslo.policy only logs
// those, and a cycle would recurse forever here.
func build(file string, defs []ruleDef) (*Enforcer, error) {
	e := &Enforcer{rules: make(map[string]*Rule, len(defaultRules)+len(defs))}
	line := make(map[string]int, len(defs))
	for _, d := range defaultRules {
		r, err := Parse(d.Check)
		if err != nil {
			return nil, &LoadError{Rule: d.Name, Err: err}
		}
		e.rules[d.Name] = r
	}
	for _, d := range defs {
		e.rules[d.name] = d.rule
		line[d.name] = d.line
	}
	e.admin = e.rules["context_is_admin"]

	// File rules in file order, then defaults by name, so errors come
	// out in an order an operator can follow.
	names := e.Names()
	sort.SliceStable(names, func(i, j int) bool {
		li, lj := line[names[i]], line[names[j]]
		return li != 0 && (lj == 0 || li < lj)
	})

	var errs []error
	refs := make(map[string][]string, len(names))
	for _, name := range names {
		e.rules[name].root.walk(func(n *node) {
			if n.op != opRule {
				return
			}
			target, ok := e.rules[n.refName]
			if !ok {
				errs = append(errs, &LoadError{File: file, Line: line[name], Rule: name,
					Err: fmt.Errorf("rule:%s refers to undefined rule %q", n.refName, n.refName)})
				return
			}
			n.ref = target
			refs[name] = append(refs[name], n.refName)
		})
	}
	if len(errs) == 0 {
		for _, cycle := range findCycles(names, refs) {
			errs = append(errs, &LoadError{File: file, Line: line[cycle[0]], Rule: cycle[0],
				Err: fmt.Errorf("cycle of rule: references: %s", strings.Join(cycle, " -> "))})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// findCycles returns each cycle in the reference graph once, as the path
// from its first rule back to that rule, searching from roots in order.
func findCycles(order []string, refs map[string][]string) [][]string {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]int, len(order))
	var path []string
	var cycles [][]string
	var visit func(string)
	visit = func(name string) {
		state[name] = onPath
		path = append(path, name)
		for _, next := range refs[name] {
			switch state[next] {
			case unseen:
				visit(next)
			case onPath:
				i := len(path) - 1
				for path[i] != next {
					i--
				}
				cycle := append(append([]string(nil), path[i:]...), next)
				cycles = append(cycles, cycle)
			}
		}
		path = path[:len(path)-1]
		state[name] = done
	}
	for _, name := range order {
		if state[name] == unseen {
			visit(name)
		}
	}
	return cycles
}
