package daemon

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
)

// CheckStage is the check stage of a scaled-out Sentinel: it reads the
// partials topic in a group of its own, so that each model, whose shares all
// go to one partition of it, is checked by exactly one process at a time.
type CheckStage struct {
	// Group reads the partials topic.
	Group *ingest.Group
	// Partitions is the partials topic's partition count.
	Partitions int
	// Ensure, when set, makes sure the partials topic exists and returns
	// its partition count; the daemon calls it before reading anything,
	// again while Kafka cannot be reached, and refuses to start on a count
	// other than Partitions.
	Ensure func(ctx context.Context) (int, error)
}

// checkGeneration serves one generation of the check stage's group: the
// checker owns the models of the partitions assigned, each read on its own
// goroutine, until the generation ends. What it leaves unwritten (windows
// not yet complete) is read again from the uncommitted records by the
// models' next owner.
func (d *Daemon) checkGeneration(ctx context.Context, sides *pipeline.Sides, gen *ingest.Generation) {
	cs := d.opts.Check
	var owned []string
	for _, m := range d.opts.Pipeline.Models {
		if slices.Contains(gen.Partitions, ingest.PartitionOf(m.Name(), cs.Partitions)) {
			owned = append(owned, m.Name())
		}
	}
	counts, err := d.opts.Group.PartitionCounts(ctx)
	if err != nil {
		d.log.Warn("reading the events topic's partition count; the check stage waits for the next generation", "err", err)
		<-ctx.Done()
		return
	}
	if err := (sink{d}).send(ctx, request{kind: ownRequest, owned: owned, partitions: counts[d.events()]}); err != nil {
		return
	}
	d.log.Info("check stage generation", "generation", gen.ID, "partitions", gen.Partitions, "models", owned)
	var wg sync.WaitGroup
	wg.Go(func() { d.commitEvery(ctx, gen) })
	read := &partialsRead{next: make(map[int]int64)}
	wg.Go(func() { d.pollPartialsLag(ctx, gen, read) })
	for _, k := range gen.Partitions {
		wg.Go(func() { d.readPartials(ctx, sides, gen, k, read) })
	}
	wg.Wait()
	settle, cancel := d.settleContext()
	defer cancel()
	// The group does not hand the models over until this member rejoins:
	// the windows it checked are stored first, or their next owner, which
	// restores them from the store, would check the next ones against
	// references and a history without them (and check them again).
	if err := d.askChecker(settle, request{kind: settleRequest}); err != nil {
		d.log.Warn("storing the windows checked before the models' next owner restores them", "err", err)
	}
	if err := d.commit(settle, gen); err != nil {
		d.log.Warn("committing the partials topic at the end of a generation; the next owner reads again from the last commit", "partitions", gen.Partitions, "err", err)
	}
}

// readPartials feeds one partition of the partials topic to the checker and
// marks for commit, every CommitEvery, the records it is done with: a share
// once its window is written, a report once read (a later one says more).
func (d *Daemon) readPartials(ctx context.Context, sides *pipeline.Sides, gen *ingest.Generation, k int, read *partialsRead) {
	r := gen.Reader(k)
	defer r.Close()
	done := &doneOffsets{}
	commit := time.NewTicker(d.opts.CommitEvery)
	defer commit.Stop()
	topic := d.opts.Check.Group.Topics()[0]
	// The models whose shares this partition holds: its reports close
	// their windows, and only theirs.
	var lane []string
	for _, m := range d.opts.Pipeline.Models {
		if ingest.PartitionOf(m.Name(), d.opts.Check.Partitions) == k {
			lane = append(lane, m.Name())
		}
	}
	flush := func() {
		if o, ok := done.committable(); ok {
			gen.Mark([]ingest.Message{{Topic: topic, Partition: k, Offset: o}})
		}
	}
	defer flush()
	for {
		select {
		case <-ctx.Done():
			return
		case <-commit.C:
			flush()
		case f, ok := <-r.C():
			if !ok {
				return
			}
			if f.Err != nil {
				d.log.Error("reading the partials topic; the next generation reads it again", "partition", k, "err", f.Err)
				return
			}
			offset := f.Msg.Offset
			read.set(k, offset+1)
			done.add(offset)
			release := func() { done.done(offset) }
			delta, progress, err := sides.ReadRecord(f.Msg.Value, release)
			switch {
			case err != nil:
				d.log.Warn("an unreadable partials record; skipped", "partition", k, "offset", offset, "err", err)
				release()
				err = nil // skipped, not the end of the partition's reading
			case delta != nil:
				err = (sink{d}).send(ctx, request{kind: deliverRequest, delta: delta})
			case progress == nil: // a release, for the profile stage
				release()
			default:
				progress.Only = lane
				err = (sink{d}).send(ctx, request{kind: progressRequest, progress: progress})
				if len(progress.Rejected) == 0 {
					release()
				}
			}
			if err != nil {
				return
			}
		}
	}
}

// partialsRead is, per partition of the partials topic, the offset the check
// stage reads next, for its lag.
type partialsRead struct {
	mu   sync.Mutex
	next map[int]int64
}

func (p *partialsRead) set(k int, next int64) {
	p.mu.Lock()
	p.next[k] = next
	p.mu.Unlock()
}

// pollPartialsLag updates the partials topic's lag over the partitions this
// member checks, as pollLag does the events topic's: the records the check
// stage has still to read, which grow when it falls behind the profile
// stage (too few replicas for the models, or a slow ClickHouse).
func (d *Daemon) pollPartialsLag(ctx context.Context, gen *ingest.Generation, read *partialsRead) {
	topic := d.opts.Check.Group.Topics()[0]
	everyLag(ctx, d.opts.Check.Group, gen.Partitions, func(hwm map[ingest.TopicPartition]int64) {
		var lag int64
		read.mu.Lock()
		for tp, hw := range hwm {
			next, ok := read.next[tp.Partition]
			if !ok {
				next = gen.StartOffset(tp)
			}
			if next >= 0 && hw > next {
				lag += hw - next
			}
		}
		read.mu.Unlock()
		d.metrics.lag.WithLabelValues(topic).Set(float64(lag))
	})
}

// doneOffsets tracks a partition's records from read to done, in any order,
// and says through which offset every one is done.
type doneOffsets struct {
	mu      sync.Mutex
	pending []int64 // read, in order
	isDone  map[int64]bool
	through int64
	any     bool
}

func (o *doneOffsets) add(offset int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending = append(o.pending, offset)
}

func (o *doneOffsets) done(offset int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.isDone == nil {
		o.isDone = make(map[int64]bool)
	}
	o.isDone[offset] = true
	i := 0
	for ; i < len(o.pending) && o.isDone[o.pending[i]]; i++ {
		delete(o.isDone, o.pending[i])
		o.through, o.any = o.pending[i], true
	}
	o.pending = o.pending[i:]
}

// committable is the last offset through which every record is done.
func (o *doneOffsets) committable() (int64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.through, o.any
}
