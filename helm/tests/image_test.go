package sentinelchart

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// fixedGo is the first Go release without the standard-library
// vulnerabilities govulncheck reports against earlier 1.26 releases: the
// image's build stage must use it or a later one.
const fixedGo = "1.26.10"

// imageVersion is what the tests pass as the Dockerfile's VERSION.
const imageVersion = "v0.0.0-imagetest"

// stage is one FROM … of a Dockerfile with its instructions.
type stage struct {
	base, name string
	flags      []string
	steps      []*parser.Node
}

// parseDockerfile reads the repository's Dockerfile with buildkit's parser.
func parseDockerfile(t testing.TB) []stage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parsing the Dockerfile: %v", err)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			args := nodeArgs(n)
			s := stage{base: args[0], flags: n.Flags}
			if len(args) == 3 && strings.EqualFold(args[1], "as") {
				s.name = args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			continue // ARG before the first FROM
		}
		stages[len(stages)-1].steps = append(stages[len(stages)-1].steps, n)
	}
	if len(stages) < 2 {
		t.Fatalf("the Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	return stages
}

func nodeArgs(n *parser.Node) []string {
	var args []string
	for a := n.Next; a != nil; a = a.Next {
		args = append(args, a.Value)
	}
	return args
}

// steps returns the instructions of a kind, in order.
func (s stage) instructions(kind string) []*parser.Node {
	var out []*parser.Node
	for _, n := range s.steps {
		if strings.EqualFold(n.Value, kind) {
			out = append(out, n)
		}
	}
	return out
}

// TestDockerfile checks what the image promises without a Docker engine: a
// build stage on the Go release that fixes the known vulnerabilities, a final
// stage on a shell-less base, a numeric non-root user, and an exec-form
// entrypoint that is the binary the build stage made.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	build, final := stages[0], stages[len(stages)-1]

	repo, tag, _ := strings.Cut(build.base, ":")
	if repo != "golang" || !versionAtLeast(tag, fixedGo) {
		t.Errorf("build stage FROM %s, want golang:%s or later", build.base, fixedGo)
	}
	if goMod := goDirective(t); !versionAtLeast(tag, goMod) {
		t.Errorf("build stage Go %s is older than go.mod's go %s", tag, goMod)
	}

	if !regexp.MustCompile(`^(scratch|gcr\.io/distroless/static(-debian\d+)?(:nonroot)?(@sha256:[0-9a-f]{64})?)$`).MatchString(final.base) {
		t.Errorf("final stage FROM %s, want scratch or distroless static", final.base)
	}
	if runs := final.instructions("run"); len(runs) > 0 {
		t.Errorf("final stage has RUN %q: the base has no shell to run it", runs[0].Original)
	}

	users := final.instructions("user")
	if len(users) != 1 {
		t.Fatalf("final stage has %d USER instructions, want 1", len(users))
	}
	user := nodeArgs(users[0])[0]
	if !numericNonRoot(user) {
		t.Errorf("USER %s, want numeric uid:gid, neither 0, so that runAsNonRoot can check it", user)
	}

	entry := final.instructions("entrypoint")
	if len(entry) != 1 || !entry[0].Attributes["json"] {
		t.Fatalf("want one exec-form (JSON) ENTRYPOINT, got %d", len(entry))
	}
	binary := nodeArgs(entry[0])[0]
	var copied bool
	for _, c := range final.instructions("copy") {
		args := nodeArgs(c)
		if slices.Contains(c.Flags, "--from="+build.name) && args[len(args)-1] == binary {
			copied = true
		}
	}
	if !copied {
		t.Errorf("ENTRYPOINT %s is not a file the final stage copies from the %s stage", binary, build.name)
	}

	// The image's defaults agree with the chart's: the port it exposes and the
	// configuration file its default command reads.
	values := chartContainerDefaults(t)
	if exposed := final.instructions("expose"); len(exposed) != 1 || nodeArgs(exposed[0])[0] != values.port {
		t.Errorf("EXPOSE %v, want the chart's port %s", exposed, values.port)
	}
	if cmd := final.instructions("cmd"); len(cmd) != 1 || !slices.Contains(nodeArgs(cmd[0]), values.configPath) {
		t.Errorf("CMD does not read the chart's %s", values.configPath)
	}
}

