package policy

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SyntaxError is a check string this package will not accept. oslo.policy
// would log it and deny every request the rule guards; refusing it makes the
// mistake visible when the policy is loaded.
type SyntaxError struct {
	Rule   string // the whole check string
	Offset int    // byte offset in Rule of the offending token, or -1
	Msg    string
}

func (e *SyntaxError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("%s in %q", e.Msg, e.Rule)
	}
	return fmt.Sprintf("%s at column %d of %q", e.Msg, e.Offset+1, e.Rule)
}

// maxDepth bounds nesting of parentheses and not, so a hostile policy file
// cannot exhaust the stack during parsing, rendering or evaluation.
const maxDepth = 100

type tokKind uint8

const (
	tokCheck tokKind = iota
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
	tokString
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) describe() string {
	switch t.kind {
	case tokLParen, tokRParen:
		return "'" + t.text + "'"
	}
	return fmt.Sprintf("%q", t.text)
}

// isSpace is Python's str.isspace, which is what re's \s matches in the
// oslo.policy tokenizer: Go's unicode.IsSpace plus the ASCII separators
// U+001C..U+001F.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// tokenize follows oslo.policy's _parse_tokenize: split on whitespace, peel
// leading '(' and trailing ')' off each word, and recognize and/or/not in any
// case. Parentheses inside a word stay in it, which is what lets a match
// contain %(key)s.
func tokenize(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if size == 1 && r == utf8.RuneError || !isSpace(r) {
			start := i
			for i < len(s) {
				r, size = utf8.DecodeRuneInString(s[i:])
				if !(size == 1 && r == utf8.RuneError) && isSpace(r) {
					break
				}
				i += size
			}
			toks = appendWord(toks, s[start:i], start)
			continue
		}
		i += size
	}
	return toks
}

func appendWord(toks []token, w string, pos int) []token {
	lead := len(w) - len(strings.TrimLeft(w, "("))
	for j := 0; j < lead; j++ {
		toks = append(toks, token{tokLParen, "(", pos + j})
	}
	w, pos = w[lead:], pos+lead
	clean := strings.TrimRight(w, ")")
	switch {
	case clean == "":
	case strings.EqualFold(clean, "and"):
		toks = append(toks, token{tokAnd, clean, pos})
	case strings.EqualFold(clean, "or"):
		toks = append(toks, token{tokOr, clean, pos})
	case strings.EqualFold(clean, "not"):
		toks = append(toks, token{tokNot, clean, pos})
	case isQuoted(clean):
		// oslo.policy makes a quoted word a 'string' token that no
		// grammar rule consumes. It tests the word before peeling ')',
		// so ('a':b') would be a check there; treating it as a string
		// too keeps String's output parseable.
		toks = append(toks, token{tokString, clean, pos})
	default:
		toks = append(toks, token{tokCheck, clean, pos})
	}
	for j := len(clean); j < len(w); j++ {
		toks = append(toks, token{tokRParen, ")", pos + j})
	}
	return toks
}

func isQuoted(s string) bool {
	return len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0]
}

// Parse parses a check string in oslo.policy's language. The empty string
// and "@" allow everyone, "!" denies everyone.
func Parse(s string) (*Rule, error) {
	if s == "" {
		return &Rule{root: trueNode}, nil
	}
	toks := tokenize(s)
	if len(toks) == 0 {
		// oslo.policy fails to parse a blank, non-empty rule and denies;
		// it reads like an intended allow, so say so.
		return nil, &SyntaxError{Rule: s, Offset: -1, Msg: `rule is only whitespace (write "" or "@" to allow everyone, "!" to deny everyone)`}
	}
	p := parser{src: s, toks: toks}
	root, err := p.expr(0, -1)
	if err != nil {
		return nil, err
	}
	if treeDepth(root) > maxDepth {
		// String parenthesizes every and/or group, so "a or b and c"
		// renders one level deeper than it was written; bounding the
		// tree keeps every accepted rule's rendering parseable.
		return nil, &SyntaxError{Rule: s, Offset: -1, Msg: fmt.Sprintf("rule nests and/or/not groups more than %d deep", maxDepth)}
	}
	return &Rule{root: root}, nil
}

