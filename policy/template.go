package policy

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A template is a check's match with its Python %-substitutions split out.
// oslo.policy formats the match into a new string for every check; comparing
// piece by piece against the candidate value gives the same answer without
// building that string, which keeps evaluation allocation-free.
type template struct {
	pieces []piece
	// never is set when a substitution names a key Target does not have,
	// so the check is false for every target.
	never bool
}

// piece is literal text (key == tkLiteral) or one %(name)s substitution.
type piece struct {
	key  targetKey
	text string
}

// parseTemplate accepts only %(name)s and %%: Python would also take %s
// (formatting the whole target dict), %d, widths and flags, none of which
// mean anything useful in a policy and most of which raise at check time.
// The returned offset locates an error within s.
func parseTemplate(s string) (template, int, string) {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.pieces = append(t.pieces, piece{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '%')
		if j < 0 {
			lit.WriteString(s[i:])
			break
		}
		lit.WriteString(s[i : i+j])
		i += j
		if i+1 >= len(s) {
			return t, i, "incomplete format: '%' at the end of the match (write %% for a literal percent sign)"
		}
		switch s[i+1] {
		case '%':
			lit.WriteByte('%')
			i += 2
			continue
		case '(':
		default:
			return t, i, "unsupported format " + quoteFormat(s[i:]) + " (only %(name)s and %% are supported)"
		}
		// Python finds the key's end by counting parentheses, so
		// %(a(b)c)s names the key "a(b)c".
		depth, k := 1, i+2
		for ; k < len(s) && depth > 0; k++ {
			switch s[k] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth > 0 {
			return t, i, "incomplete format key: \"%(\" is never closed"
		}
		name := s[i+2 : k-1]
		if k >= len(s) || s[k] != 's' {
			return t, i, "unsupported format " + quoteFormat(s[i:]) + " (only %(name)s and %% are supported)"
		}
		flush()
		key := lookupTargetKey(name)
		if key == tkUnknown {
			t.never = true
		}
		t.pieces = append(t.pieces, piece{key: key, text: name})
		i = k + 1
	}
	flush()
	return t, -1, ""
}

// quoteFormat shows the offending conversion, from its '%' to its
// conversion letter, without the rest of the match.
func quoteFormat(s string) string {
	from := 1
	if strings.HasPrefix(s, "%(") {
		if k := strings.IndexByte(s, ')'); k >= 0 {
			from = k + 1
		}
	}
	end := len(s)
	for i := from; i < len(s); i++ {
		if c := s[i] | 0x20; 'a' <= c && c <= 'z' {
			end = i + 1
			break
		}
	}
	if end > 24 {
		end = 24
	}
	return strconv.Quote(s[:end])
}

// present reports whether every substituted key has a value; a missing key
// makes oslo.policy's check false before anything is compared.
func (t *template) present(tg *Target) bool {
	if t.never {
		return false
	}
	for i := range t.pieces {
		if p := &t.pieces[i]; p.key != tkLiteral && tg.get(p.key) == "" {
			return false
		}
	}
	return true
}

func (p *piece) value(tg *Target) string {
	if p.key == tkLiteral {
		return p.text
	}
	return tg.get(p.key)
}

// equal reports whether the formatted match equals s. The caller has
// checked present.
func (t *template) equal(tg *Target, s string) bool {
	for i := range t.pieces {
		v := t.pieces[i].value(tg)
		if !strings.HasPrefix(s, v) {
			return false
		}
		s = s[len(v):]
	}
	return s == ""
}

// equalFold is equal after lowercasing both sides, what oslo.policy's role
// check does with str.lower(). Lowercasing is rune by rune with Unicode's
// simple mapping, which differs from Python's only for U+0130 and a final
// capital sigma.
func (t *template) equalFold(tg *Target, s string) bool {
	if len(t.pieces) == 1 && t.pieces[0].key == tkLiteral {
		// The usual role:NAME, where ASCII needs no rune decoding.
		if eq, ok := asciiEqualFold(t.pieces[0].text, s); ok {
			return eq
		}
	}
	// Plain locals rather than an iterator struct: escape analysis loses
	// track of tg once it is stored in a struct updated through a pointer.
	var cur string
	for i := 0; ; {
		for cur == "" && i < len(t.pieces) {
			cur = t.pieces[i].value(tg)
			i++
		}
		if cur == "" || s == "" {
			return cur == "" && s == ""
		}
		var a, b rune
		a, cur = nextRune(cur)
		b, s = nextRune(s)
		if a != b && lower(a) != lower(b) {
			return false
		}
	}
}

// asciiEqualFold compares a and b case-insensitively while both are ASCII;
// ok is false if it met a non-ASCII byte before deciding.
func asciiEqualFold(a, b string) (eq, ok bool) {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x|y >= utf8.RuneSelf {
			return false, false
		}
		if x != y {
			// Setting bit 5 lowercases an ASCII letter and only
			// letters may differ in it.
			lx, ly := x|0x20, y|0x20
			if lx != ly || lx < 'a' || lx > 'z' {
				return false, true
			}
		}
	}
	return len(a) == len(b), true
}

// nextRune decodes one rune, mapping each invalid byte to its own negative
// value so two different invalid bytes never compare equal.
func nextRune(s string) (rune, string) {
	c, size := utf8.DecodeRuneInString(s)
	if c == utf8.RuneError && size == 1 {
		c = -1 - rune(s[0])
	}
	return c, s[size:]
}

func lower(r rune) rune {
	if r < 0 {
		return r
	}
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(r)
}
