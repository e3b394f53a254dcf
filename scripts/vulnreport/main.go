// Command vulnreport reads govulncheck's JSON stream (-format json) and says
// what the scan means for a release: it fails when the code reaches a
// vulnerable package of a module it requires (upgrade it in go.mod), and lists
// the standard library's findings with the Go release that fixes them,
// failing when the Go the release image is built with does not.
//
//	govulncheck -format json ./... | go run ./scripts/vulnreport -release-go 1.26.10
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	releaseGo := flag.String("release-go", "", "the Go version release images are built with, e.g. 1.26.10 (the Dockerfile's)")
	flag.Parse()
	r, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnreport:", err)
		os.Exit(2)
	}
	if !r.write(os.Stdout, *releaseGo) {
		os.Exit(1)
	}
}

// level is how close the code comes to a vulnerability.
type level int

const (
	// required: a module the build requires has it.
	required level = iota
	// imported: the code imports the vulnerable package.
	imported
	// called: the code calls the vulnerable symbol.
	called
)

func (l level) String() string {
	return [...]string{"required", "imported", "called"}[l]
}

// finding is what the scan found of one vulnerability.
type finding struct {
	id, summary, module, version, fixed string
	level                               level
}

// report is a scan read back.
type report struct {
	goVersion string
	findings  map[string]*finding
}

type message struct {
	Config *struct {
		GoVersion string `json:"go_version"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
		} `json:"trace"`
	} `json:"finding"`
}

func read(in io.Reader) (*report, error) {
	r := &report{findings: make(map[string]*finding)}
	summaries := make(map[string]string)
	dec := json.NewDecoder(in)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading govulncheck's JSON: %w", err)
		}
		switch {
		case m.Config != nil:
			r.goVersion = m.Config.GoVersion
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f, t := m.Finding, m.Finding.Trace[0]
			lvl := required
			switch {
			case t.Function != "":
				lvl = called
			case t.Package != "":
				lvl = imported
			}
			cur := r.findings[f.OSV]
			if cur == nil {
				cur = &finding{id: f.OSV, module: t.Module, version: t.Version, fixed: f.FixedVersion}
				r.findings[f.OSV] = cur
			}
			cur.level = max(cur.level, lvl)
		}
	}
	if r.goVersion == "" {
		return nil, errors.New("no config message: is this govulncheck -format json output?")
	}
	for id, f := range r.findings {
		f.summary = summaries[id]
	}
	return r, nil
}

// write prints the report and says whether the release may ship.
func (r *report) write(w io.Writer, releaseGo string) bool {
	var mods, std []*finding
	for _, f := range r.findings {
		if f.module == "stdlib" {
			if f.level > required {
				std = append(std, f)
			}
			continue
		}
		mods = append(mods, f)
	}
	for _, fs := range [][]*finding{mods, std} {
		sort.Slice(fs, func(i, j int) bool { return fs[i].id < fs[j].id })
	}
	ok := true
	for _, f := range mods {
		switch {
		case f.level == required:
			fmt.Fprintf(w, "note: %s@%s has %s (%s), in a package the code does not import; fixed in %s\n", f.module, f.version, f.id, f.summary, fixedOrNone(f.fixed))
		default:
			ok = false
			fmt.Fprintf(w, "FAIL: %s@%s: %s (%s) is %s by the code; upgrade to %s in go.mod\n", f.module, f.version, f.id, f.summary, f.level, fixedOrNone(f.fixed))
		}
	}
	if len(std) == 0 {
		fmt.Fprintf(w, "standard library (%s): nothing the code reaches\n", r.goVersion)
		return ok
	}
	needed := ""
	for _, f := range std {
		fmt.Fprintf(w, "standard library (%s): %s (%s), %s; fixed in go%s\n", r.goVersion, f.id, f.summary, f.level, strings.TrimPrefix(fixedOrNone(f.fixed), "v"))
		if f.fixed != "" && (needed == "" || less(needed, f.fixed)) {
			needed = f.fixed
		}
	}
	needed = strings.TrimPrefix(needed, "v")
	switch {
	case needed == "":
		fmt.Fprintln(w, "standard library: no Go release fixes these yet")
	case releaseGo == "":
		fmt.Fprintf(w, "standard library: build releases with go%s or later\n", needed)
	case less(releaseGo, needed):
		ok = false
		fmt.Fprintf(w, "FAIL: release images are built with go%s; these need go%s or later (Dockerfile)\n", releaseGo, needed)
	default:
		fmt.Fprintf(w, "standard library: go%s or later fixes them; release images are built with go%s\n", needed, releaseGo)
	}
	return ok
}

func fixedOrNone(v string) string {
	if v == "" {
		return "no release yet"
	}
	return v
}

// less compares dotted versions, with or without a "v" or "go" prefix:
// 1.26.9 < 1.26.10.
func less(a, b string) bool {
	pa, pb := parts(a), parts(b)
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func parts(v string) []int {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "go"), "v")
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, _ := strconv.Atoi(strings.TrimLeftFunc(p, func(r rune) bool { return r < '0' || r > '9' }))
		out = append(out, n)
	}
	return out
}
