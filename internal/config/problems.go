package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong in a configuration file, said in the file's own
// terms: the line, the YAML path of the key and what is wrong with its value.
// Go type names never appear: the reader wrote YAML, not Go.
type Problem struct {
	// Line is 1-based; 0 when the problem has no place in the file (a required
	// key that is absent).
	Line int
	// Field is the path of the key, as in features[1] (age).max_null_rate; empty
	// for the file as a whole.
	Field string
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one file. Its message lists them one per
// line, each starting with the file's name, so that each line of a CI log can be
// read alone.
type Problems struct {
	File string
	List []Problem
}

func (e *Problems) Error() string {
	var b strings.Builder
	for i, p := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// problemList collects problems; its err is nil when there are none.
type problemList []Problem

func (l *problemList) add(field, format string, args ...any) {
	*l = append(*l, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (l problemList) err() error {
	if len(l) == 0 {
		return nil
	}
	return &Problems{List: l}
}

// locate gives each problem the line of its field, or of the nearest enclosing
// key that the file has, and names the file.
func locate(err error, file string, lines lineIndex) error {
	p, ok := err.(*Problems)
	if !ok {
		return err
	}
	p.File = file
	for i := range p.List {
		if p.List[i].Line == 0 {
			p.List[i].Line = lines.find(p.List[i].Field)
		}
	}
	// In the order of the file, as a reader fixes them; problems without a line
	// (a required key that is absent) first.
	slices.SortStableFunc(p.List, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return p
}

// lineIndex maps YAML paths to the line where each key or list item starts.
type lineIndex map[string]int

// find returns the line of path, or of its nearest ancestor in the file, or 0.
func (ix lineIndex) find(path string) int {
	for path != "" {
		if line, ok := ix[path]; ok {
			return line
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			return 0
		}
		path = path[:cut]
	}
	return 0
}
