package dataset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	out, err := readRows(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readRows reads r to its end; the error is what ended it, other than io.EOF.
func readRows(r Reader) ([]row, error) {
	var out []row
	var rec Record
	for {
		err := r.Next(&rec)
		var rowErr *RowError
		switch {
		case errors.Is(err, io.EOF):
			return out, nil
		case errors.As(err, &rowErr):
			out = append(out, row{line: rowErr.Line, err: rowErr.Reason})
			continue
		case err != nil:
			return out, err
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
// left out), and on every input to ending, with rows in the order of their lines
// and unreadable rows counted as the reader reports them.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a\n\"x\"\"y\"\n", "a,b\n\"1\n2\",3\n", "a\n\"unterminated\n", "h\n\"a\"b\n",
		"a,b\n1,2\n\"3,4\n5,6\n7,\"8\"\n", "a,b\n1,\"x\ny\"\n\"\n", "a\n1\n\"\n\"\"\n2\n"} {
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
		ok, last, rows := true, 1, uint64(0)
		for {
			err := r.Next(&rec)
			if errors.Is(err, io.EOF) {
				break
			}
			var rowErr *RowError
			if err != nil && !errors.As(err, &rowErr) {
				var mostly *MostlyUnreadableError
				if !errors.As(err, &mostly) || 2*mostly.UnreadableRows <= mostly.Rows {
					t.Fatalf("fatal error %v on an in-memory input", err)
				}
				ok = false
				break
			}
			rows++
			line := rec.Line
			if err != nil {
				ok = false
				line = rowErr.Line
			}
			if line <= last {
				t.Fatalf("row at line %d after line %d", line, last)
			}
			last = line
			if err != nil {
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
		var bad uint64
		for _, u := range r.Unreadable() {
			bad += u.Count
			if len(u.Lines) == 0 || len(u.Lines) > FirstLines || !slices.IsSorted(u.Lines) {
				t.Fatalf("unreadable %+v", u)
			}
		}
		if bad+uint64(len(ours)-1) != rows {
			t.Fatalf("%d rows read, %d unreadable and %d readable", rows, bad, len(ours)-1)
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

// FuzzJSONL: on any input the reader ends, reports rows in the order of their
// lines and counts every unreadable line.
func FuzzJSONL(f *testing.F) {
	for _, s := range []string{"{\"a\": 1}\n", "{\"a\": NaN, \"b\": \"x\"}\n\nnot json\n{\"a\": 2}\n",
		`{"model": "m", "features": {"a": null}}` + "\n", "{\"a\":\n", "[1, 2]\n{}\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		r := NewJSONL(strings.NewReader(input))
		rows, err := readRows(r)
		var mostly *MostlyUnreadableError
		if err != nil && !errors.As(err, &mostly) {
			t.Fatalf("fatal error %v on an in-memory input", err)
		}
		last, bad := 0, 0
		for _, rw := range rows {
			if rw.line <= last {
				t.Fatalf("row at line %d after line %d", rw.line, last)
			}
			last = rw.line
			if rw.err != "" {
				bad++
			}
		}
		var counted uint64
		for _, u := range r.Unreadable() {
			counted += u.Count
		}
		if counted != uint64(bad) {
			t.Fatalf("%d unreadable rows seen, %d counted", bad, counted)
		}
		if (mostly != nil) != (2*bad > len(rows)) {
			t.Fatalf("%d of %d rows unreadable, error %v", bad, len(rows), err)
		}
	})
}

// TestCSVRecovers: a stray quote costs its own line, not the rest of the file
// (#13.4: one stray quote on line 12 of 5,001 read as 10 rows).
func TestCSVRecovers(t *testing.T) {
	rows := func(from, to int) string {
		var b strings.Builder
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "%d,x%d\n", i, i)
		}
		return b.String()
	}
	tests := []struct {
		name  string
		input string
		want  []row // unreadable rows and a few readable ones; the rest are counted
		count int
	}{
		{"stray quote on line 12 of 5,001", "a,b\n" + rows(2, 11) + "\"12,x12\n" + rows(13, 5001),
			[]row{{line: 12, err: "malformed_csv"}, {line: 13, cells: []string{"a=13", "b=x13"}}}, 5000},
		{"stray quote, then a quoted cell that closes it badly", "a,b\n\"2,x\n3,\"y\"\n4,z\n",
			[]row{{line: 2, err: "malformed_csv"}, {line: 3, cells: []string{"a=3", "b=y"}}, {line: 4, cells: []string{"a=4", "b=z"}}}, 3},
		{"a closing quote that leaves too many cells", "a,b\n\"2,x\n3\",4,5\n6,z\n",
			[]row{{line: 2, err: "malformed_csv"}, {line: 3, cells: []string{"a=3\"", "b=4"}}, {line: 4, cells: []string{"a=6", "b=z"}}}, 3},
		{"a multi-line cell with the header's cells is a value", "a,b\n\"2\nand more\",x\n4,z\n",
			[]row{{line: 2, cells: []string{"a=2\nand more", "b=x"}}, {line: 4, cells: []string{"a=4", "b=z"}}}, 2},
		{"a quote inside an unquoted cell is a character", "a,b\n5'11\",x\n3,y\n",
			[]row{{line: 2, cells: []string{"a=5'11\"", "b=x"}}, {line: 3, cells: []string{"a=3", "b=y"}}}, 2},
		{"no line end after the damage", "a,b\n1,x\n\"2,y\n3,z",
			[]row{{line: 2, cells: []string{"a=1", "b=x"}}, {line: 3, err: "malformed_csv"}, {line: 4, cells: []string{"a=3", "b=z"}}}, 3},
		{"a quoted cell open for more than MaxQuotedLines", "a,b\n1,\"" + strings.Repeat("x\n", MaxQuotedLines+5) + "\",y\n",
			[]row{{line: 2, err: "malformed_csv"}, {line: 3, cells: []string{"a=x"}}}, MaxQuotedLines + 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewCSV(strings.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, r)
			if len(got) != tc.count {
				t.Errorf("%d rows, want %d", len(got), tc.count)
			}
			byLine := map[int]row{}
			for _, g := range got {
				byLine[g.line] = g
			}
			for _, w := range tc.want {
				g := byLine[w.line]
				if g.err != w.err || strings.Join(g.cells, "|") != strings.Join(w.cells, "|") {
					t.Errorf("line %d = %+v, want %+v", w.line, g, w)
				}
			}
		})
	}
}

// TestCSVTooLongWhileJoining: a too-long line met while a quoted cell is open
// ends the join; it is reported after the lines given back, in file order.
func TestCSVTooLongWhileJoining(t *testing.T) {
	input := "a\n\"open\n2\n" + strings.Repeat("x", MaxRecordBytes+10) + "\n5\n"
	r, err := NewCSV(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	want := []row{{line: 2, err: "malformed_csv"}, {line: 3, cells: []string{"a=2"}}, {line: 4, err: "too_long"}, {line: 5, cells: []string{"a=5"}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows %+v, want %+v", got, want)
	}
}

// TestMostlyUnreadable: a file whose rows mostly fail is an error, not a sample;
// the first lines of each kind are kept.
func TestMostlyUnreadable(t *testing.T) {
	var csvInput, jsonInput strings.Builder
	csvInput.WriteString("a\n")
	for i := 0; i < 10; i++ {
		if i < 6 {
			csvInput.WriteString("\"x\"y\n")
			jsonInput.WriteString("garbage\n")
		} else {
			csvInput.WriteString("1\n")
			jsonInput.WriteString("{\"a\": 1}\n")
		}
	}
	c, err := NewCSV(strings.NewReader(csvInput.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    Reader
		want string
	}{
		{"CSV", c, "6 of 10 rows could not be read (6 malformed_csv (first at lines 2, 3, 4, 5, 6)): more than half"},
		{"JSON Lines", NewJSONL(strings.NewReader(jsonInput.String())), "6 of 10 rows could not be read (6 invalid_json (first at lines 1, 2, 3, 4, 5)): more than half"},
	} {
		_, err := readRows(tc.r)
		var mostly *MostlyUnreadableError
		if !errors.As(err, &mostly) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	// Half is not most: the readable half is still judged.
	c, err = NewCSV(strings.NewReader("a\n\"x\"y\n1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readRows(c); err != nil {
		t.Errorf("one of two rows unreadable: %v", err)
	}
	if u := c.Unreadable(); len(u) != 1 || u[0].String() != "1 malformed_csv (line 2)" {
		t.Errorf("unreadable %v", u)
	}
}
