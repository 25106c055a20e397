package httpapi

import (
	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/storage"
)

// resource is what a route serves: queues, or topics. Topics are queues
// kept under storage names of their own (storage.TopicKey), so the queue
// handlers serve both; the resource gives them the paths, texts and
// reserved attributes of their kind.
type resource struct {
	collection  string // "queues": the path segment and the listing's key
	singular    string // "queue", in texts
	title       string // "Queue", at the start of texts
	titlePlural string // "Queues"
	topic       bool
	listParams  map[string]bool // query parameters of the listing that are not metadata filters
	reserved    map[string]bool // attributes a GET fills and a PATCH may replace or remove unset
}

var (
	queues = &resource{collection: "queues", singular: "queue", title: "Queue", titlePlural: "Queues",
		listParams: map[string]bool{"limit": true, "marker": true, "detailed": true, "name": true, "with_count": true},
		reserved:   reservedNames}
	// The original's topics fill and reserve three attributes only, and
	// their listing takes no with_count.
	topics = &resource{collection: "topics", singular: "topic", title: "Topic", titlePlural: "Topics", topic: true,
		listParams: map[string]bool{"limit": true, "marker": true, "detailed": true, "name": true},
		reserved: map[string]bool{storage.MetaMaxPostSize: true, storage.MetaDefaultMessageTTL: true,
			storage.MetaDefaultDelay: true}}
)

// storageName is the name the stores know a queue or topic by.
func (r *resource) storageName(name string) string {
	if r.topic && name != "" {
		return storage.TopicKey(name)
	}
	return name
}

// href is the path of one queue or topic.
func (r *resource) href(name string) string { return "/v2/" + r.collection + "/" + name }

// href is the path of the route's queue or topic.
func (rq *request) href() string { return rq.res.href(rq.name) }

// defaults fills the reserved attributes a GET shows.
func (a *API) defaults(r *resource, m storage.Metadata) storage.Metadata {
	if r.topic {
		return a.topicDefaults(m)
	}
	return a.withDefaults(m)
}

// topicRoutes serves /v2/topics as the original does: the queue routes
// but for claims and shares, under the topics:* rules for the topics
// themselves and the messages:* and subscription:* rules below them.
func (a *API) topicRoutes(v func(method, path, name, rule string, h handler)) {
	// The other routes know they serve a topic from their {topic}.
	v("GET", "/v2/topics", "topic_list", "topics:get_all", func(ctx *fasthttp.RequestCtx, rq *request) {
		rq.res = topics
		a.listQueues(ctx, rq)
	})
	v("PUT", "/v2/topics/{topic}", "topic_create", "topics:create", a.createQueue)
	v("GET", "/v2/topics/{topic}", "topic_get", "topics:get", a.getQueue)
	v("PATCH", "/v2/topics/{topic}", "topic_update", "topics:update", a.patchQueue)
	v("DELETE", "/v2/topics/{topic}", "topic_delete", "topics:delete", a.deleteQueue)
	v("GET", "/v2/topics/{topic}/stats", "topic_stats", "topics:stats", a.queueStats)
	v("POST", "/v2/topics/{topic}/purge", "topic_purge", "topics:purge", a.purgeQueue)
	v("POST", "/v2/topics/{topic}/messages", "topic_message_post", "messages:create", a.postMessages)
	v("GET", "/v2/topics/{topic}/messages", "topic_message_list", "messages:get_all", a.listMessages)
	v("DELETE", "/v2/topics/{topic}/messages", "topic_message_delete_many", "messages:delete_all", a.deleteMessages)
	v("GET", "/v2/topics/{topic}/messages/{message}", "topic_message_get", "messages:get", a.getMessage)
	v("DELETE", "/v2/topics/{topic}/messages/{message}", "topic_message_delete", "messages:delete", a.deleteMessage)
	v("POST", "/v2/topics/{topic}/subscriptions", "topic_subscription_create", "subscription:create", a.createSubscription)
	v("GET", "/v2/topics/{topic}/subscriptions", "topic_subscription_list", "subscription:get_all", a.listSubscriptions)
	v("GET", "/v2/topics/{topic}/subscriptions/{subscription}", "topic_subscription_get", "subscription:get", a.getSubscription)
	v("PATCH", "/v2/topics/{topic}/subscriptions/{subscription}", "topic_subscription_update", "subscription:update", a.updateSubscription)
	v("DELETE", "/v2/topics/{topic}/subscriptions/{subscription}", "topic_subscription_delete", "subscription:delete", a.deleteSubscription)
	v("PUT", "/v2/topics/{topic}/subscriptions/{subscription}/confirm", "topic_subscription_confirm", "subscription:confirm", a.confirmSubscription)
}