// TestDockerfileBuildsStaticBinary runs the build stage as Docker would, on
// the build context .dockerignore leaves, and checks the binary it makes.
func TestDockerfileBuildsStaticBinary(t *testing.T) {
	bin := buildAsDockerfile(t)
	checkStatic(t, bin)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sentinel "+imageVersion) {
		t.Errorf("sentinel version: %v\n%s\nwant the VERSION build argument %s", err, out, imageVersion)
	}
}

// buildAsDockerfile executes the Dockerfile's build stage: its COPY lines from
// a copy of the build context filtered by .dockerignore, its ARGs (VERSION set
// to imageVersion, the target platform to this machine's), and its RUN lines,
// which must be go commands with environment assignments. Absolute paths map
// into a temporary root. It returns the binary the final stage copies.
func buildAsDockerfile(t testing.TB) string {
	t.Helper()
	stages := parseDockerfile(t)
	build := stages[0]
	root := t.TempDir()
	context := buildContext(t, root)
	workdir := "/"
	args := map[string]string{"TARGETOS": "linux", "TARGETARCH": runtime.GOARCH, "VERSION": imageVersion}
	env := func() shell.EnvGetter {
		var kv []string
		for k, v := range args {
			kv = append(kv, k+"="+v)
		}
		return shell.EnvsFromSlice(kv)
	}
	lex := shell.NewLex('\\')
	inRoot := func(p string) string {
		if !path.IsAbs(p) {
			p = path.Join(workdir, p)
		}
		return filepath.Join(root, filepath.FromSlash(p))
	}
	for _, n := range build.steps {
		a := nodeArgs(n)
		switch strings.ToLower(n.Value) {
		case "workdir":
			workdir = path.Join(workdir, a[0])
			if err := os.MkdirAll(inRoot(workdir), 0o755); err != nil {
				t.Fatal(err)
			}
		case "arg":
			k, v, _ := strings.Cut(a[0], "=")
			if _, set := args[k]; !set {
				args[k] = v
			}
		case "copy":
			if len(n.Flags) > 0 {
				t.Fatalf("build stage COPY with flags %v: not supported by this test", n.Flags)
			}
			dst := a[len(a)-1]
			for _, src := range a[:len(a)-1] {
				target := inRoot(dst)
				if strings.HasSuffix(dst, "/") || len(a) > 2 {
					target = filepath.Join(target, filepath.Base(src))
				}
				if err := copyTree(filepath.Join(context, src), target); err != nil {
					t.Fatalf("COPY %s %s: %v", src, dst, err)
				}
			}
		case "run":
			words, err := lex.ProcessWords(a[0], env())
			if err != nil {
				t.Fatalf("RUN %s: %v", a[0], err)
			}
			cmdEnv := []string{}
			for len(words) > 0 && strings.Contains(words[0], "=") {
				cmdEnv, words = append(cmdEnv, words[0]), words[1:]
			}
			if len(words) == 0 || words[0] != "go" {
				t.Fatalf("RUN %s: only go commands can run here", a[0])
			}
			for i, w := range words {
				if path.IsAbs(w) {
					words[i] = inRoot(w)
				}
			}
			cmd := exec.Command("go", words[1:]...)
			cmd.Dir = inRoot(workdir)
			// The golang image sets no GOFLAGS; this machine's must not leak in.
			cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "GOFLAGS=") }), cmdEnv...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("RUN %s: %v\n%s", a[0], err, out)
			}
		case "env", "add", "shell", "onbuild":
			t.Fatalf("build stage %s: not supported by this test", n.Original)
		}
	}
	final := stages[len(stages)-1]
	for _, c := range final.instructions("copy") {
		if slices.Contains(c.Flags, "--from="+build.name) {
			return inRoot(nodeArgs(c)[0])
		}
	}
	t.Fatal("the final stage copies nothing from the build stage")
	return ""
}

// buildContext copies the repository as .dockerignore leaves it to root/context.
func buildContext(t testing.TB, root string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(root, "context")
	err = filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil || rel == "." {
			return err
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if d.IsDir() {
			// An excluded directory is walked only if an exception may
			// bring back something inside it.
			if excluded && !slices.ContainsFunc(pm.Patterns(), func(p *patternmatcher.Pattern) bool {
				return p.Exclusion() && strings.HasPrefix(p.String(), filepath.ToSlash(rel)+"/")
			}) {
				return filepath.SkipDir
			}
			return nil
		}
		if excluded {
			return nil
		}
		return copyTree(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatalf("build context: %v", err)
	}
	return dst
}

// copyTree copies a file, or a directory's content, as COPY does.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// checkStatic fails unless bin is an ELF executable that needs no dynamic
// loader and no shared library: what a scratch or distroless static base can run.
func checkStatic(t testing.TB, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", bin, libs, err)
	}
}

