// Package policy is Zaqar's webhook retry policy (_retry_policy): its
// validation, the choice between subscription and queue policies, and the
// delays between attempts.
package policy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

// Zaqar's retry defaults (zaqar/common/consts.py).
const (
	defaultRetriesWithNoDelay  = 3
	defaultMinimumDelayRetries = 3
	defaultMinimumDelay        = 5
	defaultMaximumDelay        = 30
	defaultMaximumDelayRetries = 3
	linearInterval             = 5
)

// Policy is a webhook retry policy (_retry_policy), in seconds.
type Policy struct {
	RetriesWithNoDelay         int64
	MinimumDelayRetries        int64
	MinimumDelay               int64
	MaximumDelay               int64
	MaximumDelayRetries        int64
	BackoffFunction            string
	IgnoreSubscriptionOverride bool
}

// Default is Zaqar's.
func Default() Policy {
	return Policy{RetriesWithNoDelay: defaultRetriesWithNoDelay, MinimumDelayRetries: defaultMinimumDelayRetries,
		MinimumDelay: defaultMinimumDelay, MaximumDelay: defaultMaximumDelay,
		MaximumDelayRetries: defaultMaximumDelayRetries, BackoffFunction: "linear"}
}

// Parse reads a _retry_policy object over the defaults and checks it
// as Zaqar's validation does.
func Parse(v any) (Policy, error) {
	p := Default()
	m, ok := v.(map[string]any)
	if !ok {
		if md, isMeta := v.(storage.Metadata); isMeta {
			m = md
		} else {
			return p, errors.New("_retry_policy must be an object")
		}
	}
	meta := storage.Metadata(m)
	for name, dst := range map[string]*int64{
		"retries_with_no_delay": &p.RetriesWithNoDelay, "minimum_delay_retries": &p.MinimumDelayRetries,
		"minimum_delay": &p.MinimumDelay, "maximum_delay": &p.MaximumDelay, "maximum_delay_retries": &p.MaximumDelayRetries,
	} {
		if _, present := m[name]; !present {
			continue
		}
		n, ok := meta.Int(name)
		if !ok || n < 0 || n > 86400 {
			return p, fmt.Errorf("The value of %s must be an integer from 0 to 86400.", name)
		}
		*dst = n
	}
	if f, present := m["retry_backoff_function"]; present {
		s, ok := f.(string)
		if !ok || (s != "linear" && s != "arithmetic" && s != "geometric" && s != "exponential") {
			return p, errors.New("The value of retry_backoff_function must be one of linear, arithmetic, geometric, exponential.")
		}
		p.BackoffFunction = s
	}
	if b, present := m["ignore_subscription_override"]; present {
		v, ok := b.(bool)
		if !ok {
			return p, errors.New("The value of ignore_subscription_override must be a boolean.")
		}
		p.IgnoreSubscriptionOverride = v
	}
	if p.MaximumDelay < p.MinimumDelay || p.MaximumDelay-p.MinimumDelay < 2*linearInterval {
		return p, errors.New("The maximum_delay must be at least 10 seconds greater than minimum_delay.")
	}
	return p, nil
}

// Choose picks between the subscription's and the queue's policy as
// Zaqar does: the queue wins when either sets ignore_subscription_override.
func Choose(sub, queue any) Policy {
	sp, sErr := Parse(sub)
	qp, qErr := Parse(queue)
	switch {
	case (sErr == nil && sp.IgnoreSubscriptionOverride) || (qErr == nil && qp.IgnoreSubscriptionOverride):
		if qErr == nil {
			return qp
		}
		return Default()
	case sErr == nil && sub != nil:
		return sp
	case qErr == nil && queue != nil:
		return qp
	}
	return Default()
}

// Delays lists the wait before each retry after a failed first attempt:
// immediate retries, then minimum_delay retries, then the backoff
// function's steps, then maximum_delay retries.
func (p Policy) Delays() []time.Duration {
	var out []time.Duration
	add := func(n int64, secs int64) {
		for i := int64(0); i < n; i++ {
			out = append(out, time.Duration(secs)*time.Second)
		}
	}
	add(p.RetriesWithNoDelay, 0)
	add(p.MinimumDelayRetries, p.MinimumDelay)
	for _, s := range backoff(p.BackoffFunction, p.MinimumDelay, p.MaximumDelay) {
		out = append(out, time.Duration(s)*time.Second)
	}
	add(p.MaximumDelayRetries, p.MaximumDelay)
	return out
}

// backoff reproduces zaqar/notification/tasks/webhook.py's functions,
// float arithmetic included, so the same policy waits the same seconds.
func backoff(fn string, minD, maxD int64) []int64 {
	if fn == "linear" || fn == "" {
		var out []int64
		for s := minD; s < maxD; s += linearInterval {
			out = append(out, s)
		}
		return out
	}
	xMax := (maxD - minD) / linearInterval
	if xMax < 2 || minD <= 0 {
		return nil
	}
	out := make([]int64, 0, xMax)
	switch fn {
	case "arithmetic":
		d := 2.0 * float64(maxD-minD) / float64(xMax*(xMax-1))
		for a := int64(1); a <= xMax; a++ {
			out = append(out, int64(float64(minD)+float64((a-1)*a)*d/2))
		}
	case "geometric", "exponential":
		k := math.Pow(10, math.Log10(float64(maxD)/float64(minD))/float64(xMax-1))
		for a := int64(1); a <= xMax; a++ {
			if fn == "geometric" {
				out = append(out, int64(float64(minD)*math.Pow(k, float64(a-1))))
			} else {
				out = append(out, int64(float64(minD)/k*math.Pow(k, float64(a))))
			}
		}
	}
	return out
}
