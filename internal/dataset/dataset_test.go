package dataset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/event"
)

// row is a record as the tests compare it: cells as strings, "<null>" for nulls.
type row struct {
	line  int
	cells []string
	extra int
	err   string // RowError reason
}

func readAll(t *testing.T, r Reader) []row {
	t.Helper()
	var out []row
	var rec Record
	for {
		err := r.Next(&rec)
		var rowErr *RowError
		switch {
		case errors.Is(err, io.EOF):
			return out
		case errors.As(err, &rowErr):
			out = append(out, row{line: rowErr.Line, err: rowErr.Reason})
			continue
		case err != nil:
			t.Fatal(err)
		}
		rw := row{line: rec.Line, extra: rec.Extra}
		for _, f := range rec.Fields {
			rw.cells = append(rw.cells, show(f))
		}
		out = append(out, rw)
	}
}

func show(f event.Field) string {
	prefix := ""
	if f.Name != nil {
		prefix = string(f.Name) + "="
	}
	switch f.Value.Kind {
	case event.KindNull:
		return prefix + "<null>"
	case event.KindString:
		return prefix + string(f.Value.Str)
	default:
		return prefix + f.Value.Kind.String()
	}
}

func TestCSV(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		header []string
		rows   []row
	}{
		{"plain", "a,b\n1,2\n3,4\n", []string{"a", "b"},
			[]row{{line: 2, cells: []string{"a=1", "b=2"}}, {line: 3, cells: []string{"a=3", "b=4"}}}},
		{"no final newline and CRLF", "a,b\r\n1,2\r\n3,4", []string{"a", "b"},
			[]row{{line: 2, cells: []string{"a=1", "b=2"}}, {line: 3, cells: []string{"a=3", "b=4"}}}},
		{"empty and quoted empty cells are null", "a,b\n,\"\"\n", []string{"a", "b"},
			[]row{{line: 2, cells: []string{"a=<null>", "b=<null>"}}}},
		{"quotes, commas and newlines in cells", "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n\"multi\nline\",z\n5,6\n", []string{"a", "b"},
			[]row{{line: 2, cells: []string{"a=x,y", `b=say "hi"`}}, {line: 3, cells: []string{"a=multi\nline", "b=z"}},
				{line: 5, cells: []string{"a=5", "b=6"}}}},
		{"short and long rows", "a,b\n1\n1,2,3,4\n", []string{"a", "b"},
			[]row{{line: 2, cells: []string{"a=1"}}, {line: 3, cells: []string{"a=1", "b=2"}, extra: 2}}},
		{"byte order mark and spaces in header", "\ufeff a ,b\n1,2\n", []string{"a", "b"},
			[]row{{line: 2, cells: []string{"a=1", "b=2"}}}},
		{"malformed quote is a row error", "a\n\"x\"y\n2\n", []string{"a"},
			[]row{{line: 2, err: "malformed_csv"}, {line: 3, cells: []string{"a=2"}}}},
		{"blank line in a one-column file is a null", "a\n1\n\n2\n", []string{"a"},
			[]row{{line: 2, cells: []string{"a=1"}}, {line: 3, cells: []string{"a=<null>"}}, {line: 4, cells: []string{"a=2"}}}},
		{"header only", "a,b\n", []string{"a", "b"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewCSV(strings.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(r.Columns(), "|") != strings.Join(tc.header, "|") {
				t.Errorf("header %q, want %q", r.Columns(), tc.header)
			}
			got := readAll(t, r)
			if len(got) != len(tc.rows) {
				t.Fatalf("rows %+v, want %+v", got, tc.rows)
			}
			for i := range got {
				if got[i].line != tc.rows[i].line || got[i].err != tc.rows[i].err || got[i].extra != tc.rows[i].extra ||
					strings.Join(got[i].cells, "|") != strings.Join(tc.rows[i].cells, "|") {
					t.Errorf("row %d = %+v, want %+v", i, got[i], tc.rows[i])
				}
			}
		})
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	for input, want := range map[string]string{
		"":        "EOF",
		"a,,b\n":  "header column 2 has no name",
		"a,b,a\n": `header names column "a" twice`,
		"\"a\n":   "reading header",
	} {
		_, err := NewCSV(strings.NewReader(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewCSV(%q) error %v, want %q", input, err, want)
		}
	}
}

func TestCSVTooLong(t *testing.T) {
	input := "a\n" + strings.Repeat("x", MaxRecordBytes+10) + "\n1\n"
	r, err := NewCSV(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	if len(got) != 2 || got[0].err != "too_long" || got[0].line != 2 || got[1].line != 3 {
		t.Errorf("rows %+v, want a too_long error on line 2, then line 3", got)
	}
}

func TestJSONL(t *testing.T) {
	input := `{"a": 1, "b": "x"}

{"model": "m", "features": {"a": null, "b": "y"}, "prediction": 0.5}
not json
{"a": NaN}
`
	got := readAll(t, NewJSONL(strings.NewReader(input)))
	want := []row{
		{line: 1, cells: []string{"a=number", "b=x"}},
		{line: 3, cells: []string{"a=<null>", "b=y"}},
		{line: 4, err: "not_object"},
		{line: 5, cells: []string{"a=number"}},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].line != want[i].line || got[i].err != want[i].err || strings.Join(got[i].cells, "|") != strings.Join(want[i].cells, "|") {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for path, want := range map[string]string{
		write("empty.csv", ""):       "file is empty",
		write("data.parquet", "x"):   `unknown file type ".parquet"`,
		filepath.Join(dir, "no.csv"): "no such file",
		dir + "/":                    "unknown file type",
	} {
		f, err := Open(path)
		if err == nil {
			f.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s) error %v, want %q", path, err, want)
		}
	}
	f, err := Open(write("ok.jsonl", "{\"a\": 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if rows := readAll(t, f); len(rows) != 1 {
		t.Errorf("rows %+v, want one", rows)
	}
}

// FuzzCSV holds the reader to encoding/csv on the inputs both read the same way
// (encoding/csv skips blank lines and rewrites \r\n inside quotes, so those are
// left out), and to never panicking on any input.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a\n\"x\"\"y\"\n", "a,b\n\"1\n2\",3\n", "a\n\"unterminated\n", "h\n\"a\"b\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		r, err := NewCSV(strings.NewReader(input))
		if err != nil {
			return
		}
		var rec Record
		var ours [][]string
		ours = append(ours, r.Columns())
		ok := true
		for {
			err := r.Next(&rec)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				ok = false
				continue
			}
			var cells []string
			for _, f := range rec.Fields {
				cells = append(cells, string(f.Value.Str))
			}
			for i := 0; i < rec.Extra; i++ {
				cells = append(cells, "<extra>")
			}
			ours = append(ours, cells)
		}
		if !ok || strings.Contains(input, "\r") || strings.Contains(input, "\n\n") || strings.HasPrefix(input, "\n") ||
			strings.HasPrefix(input, "\ufeff") || strings.ContainsAny(input, " \t") {
			return
		}
		cr := csv.NewReader(bytes.NewReader([]byte(input)))
		cr.FieldsPerRecord = -1
		theirs, err := cr.ReadAll()
		if err != nil || len(theirs) != len(ours) {
			return
		}
		for i := 1; i < len(theirs); i++ {
			for j, cell := range ours[i] {
				if cell == "<extra>" || j >= len(theirs[i]) {
					continue
				}
				if cell != theirs[i][j] {
					t.Fatalf("row %d cell %d: %q, encoding/csv %q", i, j, cell, theirs[i][j])
				}
			}
		}
	})
}
