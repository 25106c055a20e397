package engine

import (
	"errors"
	"log/slog"
	"testing"
)

func pipelineOp() *op { return &op{sig: make(chan opSignal, 2)} }

func acked(o *op) bool {
	select {
	case s := <-o.sig:
		return s == sigDone
	default:
		return false
	}
}

// TestGroupsCompleteInOrder: a later group that wrote nothing, or whose
// sync came first, is not acknowledged before an earlier group is durable:
// its answer may rest on the earlier group's changes.
func TestGroupsCompleteInOrder(t *testing.T) {
	p := &partition{logger: slog.Default(), noFlush: true}
	first, second, third := pipelineOp(), pipelineOp(), pipelineOp()
	c1 := &commit{ops: []*op{first}, recs: []applied{{rec: &record{}}}}
	c2 := &commit{ops: []*op{second}}
	c3 := &commit{ops: []*op{third}, recs: []applied{{rec: &record{}}}}
	for _, c := range []*commit{c1, c2, c3} {
		p.enqueue(c)
	}
	p.settle(c2, true, true, nil) // wrote nothing
	p.settle(c3, true, true, nil) // placed and synced before c1
	p.settle(c1, true, false, nil)
	if acked(first) || acked(second) || acked(third) {
		t.Fatal("acknowledged before the first group was durable")
	}
	p.settle(c1, false, true, nil)
	for i, o := range []*op{first, second, third} {
		if !acked(o) || o.err != nil {
			t.Fatalf("op %d: acked=%v err=%v", i+1, !acked(o), o.err)
		}
	}
	if len(p.pipe) != 0 {
		t.Fatalf("%d groups left in the pipeline", len(p.pipe))
	}
}

// TestGroupNotAckedBeforeBodiesPlaced: a sync can be reported before the
// writer has pointed the entries at the log; until then the bodies are the
// callers' buffers, so the group must wait.
func TestGroupNotAckedBeforeBodiesPlaced(t *testing.T) {
	p := &partition{logger: slog.Default(), noFlush: true}
	o := pipelineOp()
	c := &commit{ops: []*op{o}, recs: []applied{{rec: &record{}}}}
	p.enqueue(c)
	p.settle(c, false, true, nil)
	if acked(o) {
		t.Fatal("acknowledged before the bodies were placed")
	}
	p.settle(c, true, false, nil)
	if !acked(o) {
		t.Fatal("not acknowledged once placed and synced")
	}
}

// TestFailedSyncFailsGroupAndPartition: a group whose sync failed answers
// unavailable, and the partition takes no more work.
func TestFailedSyncFailsGroupAndPartition(t *testing.T) {
	p := &partition{logger: slog.Default(), noFlush: true}
	o := pipelineOp()
	c := &commit{ops: []*op{o}, recs: []applied{{rec: &record{}}}}
	p.enqueue(c)
	p.settle(c, true, true, errors.New("disk gone"))
	if !acked(o) || o.err == nil {
		t.Fatalf("acked=%v err=%v", acked(o), o.err)
	}
	if p.broken.Load() == nil {
		t.Fatal("partition not marked broken")
	}
}
