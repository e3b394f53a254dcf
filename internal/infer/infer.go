// Package infer drafts a data contract from a sample of training data, for a person
// to review and commit: types, nullability, ranges and category lists as seen.
package infer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/event"
)

// column is what has been seen of one column.
type column struct {
	name              string
	values, nulls     uint64
	numeric, boolean  bool // every non-null value so far parses as such
	min, max          float64
	categories        map[string]bool
	tooManyCategories bool
}

// Contract reads r and drafts a contract for model. Columns with more than
// maxCategories distinct values get no category list.
func Contract(ctx context.Context, model string, r dataset.Reader, maxCategories int) (*config.Contract, error) {
	var cols []*column
	byName := make(map[string]*column)
	get := func(name []byte) *column {
		if c, ok := byName[string(name)]; ok {
			return c
		}
		c := &column{name: string(name), numeric: true, boolean: true, min: math.Inf(1), max: math.Inf(-1), categories: make(map[string]bool)}
		byName[c.name] = c
		cols = append(cols, c)
		return c
	}
	for _, name := range r.Columns() {
		get([]byte(name))
	}
	var rec dataset.Record
	rows := 0
	for ; ; rows++ {
		if rows%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		err := r.Next(&rec)
		var rowErr *dataset.RowError
		if errors.As(err, &rowErr) {
			return nil, fmt.Errorf("cannot infer a contract from unreadable input: %w", err)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		for _, f := range rec.Fields {
			get(f.Name).add(f.Value, rec.Text, maxCategories)
		}
	}
	if rows == 0 {
		return nil, errors.New("no rows to infer a contract from")
	}
	c := &config.Contract{Model: model}
	for _, col := range cols {
		c.Features = append(c.Features, col.feature())
	}
	return c, nil
}

func (c *column) add(v event.Value, text bool, maxCategories int) {
	var s []byte
	switch v.Kind {
	case event.KindNull:
		c.nulls++
		return
	case event.KindNumber:
		c.boolean = false
		c.number(v.Num)
		s = []byte(fmt.Sprint(v.Num))
	case event.KindBool:
		c.numeric = false
		s = []byte(fmt.Sprint(v.Bool))
	case event.KindString:
		s = v.Str
		if !text {
			c.numeric, c.boolean = false, false
			break
		}
		if c.boolean && !(bytes.EqualFold(s, []byte("true")) || bytes.EqualFold(s, []byte("false"))) {
			c.boolean = false
		}
		if c.numeric {
			// strconv reads NaN, Inf and -Inf too, which stay numeric.
			if x, err := strconv.ParseFloat(string(s), 64); err == nil {
				c.number(x)
			} else {
				c.numeric = false
			}
		}
	default:
		c.numeric, c.boolean = false, false
		return
	}
	c.values++
	if !c.tooManyCategories && !c.categories[string(s)] {
		if len(c.categories) >= maxCategories {
			c.tooManyCategories = true
			c.categories = nil
		} else {
			c.categories[string(s)] = true
		}
	}
}

func (c *column) number(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	c.min = math.Min(c.min, x)
	c.max = math.Max(c.max, x)
}

func (c *column) feature() config.Feature {
	f := config.Feature{Name: c.name, Nullable: c.nulls > 0}
	switch {
	case c.values == 0:
		// Only nulls: nothing says what the values would be.
		f.Type = config.Categorical
	case c.boolean:
		f.Type = config.Boolean
	case c.numeric:
		f.Type = config.Numeric
		if !math.IsInf(c.min, 0) {
			lo, hi := c.min, c.max
			f.Min, f.Max = &lo, &hi
		}
	default:
		f.Type = config.Categorical
		if !c.tooManyCategories {
			for k := range c.categories {
				f.Categories = append(f.Categories, k)
			}
			sort.Strings(f.Categories)
		}
	}
	return f
}
