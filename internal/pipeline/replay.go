package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sentinel-ml/sentinel/internal/ingest"
)

// Replay feeds every message of src through p in order, then closes the windows
// left open. An over-long line arrives truncated and is rejected as oversized.
func Replay(ctx context.Context, src ingest.Source, p *Pipeline) error {
	var tooLong *ingest.LineTooLongError
	for {
		msg, err := src.Fetch(ctx)
		switch {
		case err == nil, errors.As(err, &tooLong):
		case errors.Is(err, io.EOF):
			if err := p.Flush(ctx); err != nil {
				return fmt.Errorf("closing the last windows: %w", err)
			}
			return nil
		default:
			return fmt.Errorf("reading input: %w", err)
		}
		if err := p.Process(ctx, msg); err != nil {
			return err
		}
	}
}
