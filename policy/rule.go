package policy

import "strings"

// Rule is a parsed check string. A Rule from Parse is immutable and may be
// shared between goroutines; one obtained from an Enforcer has its rule:
// references bound to that Enforcer's rules.
type Rule struct {
	root *node
}

type op uint8

const (
	opTrue op = iota
	opFalse
	opAnd
	opOr
	opNot
	opRule    // rule:NAME
	opRole    // role:MATCH
	opLiteral // 'x':MATCH, True:MATCH, 42:MATCH
	opCred    // credential.path:MATCH
)

// node is one vertex of the check tree. A single concrete type, rather than
// an interface per check kind, lets the compiler see that evaluation does not
// retain its *Target and *Creds, so they stay on the caller's stack.
type node struct {
	op   op
	kids []*node // operands of and/or; the single operand of not

	// text is the check as written (kind:match); String renders it
	// unchanged, as oslo.policy's Check.__str__ does.
	text string

	match template // role, literal and credential checks
	lit   string   // opLiteral: Python's str() of the kind
	cred  credKey  // opCred

	ref     *Rule  // opRule: bound by the Enforcer; nil means undefined
	refName string // opRule
}

// Immutable leaves shared by every rule; binding only ever mutates opRule
// nodes, so sharing these is safe.
var (
	trueNode  = &node{op: opTrue}
	falseNode = &node{op: opFalse}
)

// Allow reports whether the rule admits creds acting on target. A nil Rule
// (an unknown name from Enforcer.Rule) denies; a nil creds is a caller with
// no attributes.
func (r *Rule) Allow(target Target, creds *Creds) bool {
	if r == nil {
		return false
	}
	if creds == nil {
		creds = &noCreds
	}
	return r.root.eval(&target, creds)
}

func (n *node) eval(t *Target, c *Creds) bool {
	switch n.op {
	case opTrue:
		return true
	case opAnd:
		for _, k := range n.kids {
			if !k.eval(t, c) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if k.eval(t, c) {
				return true
			}
		}
		return false
	case opNot:
		return !n.kids[0].eval(t, c)
	case opRule:
		// An unbound reference is oslo.policy's KeyError: false. The
		// Enforcer refuses to build with one, so this only happens for
		// a Rule straight from Parse.
		return n.ref != nil && n.ref.root.eval(t, c)
	case opRole:
		if !n.match.present(t) {
			return false
		}
		for _, role := range c.Roles {
			if n.match.equalFold(t, role) {
				return true
			}
		}
		return false
	case opLiteral:
		return n.match.present(t) && n.match.equal(t, n.lit)
	case opCred:
		if !n.match.present(t) {
			return false
		}
		switch n.cred {
		case ckNone:
			return false
		case ckRoles:
			// A list credential matches if any element does.
			for _, role := range c.Roles {
				if n.match.equal(t, role) {
					return true
				}
			}
			return false
		}
		v := c.str(n.cred)
		return v != "" && n.match.equal(t, v)
	}
	return false
}

// String renders the rule the way oslo.policy's str() of the parsed check
// does: "@" and "!" for the constants, every and/or group parenthesized,
// checks as written. Parsing the result gives a rule with the same String.
func (r *Rule) String() string {
	if r == nil {
		return "!"
	}
	var b strings.Builder
	r.root.render(&b)
	return b.String()
}

func (n *node) render(b *strings.Builder) {
	switch n.op {
	case opTrue:
		b.WriteByte('@')
	case opFalse:
		b.WriteByte('!')
	case opAnd, opOr:
		sep := " and "
		if n.op == opOr {
			sep = " or "
		}
		b.WriteByte('(')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			k.render(b)
		}
		b.WriteByte(')')
	case opNot:
		b.WriteString("not ")
		n.kids[0].render(b)
	default:
		b.WriteString(n.text)
	}
}

// walk visits every node of the tree rooted at n, parents first.
func (n *node) walk(f func(*node)) {
	f(n)
	for _, k := range n.kids {
		k.walk(f)
	}
}
