package policy

// Creds describes the caller. Generic checks name its attributes the way
// oslo.context's to_policy_values does (user_id, project_id, domain_id,
// user_domain_id, project_domain_id, system_scope, roles, is_admin), so that
// rules written for the Python server read the same attributes here.
//
// An empty string attribute stands for oslo.context's None: a check on it is
// false whatever its match. That keeps "project_id:%(project_id)s" from
// matching a caller without a project against an object without one.
type Creds struct {
	UserID          string
	ProjectID       string
	DomainID        string
	UserDomainID    string
	ProjectDomainID string
	SystemScope     string

	// Roles are compared case-insensitively by role: checks and exactly by
	// generic roles:NAME checks, as oslo.policy does.
	Roles []string

	// IsAdmin is what is_admin:True tests. Nothing in this package sets it;
	// callers usually fill it from (*Enforcer).IsAdmin.
	IsAdmin bool
}

// Target describes the object of the operation; a rule's match reads it
// through %(project_id)s, %(queue_name)s and %(topic_name)s. An empty field
// counts as a missing key, which makes the check false, as oslo.policy does
// for a key absent from the target dict.
type Target struct {
	ProjectID string
	QueueName string
	TopicName string
}

// noCreds lets a nil *Creds be evaluated as a caller with no attributes
// rather than panic in the request path.
var noCreds Creds

// targetKey identifies a %(name)s substitution, resolved at parse time so
// evaluation is a switch rather than a string comparison.
type targetKey uint8

const (
	tkLiteral targetKey = iota // not a substitution: the piece is literal text
	tkProjectID
	tkQueueName
	tkTopicName
	tkUnknown // a name Target does not have: always missing
)

func lookupTargetKey(name string) targetKey {
	switch name {
	case "project_id":
		return tkProjectID
	case "queue_name":
		return tkQueueName
	case "topic_name":
		return tkTopicName
	}
	return tkUnknown
}

func (t *Target) get(k targetKey) string {
	switch k {
	case tkProjectID:
		return t.ProjectID
	case tkQueueName:
		return t.QueueName
	case tkTopicName:
		return t.TopicName
	}
	return ""
}

// credKey identifies the credential a generic check's kind names.
type credKey uint8

const (
	ckNone credKey = iota // a name (or dotted path) Creds does not have
	ckUserID
	ckProjectID
	ckDomainID
	ckUserDomainID
	ckProjectDomainID
	ckSystemScope
	ckRoles
	ckIsAdmin
)

// lookupCredKey maps a dotted path to the attribute it reads. Creds is flat,
// so any path of more than one segment reads nothing; oslo.policy would
// raise a TypeError indexing a string there, and false is the closed answer.
func lookupCredKey(path string) credKey {
	switch path {
	case "user_id":
		return ckUserID
	case "project_id":
		return ckProjectID
	case "domain_id":
		return ckDomainID
	case "user_domain_id":
		return ckUserDomainID
	case "project_domain_id":
		return ckProjectDomainID
	case "system_scope":
		return ckSystemScope
	case "roles":
		return ckRoles
	case "is_admin":
		return ckIsAdmin
	}
	return ckNone
}

func (c *Creds) str(k credKey) string {
	switch k {
	case ckUserID:
		return c.UserID
	case ckProjectID:
		return c.ProjectID
	case ckDomainID:
		return c.DomainID
	case ckUserDomainID:
		return c.UserDomainID
	case ckProjectDomainID:
		return c.ProjectDomainID
	case ckSystemScope:
		return c.SystemScope
	case ckIsAdmin:
		// Python's str(True) and str(False).
		if c.IsAdmin {
			return "True"
		}
		return "False"
	}
	return ""
}
