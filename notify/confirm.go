package notify

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/zaqar-go/zaqar/notify/policy"
	"github.com/zaqar-go/zaqar/signedurl"
	"github.com/zaqar-go/zaqar/storage"
)

// EmailTemplate is Zaqar's confirmation mail template: {0} is the queue,
// {1} the project, {2} the confirmation link.
type EmailTemplate struct{ Topic, Body, Sender string }

var (
	confirmTemplate = EmailTemplate{
		Topic:  "Zaqar Notification - Subscription Confirmation",
		Body:   "You have chosen to subscribe to the queue: {0}. This queue belongs to project: {1}. To confirm this subscription, click or visit this link below: {2}",
		Sender: "Zaqar Notifications <no-reply@openstack.org>",
	}
	unsubscribeTemplate = EmailTemplate{
		Topic:  "Zaqar Notification - Unsubscribe Confirmation",
		Body:   "You have unsubscribed successfully to the queue: {0}. This queue belongs to project: {1}. To resubscribe this subscription, click or visit this link below: {2}",
		Sender: "Zaqar Notifications <no-reply@openstack.org>",
	}
)

// CreateSubscription stores the subscription and, with
// require_confirmation, sends the confirmation request to a new (or a
// re-subscribing, still unconfirmed) subscriber.
func (n *Notifier) CreateSubscription(ctx context.Context, project, queue string, ns storage.NewSubscription) (storage.Subscription, bool, error) {
	sub, created, err := n.Store.CreateSubscription(ctx, project, queue, ns)
	if err == nil && n.o.RequireConfirmation && !sub.Confirmed {
		n.sendConfirmation(project, queue, sub, false)
	}
	return sub, created, err
}

// ConfirmSubscription records the answer; confirmed=false also sends the
// "unsubscribed" notice, as Zaqar does.
func (n *Notifier) ConfirmSubscription(ctx context.Context, project, queue, id string, confirmed bool) error {
	if err := n.Store.ConfirmSubscription(ctx, project, queue, id, confirmed); err != nil {
		return err
	}
	if n.o.RequireConfirmation && !confirmed {
		if sub, err := n.Store.GetSubscription(ctx, project, queue, id); err == nil {
			n.sendConfirmation(project, queue, sub, true)
		}
	}
	return nil
}

// sendConfirmation queues the (un)subscribe notice with a pre-signed URL
// for PUT .../confirm valid for the subscription's lifetime.
func (n *Notifier) sendConfirmation(project, queue string, sub storage.Subscription, unsubscribed bool) {
	if n.o.SecretKey == "" {
		n.log.Error("cannot send a subscription confirmation: [signed_url] secret_key is not set", "subscription", sub.ID)
		return
	}
	name, kind := storage.PublicName(queue), "queue"
	if storage.IsTopicKey(queue) {
		kind = "topic"
	}
	path := "/v2/" + storage.Collection(queue) + "/" + name + "/subscriptions/" + sub.ID + "/confirm"
	expires := sub.Expires
	if expires.IsZero() {
		expires = time.Now().Add(time.Duration(sub.TTL) * time.Second)
	}
	signed := signedurl.Sign(n.o.SecretKey, []string{path}, []string{"PUT"}, project, expires)
	msgType, text := "SubscriptionConfirmation", "You have chosen to subscribe to the "+kind+": "+name
	if unsubscribed {
		msgType = "UnsubscribeConfirmation"
		text = "You have unsubscribed successfully to the " + kind + ": " + name + ", you can resubscribe it by using confirmed=True."
	}
	doc := map[string]any{
		"Message_Type": msgType, "Message": text, "queue_name": name,
		"URL-Signature": signed.Signature, "URL-Methods": "PUT", "URL-Paths": path,
		"X-Project-ID": project, "URL-Expires": signed.Expires.Format(signedurl.ExpiresFormat),
		"SubscribeBody": map[string]bool{"confirmed": true}, "UnsubscribeBody": map[string]bool{"confirmed": false},
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		n.log.Warn("cannot encode a subscription confirmation", "subscription", sub.ID, "err", err)
		return
	}
	d, err := n.newDelivery(project, queue, &sub, raw, policy.Choose(sub.Options[storage.MetaRetryPolicy], nil))
	if err != nil {
		n.log.Warn("cannot send a subscription confirmation", "subscription", sub.ID, "err", err)
		return
	}
	if d.kind == "email" {
		tmpl := confirmTemplate
		if unsubscribed {
			tmpl = unsubscribeTemplate
		}
		if n.o.ExternalConfirmationURL == "" {
			n.log.Error("cannot mail a subscription confirmation: [notification] external_confirmation_url is not set", "subscription", sub.ID)
			return
		}
		q := "?Signature=" + signed.Signature + "&Methods=PUT&Paths=" + path + "&Project=" + project +
			"&Expires=" + url.QueryEscape(signed.Expires.Format(signedurl.ExpiresFormat)) + "&Url=&Queue=" + name
		body := strings.NewReplacer("{0}", name, "{1}", project, "{2}", n.o.ExternalConfirmationURL+q).Replace(tmpl.Body)
		d.body, d.subject, d.from = []byte(body), tmpl.Topic, tmpl.Sender
	}
	n.submit(task{payload: d})
}
