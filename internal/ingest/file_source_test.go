package ingest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fetched struct {
	offset  int64
	value   string
	tooLong bool
}

func TestFileSource(t *testing.T) {
	long := strings.Repeat("y", 40)
	tests := []struct {
		name    string
		content string
		max     int
		want    []fetched
	}{
		{"empty file", "", 0, nil},
		{"lines", "{\"a\":1}\n{\"a\":2}\n", 0, []fetched{{1, `{"a":1}`, false}, {2, `{"a":2}`, false}}},
		{"no final newline", "{\"a\":1}\n{\"a\":2}", 0, []fetched{{1, `{"a":1}`, false}, {2, `{"a":2}`, false}}},
		{"blank lines keep numbering", "\n{\"a\":1}\n  \n\n{\"a\":2}\n\n", 0, []fetched{{2, `{"a":1}`, false}, {5, `{"a":2}`, false}}},
		{"CRLF", "{\"a\":1}\r\n{\"a\":2}\r\n", 0, []fetched{{1, `{"a":1}`, false}, {2, `{"a":2}`, false}}},
		{"line of exactly max", "0123456789\n", 10, []fetched{{1, "0123456789", false}}},
		{"CRLF line of exactly max", "0123456789\r\nx\n", 10, []fetched{{1, "0123456789", false}, {2, "x", false}}},
		{"one byte over max", "0123456789a\nx\n", 10, []fetched{{1, "0123456789", true}, {2, "x", false}}},
		{"far over max", "a\n" + long + "\nb\n", 16, []fetched{{1, "a", false}, {2, long[:16], true}, {3, "b", false}}},
		{"over max at end without newline", "a\n" + long, 16, []fetched{{1, "a", false}, {2, long[:16], true}}},
		{"two long lines in a row", long + "\n" + long + "\nok\n", 16, []fetched{{1, long[:16], true}, {2, long[:16], true}, {3, "ok", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "replay.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := NewFileSource(FileSourceOptions{Path: path, MaxLineBytes: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []fetched
			for {
				m, err := s.Fetch(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				var tooLong *LineTooLongError
				if err != nil && !errors.As(err, &tooLong) {
					t.Fatalf("Fetch: %v", err)
				}
				if tooLong != nil && (tooLong.Line != m.Offset || tooLong.File != "replay.jsonl" || !errors.Is(err, ErrLineTooLong)) {
					t.Errorf("error %#v does not match message at line %d", tooLong, m.Offset)
				}
				if m.Topic != "replay.jsonl" || m.Partition != 0 || m.Key != nil {
					t.Errorf("message %+v: want topic replay.jsonl, partition 0, no key", m)
				}
				got = append(got, fetched{m.Offset, string(m.Value), tooLong != nil})
				if len(got) > 100 {
					t.Fatal("no EOF after 100 messages")
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("message %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if err := s.Commit(context.Background(), Message{Offset: 1}); err != nil {
				t.Errorf("Commit: %v", err)
			}
		})
	}
}

func TestFileSourceErrors(t *testing.T) {
	if _, err := NewFileSource(FileSourceOptions{Path: filepath.Join(t.TempDir(), "missing.jsonl")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewFileSource(missing) = %v, want os.ErrNotExist", err)
	}
	if _, err := NewFileSource(FileSourceOptions{Path: "x", MaxLineBytes: -1}); err == nil {
		t.Error("NewFileSource(MaxLineBytes: -1) = nil error")
	}

	path := filepath.Join(t.TempDir(), "a.jsonl")
	if err := os.WriteFile(path, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileSource(FileSourceOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch(cancelled) = %v, want context.Canceled", err)
	}
}
