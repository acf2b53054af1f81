package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent/agentcmd"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// DetectFile is the file every starter carries (templates/<slug>/starter/<lang>/.holdfast.yaml),
// so that `holdfast test` in a learner's directory knows which challenge it is.
const DetectFile = ".holdfast.yaml"

// detected is DetectFile's content.
type detected struct {
	Challenge string `yaml:"challenge"`
	Language  string `yaml:"language"`
}

// LearnerMain runs holdfast, the learner's tool, with the process's arguments until done or
// interrupted, and exits with its code (those of `runner grade`).
func LearnerMain() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	exe, err := os.Executable()
	if err != nil {
		exe = "" // said when the agent image is needed
	}
	code := exitGraderError
	// The built-in pack only, always: this public tool must never hold an operator's pack.
	if cat, err := catalog.New(catalog.Builtin()); err != nil {
		fmt.Fprintln(os.Stderr, "holdfast:", err)
	} else {
		code = learner(ctx, os.Args[1:], learnerEnv{cat: cat, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, exe: exe, probe: probeRegistry})
	}
	stop()
	os.Exit(code)
}

// learnerEnv is what holdfast takes from its process: its challenges (the built-in pack's), its
// output, its environment, its own executable (the agent image is built from it) and how it
// asks whether the registry answers.
type learnerEnv struct {
	cat            *catalog.Catalog
	stdout, stderr io.Writer
	getenv         func(string) string
	exe            string
	probe          func(context.Context) error
}

func learner(ctx context.Context, args []string, env learnerEnv) int {
	if len(args) == 0 {
		learnerUsage(env.stderr)
		return exitUsage
	}
	switch args[0] {
	case "init":
		return initCmd(env.cat, args[1:], env.stdout, env.stderr)
	case "test":
		cfg, err := config.FromEnv(env.getenv, config.Learner)
		if err != nil {
			fmt.Fprintln(env.stderr, "holdfast test:", err)
			return exitUsage
		}
		return testCmd(ctx, args[1:], cfg, env)
	case "challenges":
		return learnerChallenges(env.cat, env.stdout)
	case "version":
		fmt.Fprintln(env.stdout, "holdfast", toolVersion())
		return exitPass
	case "agent":
		// What runs inside every sandbox (cmd/agent): the image holdfast builds is this binary.
		log := slog.New(slog.NewTextHandler(env.stderr, nil))
		if err := agentcmd.Run(ctx, args[1:], env.getenv, log); err != nil {
			log.Error("agent stopped", "err", err)
			return 1
		}
		return exitPass
	case "help", "-h", "--help":
		learnerUsage(env.stdout)
		return exitPass
	}
	fmt.Fprintf(env.stderr, "holdfast: unknown command %q\n", args[0])
	learnerUsage(env.stderr)
	return exitUsage
}

func learnerUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  holdfast init SLUG [--lang go|ts|python] [DIR]
      Write the challenge's brief (README.md) and starter into DIR (default ./SLUG), a new or
      empty directory. holdfast challenges lists the slugs and their languages.
  holdfast test [--run SCENARIO] [--json] [--ctrf FILE] [--junit FILE] [--timeout 120s] [DIR]
      Build the app in DIR (default .), run it beside real Postgres and Redis and run the
      challenge's public scenarios against it, as the grader does on every push; the hidden
      ones run only there. --ctrf and --junit also write the results as CTRF JSON and JUnit
      XML. --timeout caps build and run together (raise it for a first, uncached build).
      Needs Docker. Exit 0 when every scenario passed, 1 when the app failed, 2 on bad
      input, 3 when Holdfast itself failed.
  holdfast challenges
      List the challenges: slug, title, languages, public scenarios.
  holdfast version
      Print this tool's version.
  holdfast agent
      What runs inside every grading sandbox (holdfast builds its agent image from itself).

