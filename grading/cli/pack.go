package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
)

// HoldfastModule is Holdfast's own module path: `runner pack build --with` accepts it to say
// which Holdfast to build (a checkout or a version).
const HoldfastModule = "github.com/holdfast-ci/holdfast"

// packBuildTimeout bounds `runner pack build`'s go commands together: a cold module cache
// downloads Holdfast's dependencies, then two binaries compile.
const packBuildTimeout = 15 * time.Minute

// errPackUsage marks what the operator must say differently (exit 2).
var errPackUsage = errors.New("bad usage")

// modulePath is a conservative module path: lower-case host with a dot, then path elements.
var modulePath = regexp.MustCompile(`^[a-z0-9.-]+\.[a-z]{2,}(/[A-Za-z0-9._~-]+)*$`)

// packModule is one --with: a module path, and either a version or a local directory.
type packModule struct {
	Path    string
	Version string // "" with Dir
	Dir     string // absolute; "" with Version
}

// parseWith reads MODULE[@VERSION][=DIR], as xcaddy's --with does.
func parseWith(s string) (packModule, error) {
	spec, dir, hasDir := strings.Cut(s, "=")
	path, version, hasVersion := strings.Cut(spec, "@")
	if !modulePath.MatchString(path) {
		return packModule{}, fmt.Errorf("--with %s: %q is not a module path (e.g. example.com/holdfastpack)", s, path)
	}
	m := packModule{Path: path}
	switch {
	case hasDir && hasVersion:
		return m, fmt.Errorf("--with %s: give a version or a directory, not both", s)
	case hasDir:
		if dir == "" {
			return m, fmt.Errorf("--with %s: the directory after = is empty", s)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return m, err
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return m, fmt.Errorf("--with %s: %s holds no go.mod: want the root of the module's directory", s, dir)
		}
		m.Dir = abs
	case hasVersion:
		if version != "latest" && !strings.HasPrefix(version, "v") {
			return m, fmt.Errorf("--with %s: version %q is not a module version (v1.2.3, a pseudo-version or latest)", s, version)
		}
		m.Version = version
	default:
		m.Version = "latest"
	}
	return m, nil
}

// holdfastDefault is the Holdfast this runner was built from, when it was built from a
// released version; a runner built in a checkout must be told which Holdfast to use.
func holdfastDefault() (packModule, error) {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == HoldfastModule && strings.HasPrefix(bi.Main.Version, "v") {
		return packModule{Path: HoldfastModule, Version: bi.Main.Version}, nil
	}
	return packModule{}, fmt.Errorf("%w: this runner was not built from a released Holdfast version, so say which Holdfast to build: --with %s=DIR (a checkout) or --with %s@VERSION", errPackUsage, HoldfastModule, HoldfastModule)
}

// packBuild writes the main packages of runner and app with every pack imported, and builds
// them into out. See the usage text for the layout; the module is removed afterwards.
func packBuild(ctx context.Context, mods []packModule, out string, stderr io.Writer) error {
	var hf *packModule
	var packs []packModule
	for i, m := range mods {
		if m.Path == HoldfastModule {
			hf = &mods[i]
			continue
		}
		packs = append(packs, m)
	}
	if len(packs) == 0 {
		return fmt.Errorf("%w: want at least one pack: --with MODULE[@VERSION][=DIR]", errPackUsage)
	}
	if hf == nil {
		def, err := holdfastDefault()
		if err != nil {
			return err
		}
		hf = &def
	}
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	work, err := os.MkdirTemp("", "holdfast-pack-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ctx, cancel := context.WithTimeout(ctx, packBuildTimeout)
	defer cancel()
	goCmd := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = work
		// -mod=mod: go build adds the requirements the packs' imports need; unlike go mod
		// tidy it does not fetch the modules that only tests of dependencies import.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS="+goflags(os.Getenv("GOFLAGS")))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()+stdout.String()))
		}
		return stdout.Bytes(), nil
	}
	if err := writeBuildModule(work, *hf, packs, goCmd); err != nil {
		return err
	}
	for _, m := range append([]packModule{*hf}, packs...) {
		if m.Dir == "" {
			fmt.Fprintf(stderr, "fetching %s@%s\n", m.Path, m.Version)
			if _, err := goCmd("get", m.Path+"@"+m.Version); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stderr, "building runner and app with %s\n", names(packs))
	if _, err := goCmd("build", "-o", out+string(filepath.Separator), "./cmd/runner", "./cmd/app"); err != nil {
		if strings.Contains(err.Error(), ".Pack") {
			return fmt.Errorf("%w\neach --with pack's root package must have func Pack() catalog.Pack (README, \"Challenge packs\")", err)
		}
		return err
	}
	fmt.Fprintf(stderr, "built %s and %s\n", filepath.Join(out, "runner"), filepath.Join(out, "app"))
	return nil
}

