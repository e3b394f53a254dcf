// Package infer drafts a data contract from a sample of training data, for a person
// to review and commit: types, nullability, category lists as seen, and ranges
// that the sample's extremes do not pin (see bound).
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
	name             string
	values, nulls    uint64
	numeric, boolean bool // every non-null value so far parses as such
	min, max         float64
	categories       map[string]uint64 // occurrences of each value

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
		c := &column{name: string(name), numeric: true, boolean: true, min: math.Inf(1), max: math.Inf(-1), categories: make(map[string]uint64)}
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
	if c.tooManyCategories {
		return
	}
	if n, ok := c.categories[string(s)]; ok {
		c.categories[string(s)] = n + 1
	} else if len(c.categories) >= maxCategories {
		c.tooManyCategories = true
		c.categories = nil
	} else {
		c.categories[string(s)] = 1
	}
}

// bound returns the inferred bound on the side of zero where the sample's
// extreme lies (called with the maximum, and with the negated minimum).
//
// A sample's extremes are no bound: the largest of n values grows with n, so
// healthy traffic passes a training sample's maximum all the time (one value
// in a few thousand, for a sample of a few thousand). Zero is a bound: a sample
// that never crosses it says a physical limit (amounts, counts, ages), and a
// crossing is a real change. On a side the sample does reach, the bound is an
// order of magnitude past its extreme, rounded up to a power of ten, so that it
// reads as a limit for the reviewer to confirm or tighten, not as a
// measurement: a unit error (cents for euros) breaks it, the sample's tail does
// not. Smaller changes of scale are for the drift statistics.
func bound(extreme float64) *float64 {
	if extreme <= 0 {
		return new(0.0)
	}
	exp := math.Ceil(math.Log10(10 * extreme))
	if math.IsInf(exp, 0) {
		return nil
	}
	// Parsed rather than math.Pow: the bound is then exactly the decimal power
	// of ten, and prints as one.
	b, err := strconv.ParseFloat(fmt.Sprintf("1e%d", int(exp)), 64)
	if err != nil {
		return nil // beyond the largest float
	}
	return &b
}

// unknownCategoryRate returns the tolerance for categories the sample did not
// see, or nil when the built-in one suffices.
//
// By Good and Turing, the share of traffic in categories a sample never saw is
// about the share of the sample made of categories seen once. When that is more
// than a quarter of the built-in tolerance, healthy traffic would break the
// category list at a rate near the tolerance itself; the draft then sets four
// times the estimate, rounded up to 1, 2 or 5 × 10^k, so that the unseen tail
// stays well below the tolerance while a new category carrying a real share of
// traffic still breaks it.
func (c *column) unknownCategoryRate() *float64 {
	var once uint64
	for _, n := range c.categories {
		if n == 1 {
			once++
		}
	}
	unseen := float64(once) / float64(c.values)
	if unseen <= config.DefaultMaxUnknownCategoryRate/4 {
		return nil
	}
	r := roundUp125(4 * unseen)
	return &r
}

// roundUp125 returns the least of 1, 2 and 5 × 10^k at or above x, at most 1.
func roundUp125(x float64) float64 {
	exp := math.Floor(math.Log10(x))
	for _, m := range []float64{1, 2, 5, 10} {
		v, _ := strconv.ParseFloat(fmt.Sprintf("%ge%d", m, int(exp)), 64)
		if v >= x {
			return math.Min(v, 1)
		}
	}
	return 1
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
			if f.Min = bound(-c.min); f.Min != nil && *f.Min != 0 {
				*f.Min = -*f.Min
			}
			f.Max = bound(c.max)
		}
	default:
		f.Type = config.Categorical
		if !c.tooManyCategories {
			for k := range c.categories {
				f.Categories = append(f.Categories, k)
			}
			sort.Strings(f.Categories)
			f.MaxUnknownCategoryRate = c.unknownCategoryRate()
		}
	}
	return f
}