// TestImageTarball assembles the final stage as an OCI image without a Docker
// engine, with go-containerregistry: the Dockerfile's binary as a layer on an
// empty base (the distroless base cannot be pulled here) and its USER,
// ENTRYPOINT, CMD and EXPOSE as the config. Read back from the tarball, the
// image runs as a non-root user and its entrypoint is an executable that works.
func TestImageTarball(t *testing.T) {
	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	bin := buildAsDockerfile(t)
	binary, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	entrypoint := nodeArgs(final.instructions("entrypoint")[0])
	cfg := v1.Config{
		User:         nodeArgs(final.instructions("user")[0])[0],
		Entrypoint:   entrypoint,
		Cmd:          nodeArgs(final.instructions("cmd")[0]),
		ExposedPorts: map[string]struct{}{nodeArgs(final.instructions("expose")[0])[0] + "/tcp": {}},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(fileLayer(t, entrypoint[0], binary))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", runtime.GOARCH, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag("ghcr.io/sentinel-ml/sentinel:" + chartAppVersion(t))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sentinel.tar")
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		t.Fatalf("writing the image: %v", err)
	}

	got, err := tarball.ImageFromPath(out, &ref)
	if err != nil {
		t.Fatalf("reading the image back: %v", err)
	}
	gotCfg, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !numericNonRoot(gotCfg.Config.User) {
		t.Errorf("image user %q, want numeric and non-root", gotCfg.Config.User)
	}
	if !slices.Equal(gotCfg.Config.Entrypoint, entrypoint) || gotCfg.OS != "linux" {
		t.Errorf("image entrypoint %v on %s, want %v on linux", gotCfg.Config.Entrypoint, gotCfg.OS, entrypoint)
	}
	extracted := extractFile(t, got, gotCfg.Config.Entrypoint[0])
	checkStatic(t, extracted)
	if out, err := exec.Command(extracted, "version").CombinedOutput(); err != nil || !strings.Contains(string(out), imageVersion) {
		t.Errorf("the image's entrypoint, run: %v\n%s", err, out)
	}
}

// fileLayer is an uncompressed layer holding one root-owned executable.
func fileLayer(t testing.TB, file string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := ""
	for _, part := range strings.Split(strings.Trim(path.Dir(file), "/"), "/") {
		dir += part + "/"
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(file, "/"), Mode: 0o755, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// extractFile writes the image's file at p (its layers flattened) to a
// temporary file and checks that anyone may execute it.
func extractFile(t testing.TB, img v1.Image, p string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("the image has no %s", p)
		}
		if err != nil {
			t.Fatal(err)
		}
		if path.Clean("/"+h.Name) != p {
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Mode&0o001 == 0 {
			t.Fatalf("%s in the image: type %c, mode %o; want a file others may execute", p, h.Typeflag, h.Mode)
		}
		out := filepath.Join(t.TempDir(), path.Base(p))
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// numericNonRoot says whether a USER is uid or uid:gid, numbers, neither 0.
func numericNonRoot(user string) bool {
	for _, id := range strings.Split(user, ":") {
		n, err := strconv.Atoi(id)
		if err != nil || n <= 0 {
			return false
		}
	}
	return user != ""
}

// versionAtLeast compares dotted release numbers: "1.26.10" >= "1.26.8".
func versionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range max(len(a), len(b)) {
		x, y := 0, 0
		if i < len(a) {
			var err error
			if x, err = strconv.Atoi(a[i]); err != nil {
				return false
			}
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x > y
		}
	}
	return true
}

// goDirective is the go line of the daemon's go.mod.
func goDirective(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// chartDefaults are what the chart's default render says about the container.
type chartDefaults struct {
	port, configPath string
}

func chartContainerDefaults(t testing.TB) chartDefaults {
	t.Helper()
	c := mustRender(t, chartDir).deployments[0].Spec.Template.Spec.Containers[0]
	d := chartDefaults{port: fmt.Sprint(c.Ports[0].ContainerPort)}
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			d.configPath = v
		}
	}
	return d
}
