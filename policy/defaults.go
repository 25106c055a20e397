package policy

// DefaultRule is one of Zaqar's registered policies: its name, the check
// that applies when the policy file does not override it, and what it
// guards, so a sample policy file or documentation can be generated from
// the same table the Enforcer uses.
type DefaultRule struct {
	Name        string
	Check       string
	Description string
	Operations  []Operation
}

// Operation is an API call a rule guards.
type Operation struct {
	Method string
	Path   string
}

// Check strings shared by the defaults, named as in
// zaqar/common/policies/base.py.
const (
	roleAdmin    = "role:admin"
	adminOrOwner = "is_admin:True or project_id:%(project_id)s"
	unprotected  = ""
)

// defaultRules is zaqar/common/policies in Zaqar 15.0.0, in its order
// (base, claims, flavors, health, messages, pools, queues, subscription,
// topics). The two base rules have no description upstream; theirs here are
// ours. The topics:purge path is upstream's, singular "topic" included.
var defaultRules = []DefaultRule{
	{Name: "context_is_admin", Check: roleAdmin, Description: "Decides who is an administrator; callers set Creds.IsAdmin from it."},
	{Name: "admin_or_owner", Check: adminOrOwner, Description: "An administrator, or a caller acting on its own project."},
	{Name: "claims:create", Check: unprotected, Description: "Claims a set of messages from the specified queue.", Operations: []Operation{{"POST", "/v2/queues/{queue_name}/claims"}}},
	{Name: "claims:get", Check: unprotected, Description: "Queries the specified claim for the specified queue.", Operations: []Operation{{"GET", "/v2/queues/{queue_name}/claims/{claim_id}"}}},
	{Name: "claims:delete", Check: unprotected, Description: "Releases the specified claim for the specified queue.", Operations: []Operation{{"DELETE", "/v2/queues/{queue_name}/claims/{claim_id}"}}},
	{Name: "claims:update", Check: unprotected, Description: "Updates the specified claim for the specified queue.", Operations: []Operation{{"PATCH", "/v2/queues/{queue_name}/claims/{claim_id}"}}},
	{Name: "flavors:get_all", Check: unprotected, Description: "Lists flavors.", Operations: []Operation{{"GET", "/v2/flavors"}}},
	{Name: "flavors:create", Check: roleAdmin, Description: "Creates a new flavor.", Operations: []Operation{{"PUT", "/v2/flavors/{flavor_name}"}}},
	{Name: "flavors:get", Check: unprotected, Description: "Shows details for a flavor.", Operations: []Operation{{"GET", "/v2/flavors/{flavor_name}"}}},
	{Name: "flavors:delete", Check: roleAdmin, Description: "Deletes the specified flavor.", Operations: []Operation{{"DELETE", "/v2/flavors/{flavor_name}"}}},
	{Name: "flavors:update", Check: roleAdmin, Description: "Update flavor.", Operations: []Operation{{"PATCH", "/v2/flavors/{flavor_name}"}}},
	{Name: "ping:get", Check: unprotected, Description: "Simple health check for end user(ping).", Operations: []Operation{{"GET", "/v2/ping"}}},
	{Name: "health:get", Check: roleAdmin, Description: "Detailed health check for cloud operator/admin.", Operations: []Operation{{"GET", "/v2/health"}}},
	{Name: "messages:get_all", Check: unprotected, Description: "List all message in a message queue.", Operations: []Operation{{"GET", "/v2/queues/{queue_name}/messages"}}},
	{Name: "messages:create", Check: unprotected, Description: "Create a message in a message queue.", Operations: []Operation{{"POST", "/v2/queues/{queue_name}/messages"}}},
	{Name: "messages:get", Check: unprotected, Description: "Retrieve a specific message from a message queue.", Operations: []Operation{{"GET", "/v2/queues/{queue_name}/messages/{message_id}"}}},
	{Name: "messages:delete", Check: unprotected, Description: "Delete a specific message from a message queue.", Operations: []Operation{{"DELETE", "/v2/queues/{queue_name}/messages/{message_id}"}}},
	{Name: "messages:delete_all", Check: unprotected, Description: "Delete all messages from a message queue.", Operations: []Operation{{"DELETE", "/v2/queues/{queue_name}/messages"}}},
	{Name: "pools:get_all", Check: roleAdmin, Description: "Lists pools.", Operations: []Operation{{"GET", "/v2/pools"}}},
	{Name: "pools:create", Check: roleAdmin, Description: "Creates a pool.", Operations: []Operation{{"PUT", "/v2/pools/{pool_name}"}}},
	{Name: "pools:get", Check: roleAdmin, Description: "Shows details for a pool.", Operations: []Operation{{"GET", "/v2/pools/{pool_name}"}}},
	{Name: "pools:delete", Check: roleAdmin, Description: "Delete pool.", Operations: []Operation{{"DELETE", "/v2/pools/{pool_name}"}}},
	{Name: "pools:update", Check: roleAdmin, Description: "Update pool.", Operations: []Operation{{"PATCH", "/v2/pools/{pool_name}"}}},
	{Name: "queues:get_all", Check: unprotected, Description: "List all message queues.", Operations: []Operation{{"GET", "/v2/queues"}}},
	{Name: "queues:create", Check: unprotected, Description: "Create a message queue.", Operations: []Operation{{"PUT", "/v2/queues/{queue_name}"}}},
	{Name: "queues:get", Check: unprotected, Description: "Get details about a specific message queue.", Operations: []Operation{{"GET", "/v2/queues/{queue_name}"}}},
	{Name: "queues:delete", Check: unprotected, Description: "Delete a message queue.", Operations: []Operation{{"DELETE", "/v2/queues/{queue_name}"}}},
	{Name: "queues:update", Check: unprotected, Description: "Update a message queue.", Operations: []Operation{{"PATCH", "/v2/queues/{queue_name}"}}},
	{Name: "queues:stats", Check: unprotected, Description: "Get statistics about a specific message queue.", Operations: []Operation{{"GET", "/v2/queues/{queue_name}/stats"}}},
	{Name: "queues:share", Check: unprotected, Description: "Create a pre-signed URL for a given message queue.", Operations: []Operation{{"POST", "/v2/queues/{queue_name}/share"}}},
	{Name: "queues:purge", Check: unprotected, Description: "Purge resources from a particular message queue.", Operations: []Operation{{"POST", "/v2/queues/{queue_name}/purge"}}},
	{Name: "subscription:get_all", Check: unprotected, Description: "Lists a queue subscriptions.", Operations: []Operation{{"GET", "/v2/queues/{queue_name}/subscriptions"}}},
	{Name: "subscription:create", Check: unprotected, Description: "Creates a subscription.", Operations: []Operation{{"POST", "/v2/queues/{queue_name}/subscriptions"}}},
	{Name: "subscription:get", Check: unprotected, Description: "Shows details for a subscription.", Operations: []Operation{{"GET", "/v2/queues/{queue_name}/subscriptions/{subscription_id}"}}},
	{Name: "subscription:delete", Check: unprotected, Description: "Deletes the specified subscription.", Operations: []Operation{{"DELETE", "/v2/queues/{queue_name}/subscriptions/{subscription_id}"}}},
	{Name: "subscription:update", Check: unprotected, Description: "Updates a subscription.", Operations: []Operation{{"PATCH", "/v2/queues/{queue_name}/subscriptions/{subscription_id}"}}},
	{Name: "subscription:confirm", Check: unprotected, Description: "Confirms a subscription.", Operations: []Operation{{"PUT", "/v2/queues/{queue_name}/subscriptions/{subscription_id}/confirm"}}},
	{Name: "topics:get_all", Check: unprotected, Description: "List all topics.", Operations: []Operation{{"GET", "/v2/topics"}}},
	{Name: "topics:create", Check: unprotected, Description: "Create a topic.", Operations: []Operation{{"PUT", "/v2/topics/{topic_name}"}}},
	{Name: "topics:get", Check: unprotected, Description: "Get details about a specific topic.", Operations: []Operation{{"GET", "/v2/topics/{topic_name}"}}},
	{Name: "topics:delete", Check: unprotected, Description: "Delete a topic.", Operations: []Operation{{"DELETE", "/v2/topics/{topic_name}"}}},
	{Name: "topics:update", Check: unprotected, Description: "Update a topic.", Operations: []Operation{{"PATCH", "/v2/topics/{topic_name}"}}},
	{Name: "topics:stats", Check: unprotected, Description: "Get statistics about a specific topic.", Operations: []Operation{{"GET", "/v2/topics/{topic_name}/stats"}}},
	{Name: "topics:purge", Check: unprotected, Description: "Purge resources from a particular topic.", Operations: []Operation{{"POST", "/v2/topic/{topic_name}/purge"}}},
}

// Defaults returns Zaqar's default rules in upstream order. The slice is a
// copy; changing it does not change what Default or Load use.
func Defaults() []DefaultRule {
	out := make([]DefaultRule, len(defaultRules))
	for i, d := range defaultRules {
		d.Operations = append([]Operation(nil), d.Operations...)
		out[i] = d
	}
	return out
}
