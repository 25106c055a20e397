// Package queuemetrics exports per-queue figures on /metrics, as operators
// know them from SQS's CloudWatch metrics: messages visible, claimed and
// delayed, the age of the oldest message, and messages posted, claimed
// and deleted, labelled by project and queue.
//
// The gauges come from each queue's storage.QueueStats at scrape time, so
// they mean the same for every store; the counters are counted by Store,
// a storage.Store decorator, on the requests that succeed. The label set
// is bounded: only the Limit queues with the most messages get series
// (and PerQueue = false turns them off), while totals over all queues are
// always exported, so thousands of queues cannot make a scrape explode.
package queuemetrics
