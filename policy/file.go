package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// parseFile reads an oslo.policy file: a mapping of rule name to check
// string or list-of-lists. JSON is YAML's flow style, so one parser reads
// both, and decoding into yaml.Node keeps the line of every key and value
// for error messages. All problems are collected, not just the first.
func parseFile(file string, data []byte) ([]ruleDef, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, nil // empty or only comments: the defaults
		}
		return nil, yamlError(file, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &LoadError{File: file, Line: extra.Line, Err: errors.New("a policy file holds one YAML document, this is a second")}
	case err != io.EOF:
		return nil, yamlError(file, data, err)
	}

	top := deref(&doc)
	if top.Kind == yaml.DocumentNode {
		if len(top.Content) == 0 {
			return nil, nil
		}
		top = deref(top.Content[0])
	}
	if isNull(top) {
		// oslo.policy treats a document of null as no rules.
		return nil, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, &LoadError{File: file, Line: top.Line, Err: fmt.Errorf("the top level must be a mapping of rule name to check string, not %s", describe(top))}
	}

	var defs []ruleDef
	var errs []error
	seen := make(map[string]int, len(top.Content)/2)
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := deref(top.Content[i]), deref(top.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			errs = append(errs, &LoadError{File: file, Line: k.Line, Err: fmt.Errorf("a rule name must be a string, not %s", describe(k))})
			continue
		}
		name := k.Value
		if name == "" {
			errs = append(errs, &LoadError{File: file, Line: k.Line, Err: errors.New("empty rule name")})
			continue
		}
		if first, dup := seen[name]; dup {
			errs = append(errs, &LoadError{File: file, Line: k.Line, Rule: name, Err: fmt.Errorf("defined twice (first on line %d)", first)})
			continue
		}
		seen[name] = k.Line
		r, line, err := parseValue(v)
		if err != nil {
			errs = append(errs, &LoadError{File: file, Line: line, Rule: name, Err: err})
			continue
		}
		defs = append(defs, ruleDef{name: name, rule: r, line: k.Line})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return defs, nil
}

// parseValue parses one rule's value, returning the line an error is on.
func parseValue(v *yaml.Node) (*Rule, int, error) {
	switch {
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str":
		r, err := Parse(v.Value)
		return r, v.Line, err
	case isNull(v):
		// oslo.policy would read null as an empty list, which allows
		// everyone; an operator who meant that can say so.
		return nil, v.Line, errors.New(`the value is empty (null); write "" to allow everyone or "!" to deny everyone`)
	case v.Kind != yaml.SequenceNode:
		return nil, v.Line, fmt.Errorf("the value must be a check string or a list of lists of checks, not %s", describe(v))
	}
	alts := make([][]*node, len(v.Content))
	for i, item := range v.Content {
		item = deref(item)
		switch {
		case item.Kind == yaml.ScalarNode && item.ShortTag() == "!!str":
			// A bare string stands for a one-check list; an empty one
			// is skipped like an empty list.
			if item.Value == "" {
				continue
			}
			n, err := parseListItem(item.Value)
			if err != nil {
				return nil, item.Line, err
			}
			alts[i] = []*node{n}
		case item.Kind == yaml.SequenceNode:
			for _, c := range item.Content {
				c = deref(c)
				if c.Kind != yaml.ScalarNode || c.ShortTag() != "!!str" {
					return nil, c.Line, fmt.Errorf("a list-form check must be a string, not %s", describe(c))
				}
				n, err := parseListItem(c.Value)
				if err != nil {
					return nil, c.Line, err
				}
				alts[i] = append(alts[i], n)
			}
		default:
			return nil, item.Line, fmt.Errorf("a list-form alternative must be a list of checks, not %s", describe(item))
		}
	}
	return &Rule{root: combineList(len(v.Content) == 0, alts)}, v.Line, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "an unexpected YAML node"
}

var yamlLine = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)

// yamlParserProblems are the messages of yaml's parser (as opposed to its
// scanner and reader); see yamlError.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// yamlError turns a yaml syntax error into "file:N: msg" with a correct
// 1-based line. yaml prints its parser's lines 0-based and its scanner's
// 1-based, leaves the line out when it is the first, and has none at all
// for bad characters or an unknown alias, so each case is repaired here.
func yamlError(file string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	switch {
	case yamlParserProblems[msg]:
		line++
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		line = lineOf(data, bytes.Index(data, []byte("*"+name)))
	case line == 0:
		line = lineOf(data, badChar(data))
	}
	return &LoadError{File: file, Line: line, Err: errors.New(msg)}
}

// badChar returns the offset of the first byte YAML refuses to read:
// invalid UTF-8 or a control character other than tab and line breaks.
// With none, the problem was on the first line.
func badChar(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 ||
			r < 0x20 && r != '\t' && r != '\n' && r != '\r' ||
			r == 0x7f || r >= 0x80 && r < 0xa0 && r != 0x85 ||
			r >= 0xd800 && r < 0xe000 || r == 0xfffe || r == 0xffff {
			return i
		}
		i += size
	}
	return 0
}

func lineOf(data []byte, offset int) int {
	if offset < 0 {
		return 0
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}
