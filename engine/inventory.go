package engine

// EachQueue calls fn for every existing queue of every project, in no
// particular order, until fn returns false. It costs O(queues on the
// node) and takes no lock a request waits for; queues created or deleted
// meanwhile may or may not be seen. Operators' tools use it (per-queue
// metrics), not the API.
func (e *Engine) EachQueue(fn func(project, queue string) bool) {
	for _, p := range e.parts {
		more := true
		p.queues.Range(func(_, v any) bool {
			q := v.(*queue)
			if q.meta.Load() == nil {
				return true
			}
			more = fn(q.project, q.name)
			return more
		})
		if !more {
			return
		}
	}
}
