// Command zaqar-diff sends the same scenario of Messaging API v2 requests
// to two servers (ours and the original Zaqar, say) and prints every
// difference between their answers: status, header names (with their case)
// and values, and body documents compared as JSON. Ids, ages and times,
// which differ between any two runs, are normalised first.
//
//	zaqar-diff -a http://127.0.0.1:8888 -b http://127.0.0.1:8889
//
// It exits with status 1 when the answers differ.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	a := flag.String("a", "http://127.0.0.1:8888", "first server (e.g. the original Zaqar)")
	b := flag.String("b", "http://127.0.0.1:8889", "second server")
	project := flag.String("project", "zaqar-diff", "X-Project-ID sent")
	clientID := flag.String("client-id", "3a1d6a3e-0000-4000-8000-000000000001", "Client-ID sent")
	only := flag.String("only", "", "run only the steps whose name contains this")
	verbose := flag.Bool("v", false, "print both answers of every step that differs")
	flag.BoolVar(&foldCase, "fold-case", false, "compare header names case-insensitively")
	flag.Parse()
	ua, err := url.Parse(*a)
	check(err)
	ub, err := url.Parse(*b)
	check(err)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	q := "diff-" + hex.EncodeToString(suffix)
	runs := [2]*run{newRun(ua, *project, *clientID, q), newRun(ub, *project, *clientID, q)}
	diffs := 0
	for _, st := range scenario {
		if *only != "" && !strings.Contains(st.name, *only) {
			continue
		}
		var answers [2]*response
		for i, r := range runs {
			resp, err := r.do(st)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: server %s: %v\n", st.name, r.base, err)
				os.Exit(2)
			}
			answers[i] = resp
		}
		found := compare(runs, answers)
		if len(found) == 0 {
			continue
		}
		diffs += len(found)
		fmt.Printf("== %s (%s %s)\n", st.name, st.method, st.path)
		for _, d := range found {
			fmt.Println("   " + d)
		}
		if *verbose {
			for i, r := range runs {
				fmt.Printf("   --- %s: %d %v\n   %s\n", r.base, answers[i].status, answers[i].headers, answers[i].body)
			}
		}
	}
	fmt.Printf("%d difference(s)\n", diffs)
	if diffs > 0 {
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// run is the scenario's state on one server: the variables its answers
// gave.
type run struct {
	base     *url.URL
	project  string
	clientID string
	vars     map[string]string
}

func newRun(base *url.URL, project, clientID, queue string) *run {
	return &run{base: base, project: project, clientID: clientID, vars: map[string]string{"q": queue}}
}

var varRef = regexp.MustCompile(`\{([a-z0-9]+)\}`)

func (r *run) expand(s string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := r.vars[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

func (r *run) do(st step) (*response, error) {
	hs := []header{{"Client-ID", r.clientID}, {"X-Project-ID", r.project}, {"Accept", "application/json"}}
	if st.body != "" {
		hs = append(hs, header{"Content-Type", "application/json"})
	}
	for _, h := range st.headers {
		hs = setHeader(hs, h)
	}
	resp, err := send(r.base, st.method, r.expand(st.path), r.expand(st.body), hs)
	if err != nil {
		return nil, err
	}
	for name, from := range st.capture {
		if v := captured(resp, from); v != "" {
			r.vars[name] = v
		}
	}
	return resp, nil
}

// setHeader replaces or adds h; an empty value removes the header.
func setHeader(hs []header, h header) []header {
	out := hs[:0:0]
	for _, x := range hs {
		if !strings.EqualFold(x.name, h.name) {
			out = append(out, x)
		}
	}
	if h.value != "" {
		out = append(out, h)
	}
	return out
}

// captured reads a variable from an answer: "header:NAME" is the last
// path segment of a header, anything else a dotted path into the body
// ("resources.0" takes the last segment of an href).
func captured(resp *response, from string) string {
	if name, ok := strings.CutPrefix(from, "header:"); ok {
		u, err := url.Parse(resp.get(name))
		if err != nil || u.Path == "" {
			return ""
		}
		return path.Base(u.Path)
	}
	var doc any
	if json.Unmarshal(resp.body, &doc) != nil {
		return ""
	}
	for _, key := range strings.Split(from, ".") {
		switch x := doc.(type) {
		case map[string]any:
			doc = x[key]
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				return ""
			}
			doc = x[i]
		default:
			return ""
		}
	}
	s, _ := doc.(string)
	return path.Base(s)
}

// ignoredValues differ between any two servers or runs.
var ignoredValues = map[string]bool{"date": true, "server": true, "content-length": true}

// ignoredNames answer how the request was made, not the server: this
// client asks each connection to close, which HTTP/1.1 servers confirm.
var ignoredNames = map[string]bool{"connection": true}

// foldCase compares header names case-insensitively (-fold-case).
var foldCase bool

func compare(runs [2]*run, ans [2]*response) []string {
	var out []string
	if ans[0].status != ans[1].status {
		out = append(out, fmt.Sprintf("status: %d vs %d", ans[0].status, ans[1].status))
	}
	names := [2]map[string]string{{}, {}}
	for i, resp := range ans {
		for _, h := range resp.headers {
			name := h.name
			if foldCase {
				name = strings.ToLower(name)
			}
			if !ignoredNames[strings.ToLower(name)] {
				names[i][name] = runs[i].normalise(h.value)
			}
		}
	}
	for _, n := range sortedKeys(names[0], names[1]) {
		va, inA := names[0][n]
		vb, inB := names[1][n]
		switch {
		case !inA:
			out = append(out, fmt.Sprintf("header %q: only in b (%q)", n, vb))
		case !inB:
			out = append(out, fmt.Sprintf("header %q: only in a (%q)", n, va))
		case va != vb && !ignoredValues[strings.ToLower(n)]:
			out = append(out, fmt.Sprintf("header %q: %q vs %q", n, va, vb))
		}
	}
	var docs [2]any
	var errs [2]error
	for i, resp := range ans {
		docs[i], errs[i] = runs[i].document(resp.body)
	}
	if errs[0] != nil || errs[1] != nil {
		ta, tb := runs[0].normalise(string(ans[0].body)), runs[1].normalise(string(ans[1].body))
		if ta != tb {
			out = append(out, fmt.Sprintf("body: %q vs %q", clip(ta), clip(tb)))
		}
		return out
	}
	return append(out, diffJSON("body", docs[0], docs[1])...)
}

func sortedKeys(ms ...map[string]string) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

var (
	hexID   = regexp.MustCompile(`\b[0-9a-f]{24}\b|\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b`)
	isoTime = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?`)
)

// normalise replaces what differs between runs in a text: this run's
// variables by their names, other ids and times by placeholders, and the
// server's own address.
func (r *run) normalise(s string) string {
	keys := make([]string, 0, len(r.vars))
	for k := range r.vars {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(r.vars[keys[i]]) > len(r.vars[keys[j]]) })
	for _, k := range keys {
		if v := r.vars[k]; v != "" {
			s = strings.ReplaceAll(s, v, "{"+k+"}")
		}
	}
	s = strings.ReplaceAll(s, r.base.Host, "{host}")
	s = hexID.ReplaceAllString(s, "<id>")
	return isoTime.ReplaceAllString(s, "<time>")
}

// document decodes a JSON body and normalises its strings and its "age"
// numbers; an empty body is nil.
func (r *run) document(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data")
	}
	return r.walk("", doc), nil
}

func (r *run) walk(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = r.walk(k, e)
		}
	case []any:
		for i, e := range x {
			x[i] = r.walk(key, e)
		}
	case string:
		return r.normalise(x)
	case json.Number:
		if key == "age" {
			return "<age>"
		}
	}
	return v
}

func diffJSON(at string, a, b any) []string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		var out []string
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			va, inA := x[k]
			vb, inB := y[k]
			switch {
			case !inA:
				out = append(out, fmt.Sprintf("%s.%s: only in b (%s)", at, k, text(vb)))
			case !inB:
				out = append(out, fmt.Sprintf("%s.%s: only in a (%s)", at, k, text(va)))
			default:
				out = append(out, diffJSON(at+"."+k, va, vb)...)
			}
		}
		return out
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			break
		}
		var out []string
		for i := range x {
			out = append(out, diffJSON(fmt.Sprintf("%s[%d]", at, i), x[i], y[i])...)
		}
		return out
	}
	if text(a) != text(b) {
		return []string{fmt.Sprintf("%s: %s vs %s", at, clip(text(a)), clip(text(b)))}
	}
	return nil
}

func text(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
