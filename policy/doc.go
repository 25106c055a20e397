// Package policy decides whether a caller may perform an API operation, the
// job oslo.policy does for the Python Zaqar server.
//
// Operators of an OpenStack cloud already have policy files written for
// oslo.policy, and Zaqar's documentation describes its rules in that
// language, so this package reads the same files and gives the same answers
// instead of inventing a new format. It has three parts:
//
//   - the rule language (Parse, ParseList): "role:admin or
//     project_id:%(project_id)s", with oslo.policy's precedence ("and" binds
//     tighter than "or", "not" applies to the next check), its generic
//     kind:match checks and its legacy list-of-lists form;
//   - Zaqar's default rules (Defaults), the names and check strings of
//     zaqar/common/policies in Zaqar 15.0.0;
//   - the Enforcer, which overlays an operator's YAML or JSON policy file on
//     the defaults and answers Allow(name, target, creds).
//
// Where oslo.policy logs a rule it cannot understand and then denies every
// request it guards, this package refuses to load it: a typo in a policy file
// should stop the server at start-up with the file and line, not surface
// later as unexplained 403s. For the same reason rule: references are bound
// and checked for undefined names and cycles when an Enforcer is built, which
// also keeps evaluation free of map lookups and allocations.
//
// An Enforcer is immutable once built and safe for concurrent use; to reload
// a policy file, build a new one and swap it in.
package policy
