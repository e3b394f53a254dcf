// Package ingest moves messages in and out of Kafka: a consumer-group source whose
// offsets are committed only when the pipeline says the results are durable, a
// dead-letter producer for rejected messages, and a file source for replay.
package ingest

import (
	"context"
	"time"
)

// Message is one record from a topic. Key and Value are only valid until the next
// Fetch if the source says so in its documentation; the pipeline copies what it keeps.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	// Time is the broker's timestamp (not the event time inside the value).
	Time time.Time
}

// Source delivers messages in partition order: a recording played back (replay).
type Source interface {
	// Fetch blocks until the next message, ctx is done, or the source fails.
	Fetch(ctx context.Context) (Message, error)
	// Commit marks everything up to and including each message's offset, in its
	// partition, as processed. The pipeline calls it only once the windows that hold
	// those messages are durably written.
	Commit(ctx context.Context, msgs ...Message) error
	Close() error
}

// DeadLetters receives messages the pipeline rejects. Reason is a short
// machine-readable word (e.g. "invalid_json", "unknown_model"); detail is a
// human-readable sentence. Both travel as headers, the original value
// unchanged. Enqueue hands a message over without waiting for the network, so
// that a stream of garbage is dead-lettered at the rate it arrives; the
// offsets Pending reports must not be committed until their dead letters are
// durable.
type DeadLetters interface {
	Enqueue(ctx context.Context, msg Message, reason, detail string) error
	// Pending returns the lowest offset of a source partition whose dead
	// letter is not yet durable; ok is false when there is none.
	Pending(topic string, partition int) (offset int64, ok bool)
	// Flush waits until every dead letter enqueued before it is durable.
	Flush(ctx context.Context) error
	Close() error
}