// treeDepth counts the and/or/not nodes on the deepest path from n, which
// is how deeply its rendering nests parentheses and not.
func treeDepth(n *node) int {
	d := 0
	for _, k := range n.kids {
		d = max(d, treeDepth(k))
	}
	if len(n.kids) > 0 {
		d++
	}
	return d
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	return &SyntaxError{Rule: p.src, Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

// exprState is the kind of the operand accumulated so far, the token kinds
// of oslo.policy's shift-reduce parser. Tracking it reproduces that parser's
// tree shapes exactly, which String exposes: "a and b and c" is one group of
// three, "(a and b) and c" a group inside a group, and "a or b and c and d"
// regroups its trailing and-chain.
type exprState uint8

const (
	stCheck exprState = iota
	stAnd
	stOr
)

// expr parses a sequence of operands joined by and/or up to the end of the
// string (depth 0) or the ')' closing the '(' at open.
func (p *parser) expr(depth, open int) (*node, error) {
	left, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	state := stCheck
	for {
		if p.i == len(p.toks) {
			if depth > 0 {
				return nil, p.errAt(open, "unbalanced parenthesis: '(' is never closed")
			}
			return left, nil
		}
		t := p.toks[p.i]
		switch t.kind {
		case tokAnd, tokOr:
			p.i++
			right, err := p.unary(depth)
			if err != nil {
				return nil, err
			}
			left, state = combine(left, state, t.kind, right)
		case tokRParen:
			if depth == 0 {
				return nil, p.errAt(t.pos, "unbalanced parenthesis: ')' has no matching '('")
			}
			return left, nil
		default:
			return nil, p.errAt(t.pos, "missing 'and' or 'or' before %s", t.describe())
		}
	}
}

// combine mirrors oslo.policy's reducers for "X and check" and "X or check".
func combine(left *node, state exprState, kind tokKind, right *node) (*node, exprState) {
	if kind == tokOr {
		if state == stOr {
			left.kids = append(left.kids, right)
			return left, stOr
		}
		return &node{op: opOr, kids: []*node{left, right}}, stOr
	}
	switch state {
	case stAnd:
		left.kids = append(left.kids, right)
		return left, stAnd
	case stOr:
		// "a or b and c": the and takes the or's last operand, joining
		// it if it is already an and-group (even a parenthesized one).
		last := &left.kids[len(left.kids)-1]
		if (*last).op == opAnd {
			(*last).kids = append((*last).kids, right)
		} else {
			*last = &node{op: opAnd, kids: []*node{*last, right}}
		}
		return left, stOr
	}
	return &node{op: opAnd, kids: []*node{left, right}}, stAnd
}

// unary parses one operand: a check, a parenthesized expression, or not
// followed by an operand.
func (p *parser) unary(depth int) (*node, error) {
	if p.i == len(p.toks) {
		prev := p.toks[p.i-1]
		if prev.kind == tokLParen {
			return nil, p.errAt(prev.pos, "unbalanced parenthesis: '(' is never closed")
		}
		return nil, p.errAt(prev.pos, "dangling %s: nothing follows it", prev.describe())
	}
	t := p.toks[p.i]
	switch t.kind {
	case tokCheck:
		p.i++
		return parseCheck(p.src, t.text, t.pos)
	case tokNot, tokLParen:
		if depth >= maxDepth {
			return nil, p.errAt(t.pos, "rule nests parentheses and 'not' more than %d deep", maxDepth)
		}
		p.i++
		if t.kind == tokNot {
			inner, err := p.unary(depth + 1)
			if err != nil {
				return nil, err
			}
			return &node{op: opNot, kids: []*node{inner}}, nil
		}
		if p.i < len(p.toks) && p.toks[p.i].kind == tokRParen {
			return nil, p.errAt(t.pos, "empty parentheses")
		}
		inner, err := p.expr(depth+1, t.pos)
		if err != nil {
			return nil, err
		}
		p.i++ // the ')' expr stopped at
		return inner, nil
	case tokString:
		return nil, p.errAt(t.pos, "bare quoted string %s is not a check (a literal belongs before the colon, as in 'member':%%(role)s)", t.text)
	}
	// An operator or ')' where an operand belongs.
	var prev *token
	if p.i > 0 {
		prev = &p.toks[p.i-1]
	}
	switch {
	case prev != nil && (prev.kind == tokAnd || prev.kind == tokOr || prev.kind == tokNot):
		return nil, p.errAt(prev.pos, "dangling %s: %s follows it instead of a check", prev.describe(), t.describe())
	case t.kind == tokRParen:
		return nil, p.errAt(t.pos, "unbalanced parenthesis: ')' has no matching '('")
	}
	return nil, p.errAt(t.pos, "dangling %s: nothing precedes it", t.describe())
}

// parseCheck parses one kind:match word, what oslo.policy's _parse_check
// does. src and pos place errors within the whole check string.
func parseCheck(src, text string, pos int) (*node, error) {
	fail := func(off int, format string, args ...any) error {
		return &SyntaxError{Rule: src, Offset: pos + off, Msg: fmt.Sprintf(format, args...)}
	}
	switch text {
	case "@":
		return trueNode, nil
	case "!":
		return falseNode, nil
	}
	kind, match, ok := strings.Cut(text, ":")
	if !ok {
		return nil, fail(0, "check %q has no ':' (expected kind:match, \"@\" or \"!\")", text)
	}
	n := &node{text: text}
	switch kind {
	case "rule":
		n.op, n.refName = opRule, match
		return n, nil
	case "http", "https":
		return nil, fail(0, "%s: checks are not supported (they ask a remote server)", kind)
	case "role":
		n.op = opRole
	default:
		lit, isLit, msg := parseKind(kind)
		if msg != "" {
			return nil, fail(0, "%s", msg)
		}
		if isLit {
			n.op, n.lit = opLiteral, lit
		} else {
			n.op, n.cred = opCred, lookupCredKey(kind)
		}
	}
	tpl, off, msg := parseTemplate(match)
	if msg != "" {
		return nil, fail(len(kind)+1+off, "%s", msg)
	}
	n.match = tpl
	return n, nil
}

// parseKind decides, as oslo.policy does with ast.literal_eval, whether a
// generic check's kind is a Python literal (returning Python's str() of it)
// or a dotted credential path. Only the literals a policy plausibly uses are
// accepted; anything literal_eval would reject with a SyntaxError, which
// oslo.policy lets escape from every check, is refused here.
func parseKind(kind string) (lit string, isLit bool, errMsg string) {
	switch kind {
	case "":
		return "", false, "empty check kind before ':'"
	case "True", "False", "None":
		return kind, true, ""
	}
	switch c := kind[0]; {
	case c == '\'' || c == '"':
		body := kind[1:]
		if len(body) == 0 || body[len(body)-1] != c {
			return "", false, fmt.Sprintf("unterminated string literal kind %s", kind)
		}
		body = body[:len(body)-1]
		if strings.IndexByte(body, c) >= 0 || strings.IndexByte(body, '\\') >= 0 {
			return "", false, fmt.Sprintf("unsupported string literal kind %s (escapes and concatenation are not supported)", kind)
		}
		return body, true, ""
	case c == '-' || c == '+' || '0' <= c && c <= '9':
		if v, ok := pyInt(kind); ok {
			return v, true, ""
		}
		return "", false, fmt.Sprintf("unsupported literal kind %q (only quoted strings, True, False, None and decimal integers)", kind)
	}
	for _, seg := range strings.Split(kind, ".") {
		if !isIdentifier(seg) {
			return "", false, fmt.Sprintf("invalid check kind %q: not a literal nor a dotted credential name such as project_id", kind)
		}
	}
	return "", false, ""
}

// pyInt returns Python's str(int(s)) for a decimal integer literal with an
// optional sign and digit-separating underscores.
func pyInt(s string) (string, bool) {
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	if s == "" || len(s) > 4300 || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		// 4300 digits is Python's int/str conversion limit.
		return "", false
	}
	digits := strings.ReplaceAll(s, "_", "")
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", false
		}
	}
	trimmed := strings.TrimLeft(digits, "0")
	if trimmed == "" {
		return "0", true
	}
	if len(trimmed) != len(digits) {
		// Python 3 rejects leading zeros on a non-zero integer.
		return "", false
	}
	if neg {
		return "-" + trimmed, true
	}
	return trimmed, true
}