environment:
  HOLDFAST_IMAGES        official (postgres:16, redis:7, golang:1.26-bookworm, … from Docker Hub) or
                         local (the holdfast/* stand-ins deploy/bootstrap.sh builds); unset: official
                         when Docker Hub answers or the images are here, else local, said on the first line
  HOLDFAST_AGENT_IMAGE   agent image (default holdfast/agent:<version>, built from this binary when missing)
  HOLDFAST_POSTGRES_IMAGE, HOLDFAST_REDIS_IMAGE, HOLDFAST_GO_IMAGE, HOLDFAST_NODE_IMAGE,
  HOLDFAST_PYTHON_IMAGE  one image instead of the set's; HOLDFAST_RUNTIME and the rest as for runner grade
  DOCKER_HOST            Docker engine (default the local socket)
`)
}

// initCmd is `holdfast init SLUG --lang LANG [DIR]`.
func initCmd(cat *catalog.Catalog, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang := fs.String("lang", "go", "starter language: go, ts or python")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) < 1 || len(pos) > 2 {
		fmt.Fprintln(stderr, "holdfast init: want a challenge and at most one directory, e.g. holdfast init idempotent-payments --lang go")
		return exitUsage
	}
	slug := pos[0]
	files, err := starterFiles(cat, slug, *lang)
	if err != nil {
		fmt.Fprintln(stderr, "holdfast init:", err)
		return exitUsage
	}
	dir := slug
	if len(pos) == 2 {
		dir = pos[1]
	}
	if err := writeStarter(dir, files); err != nil {
		fmt.Fprintln(stderr, "holdfast init:", err)
		return exitUsage
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintf(stdout, "wrote %s (%s) into %s: %s\n", slug, *lang, dir, strings.Join(names, ", "))
	fmt.Fprintf(stdout, "README.md is the brief. Next: cd %s && holdfast test\n", dir)
	return exitPass
}

// starterFiles is what a learner's repository receives for slug in lang (provisioning's
// TemplateFiles), read from the embedded starters: holdfast runs without a Holdfast checkout.
func starterFiles(cat *catalog.Catalog, slug, lang string) (map[string][]byte, error) {
	c, err := cat.Lookup(slug) // the error lists the challenges
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.Languages, lang) {
		return nil, fmt.Errorf("challenge %s has no %q starter; its languages: %s", slug, lang, strings.Join(c.Languages, ", "))
	}
	// The built-in pack's files are embedded, starters included.
	return repos.TemplateFiles(cat.Templates(nil), slug, lang)
}

// writeStarter writes files into dir, which must not exist or be empty: a learner's work is
// never overwritten.
func writeStarter(dir string, files map[string][]byte) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("cannot read %s: %w", dir, errors.Unwrap(err))
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty; give a new or empty directory (holdfast init never overwrites your files)", dir)
	}
	for name, b := range files {
		if !filepath.IsLocal(name) {
			return fmt.Errorf("starter file %q is outside the directory", name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// learnerChallenges lists what `holdfast init` can start: only public scenarios are counted.
func learnerChallenges(cat *catalog.Catalog, stdout io.Writer) int {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tTITLE\tLANGUAGES\tPUBLIC SCENARIOS")
	for _, c := range cat.Challenges() {
		public, _ := splitPublic(c.Scenarios)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", c.Slug, c.Title, strings.Join(c.Languages, ","), len(public))
	}
	if err := tw.Flush(); err != nil {
		return exitGraderError
	}
	return exitPass
}

// splitPublic returns the public scenarios and how many others there are (hidden and
// reviewer-only: they run on the grader only).
func splitPublic(all []scenarios.Scenario) (public []scenarios.Scenario, others int) {
	for _, s := range all {
		if s.Visibility == scenarios.Public {
			public = append(public, s)
		} else {
			others++
		}
	}
	return public, others
}

// readDetected reads DIR/.holdfast.yaml.
func readDetected(dir string) (detected, error) {
	b, err := os.ReadFile(filepath.Join(dir, DetectFile))
	if errors.Is(err, fs.ErrNotExist) {
		return detected{}, fmt.Errorf("no %s in %s: run holdfast test in the directory holdfast init wrote (your challenge repository's root), or start one with `holdfast init SLUG --lang go`", DetectFile, dir)
	}
	if err != nil {
		return detected{}, fmt.Errorf("cannot read %s: %w", filepath.Join(dir, DetectFile), err)
	}
	var d detected
	if err := yaml.Unmarshal(b, &d); err != nil || d.Challenge == "" || d.Language == "" {
		return detected{}, fmt.Errorf("%s should name the challenge and the language, as the starter's does (challenge: idempotent-payments, language: go)", filepath.Join(dir, DetectFile))
	}
	return d, nil
}

// testCmd is `holdfast test [--run SCENARIO] [--json] [--ctrf FILE] [--junit FILE] [--timeout D] [DIR]`:
// `runner grade` of DIR as the challenge its DetectFile names, with the public scenarios only.
func testCmd(ctx context.Context, args []string, cfg config.Config, env learnerEnv) int {
	stdout, stderr := env.stdout, env.stderr
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("run", "", "run only this public scenario, e.g. timeout_handling")
	asJSON := fs.Bool("json", false, "print the verdict as JSON instead of the text report")
	hardCap := fs.Duration("timeout", config.DefaultHardCap, "hard cap on build and run together")
	var results resultFiles
	fs.StringVar(&results.ctrf, "ctrf", "", "also write the results to `FILE` as CTRF JSON (the common test report format)")
	fs.StringVar(&results.junit, "junit", "", "also write the results to `FILE` as JUnit XML")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) > 1 {
		fmt.Fprintln(stderr, "holdfast test: want at most one directory (default: this one)")
		return exitUsage
	}
	arg := "."
	if len(pos) == 1 {
		arg = pos[0]
	}
	d, err := readDetected(arg)
	if err != nil {
		fmt.Fprintln(stderr, "holdfast test:", err)
		return exitUsage
	}
	ch, err := env.cat.Lookup(d.Challenge)
	if err != nil {
		// Reports end with `holdfast test` whatever the challenge, and a pack's challenges are in
		// the operator's runner, not in this public tool: say what to do instead.
		fmt.Fprintf(stderr, "holdfast test: %s names challenge %q, which this holdfast does not have (holdfast challenges lists the ones it has). "+
			"A challenge from your organisation's own pack is graded only when you push; a newer built-in one needs a newer holdfast: "+
			"go install github.com/holdfast-ci/holdfast/cmd/holdfast@latest\n", DetectFile, d.Challenge)
		return exitUsage
	}
	toolchain, ok := toolchainArg[d.Language]
	if !ok {
		fmt.Fprintf(stderr, "holdfast test: %s names language %q; holdfast knows go, ts and python\n", DetectFile, d.Language)
		return exitUsage
	}
	public, hidden := splitPublic(ch.Scenarios)
	if *only != "" {
		i := slices.IndexFunc(public, func(s scenarios.Scenario) bool { return s.Slug == *only })
		if i < 0 { // a hidden one is not named, not even as hidden
			names := make([]string, len(public))
			for j, s := range public {
				names[j] = s.Slug
			}
			fmt.Fprintf(stderr, "holdfast test: %s has no public scenario %q; its public scenarios: %s\n", ch.Slug, *only, strings.Join(names, ", "))
			return exitUsage
		}
		public = public[i : i+1]
	}
	ch.Scenarios = public
	dir, err := checkDir(arg)
	if err != nil {
		fmt.Fprintln(stderr, "holdfast test:", err)
		return exitUsage
	}
	if err := results.check(); err != nil {
		fmt.Fprintln(stderr, "holdfast test:", err)
		return exitUsage
	}

	images, err := prepareImages(ctx, cfg, env, toolchain)
	if err != nil {
		fmt.Fprintln(stderr, "holdfast test:", err)
		return exitGraderError
	}
	ecfg := localEngineConfig(cfg, stderr)
	ecfg.PostgresImage, ecfg.RedisImage, ecfg.AgentImage = images.postgres, images.redis, images.agent
	ecfg.BuildArgs = images.buildArgs
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng := openLocalEngine(ctx, ecfg, "holdfast test", stderr, log)
	if eng == nil {
		return exitGraderError
	}
	defer eng.Close()

	runs := "run"
	if hidden == 1 {
		runs = "runs"
	}
	fmt.Fprintf(stderr, "testing %s as %s (%s): %s here; %s %s on the grader\n", dir, ch.Slug, d.Language,
		plural(len(public), "public scenario"), plural(hidden, "hidden scenario"), runs)
	g := &grading.Grader{Engine: eng, HardCap: *hardCap, Log: log}
	spans, started := grading.NewSpans(), time.Now()
	v, err := g.Grade(ctx, ch, dir, spans.Wrap(progressPrinter(stderr, grading.LearnerView, len(public))))
	if err != nil {
		fmt.Fprintln(stderr, "holdfast test: grader error:", err)
		return exitGraderError
	}
	shown := grading.ForView(v, grading.LearnerView)
	// The hidden scenarios never ran here: the files have rows for the public ones only.
	if err := results.write(shown, grading.RunInfo{Start: started, Stop: time.Now(), Spans: spans.All()}); err != nil {
		fmt.Fprintln(stderr, "holdfast test:", err)
		return exitGraderError
	}
	return writeVerdict(stdout, shown, *asJSON)
}

// plural is "1 thing" or "n things".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
