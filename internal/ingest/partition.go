package ingest

import "fmt"

// TopicPartition identifies a partition of a topic: where a message came from,
// what offsets are tracked and committed by.
type TopicPartition struct {
	Topic     string
	Partition int
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// TopicPartition is where the message came from.
func (m *Message) TopicPartition() TopicPartition { return TopicPartition{m.Topic, m.Partition} }