func isIdentifier(s string) bool {
	if s == "" || pyKeywords[s] {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// pyKeywords cannot appear in a dotted name: literal_eval raises a
// SyntaxError on them.
var pyKeywords = map[string]bool{
	"False": true, "None": true, "True": true, "and": true, "as": true,
	"assert": true, "async": true, "await": true, "break": true,
	"class": true, "continue": true, "def": true, "del": true, "elif": true,
	"else": true, "except": true, "finally": true, "for": true,
	"from": true, "global": true, "if": true, "import": true, "in": true,
	"is": true, "lambda": true, "nonlocal": true, "not": true, "or": true,
	"pass": true, "raise": true, "return": true, "try": true, "while": true,
	"with": true, "yield": true,
}

// ParseList parses oslo.policy's legacy list-of-lists form: the inner lists
// are and-ed checks, the outer list or-s them. An empty outer list allows
// everyone; empty inner lists are skipped, and if nothing is left the rule
// denies everyone, as in oslo.policy.
func ParseList(alternatives [][]string) (*Rule, error) {
	alts := make([][]*node, len(alternatives))
	for i, alt := range alternatives {
		for j, s := range alt {
			n, err := parseListItem(s)
			if err != nil {
				return nil, fmt.Errorf("item [%d][%d]: %w", i, j, err)
			}
			alts[i] = append(alts[i], n)
		}
	}
	return &Rule{root: combineList(len(alternatives) == 0, alts)}, nil
}

// parseListItem parses one element of the list form. oslo.policy hands it to
// _parse_check unsplit, so "role:a or role:b" there is a role with spaces in
// its name; requiring a single word keeps such a mistake from loading and
// keeps String's output parseable.
func parseListItem(s string) (*node, error) {
	if s == "" {
		return nil, &SyntaxError{Rule: s, Offset: -1, Msg: "empty check"}
	}
	toks := tokenize(s)
	if len(toks) != 1 || toks[0].kind != tokCheck || toks[0].text != s {
		return nil, &SyntaxError{Rule: s, Offset: -1, Msg: "a list-form item must be a single check such as \"role:admin\", without and/or/not, parentheses or spaces"}
	}
	return parseCheck(s, s, 0)
}

func combineList(empty bool, alts [][]*node) *node {
	if empty {
		return trueNode
	}
	var or []*node
	for _, alt := range alts {
		switch len(alt) {
		case 0:
		case 1:
			or = append(or, alt[0])
		default:
			or = append(or, &node{op: opAnd, kids: alt})
		}
	}
	switch len(or) {
	case 0:
		return falseNode
	case 1:
		return or[0]
	}
	return &node{op: opOr, kids: or}
}