// goflags keeps the operator's GOFLAGS but for -mod, which must be mod here.
func goflags(env string) string {
	var keep []string
	for _, f := range strings.Fields(env) {
		if !strings.HasPrefix(f, "-mod=") {
			keep = append(keep, f)
		}
	}
	return strings.Join(append(keep, "-mod=mod"), " ")
}

func names(ms []packModule) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Path)
	}
	return strings.Join(s, ", ")
}

// writeBuildModule writes the temporary module: go.mod with a replace line per local
// directory and the local modules' own requirements (so that the module graph is the one their
// go.sum already covers), go.sum seeded from theirs (so that a warm module cache needs no
// network), and cmd/runner and cmd/app, each passing the built-in pack and every pack's Pack()
// to Holdfast's command.
func writeBuildModule(work string, hf packModule, packs []packModule, goCmd func(args ...string) ([]byte, error)) error {
	var mod, sum bytes.Buffer
	mod.WriteString("// Code generated by runner pack build. DO NOT EDIT.\n\nmodule holdfast-with-packs\n\n")
	var replaces []string
	required := map[string]bool{}
	local := map[string]bool{}
	for _, m := range append([]packModule{hf}, packs...) {
		local[m.Path] = m.Dir != ""
	}
	for _, m := range append([]packModule{hf}, packs...) {
		if m.Dir == "" {
			continue // go get adds the requirement
		}
		// The placeholder version every replaced module takes.
		fmt.Fprintf(&mod, "require %s v0.0.0-00010101000000-000000000000\n", m.Path)
		required[m.Path] = true
		replaces = append(replaces, fmt.Sprintf("replace %s => %s\n", m.Path, m.Dir))
		js, err := goCmd("mod", "edit", "-json", filepath.Join(m.Dir, "go.mod"))
		if err != nil {
			return err
		}
		var gomod struct {
			Go      string
			Require []struct{ Path, Version string }
		}
		if err := json.Unmarshal(js, &gomod); err != nil {
			return fmt.Errorf("go.mod of %s: %w", m.Path, err)
		}
		if m.Path == HoldfastModule && gomod.Go != "" {
			fmt.Fprintf(&mod, "go %s\n", gomod.Go)
		}
		for _, r := range gomod.Require {
			if !required[r.Path] && !local[r.Path] {
				fmt.Fprintf(&mod, "require %s %s\n", r.Path, r.Version)
				required[r.Path] = true
			}
		}
		if b, err := os.ReadFile(filepath.Join(m.Dir, "go.sum")); err == nil {
			sum.Write(b)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	mod.WriteString("\n" + strings.Join(replaces, ""))
	imports, args := "", "catalog.Builtin()"
	for i, p := range packs {
		imports += fmt.Sprintf("\tpack%d %q\n", i+1, p.Path)
		args += fmt.Sprintf(", pack%d.Pack()", i+1)
	}
	files := map[string]string{
		"go.mod":             mod.String(),
		"go.sum":             sum.String(),
		"cmd/runner/main.go": fmt.Sprintf(mainTemplate, "runner", HoldfastModule+"/grading/cli", HoldfastModule+"/scenarios/catalog", imports, "cli.Main("+args+")"),
		"cmd/app/main.go":    fmt.Sprintf(mainTemplate, "app", HoldfastModule+"/grading/app", HoldfastModule+"/scenarios/catalog", imports, "app.Main("+args+")"),
	}
	for name, body := range files {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

const mainTemplate = `// Code generated by runner pack build. DO NOT EDIT.

// Command %s is Holdfast's, with challenge packs: the built-in pack, then each pack's Pack().
package main

import (
	%q
	%q

%s)

func main() { %s }
`

// packCmd is `runner pack build`.
func packCmd(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "build" {
		fmt.Fprintln(stderr, "runner pack: want `runner pack build --with MODULE[@VERSION][=DIR]... [-o DIR]`")
		return exitUsage
	}
	fs := flag.NewFlagSet("pack build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", ".", "directory to write runner and app to")
	var mods []packModule
	var bad error
	fs.Func("with", "a module to build with: MODULE[@VERSION][=DIR], repeatable", func(s string) error {
		m, err := parseWith(s)
		if err != nil {
			bad = err
			return err
		}
		mods = append(mods, m)
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		if bad != nil {
			fmt.Fprintln(stderr, "runner pack build:", bad)
		}
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "runner pack build: unexpected %q; packs are given with --with\n", fs.Arg(0))
		return exitUsage
	}
	if err := packBuild(ctx, mods, *out, stderr); err != nil {
		fmt.Fprintln(stderr, "runner pack build:", strings.TrimPrefix(err.Error(), errPackUsage.Error()+": "))
		if errors.Is(err, errPackUsage) {
			return exitUsage
		}
		return exitFail
	}
	return exitPass
}
