package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// runLearner runs holdfast in this process with env as its whole environment.
func runLearner(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = learner(ctx, args, learnerEnv{cat: catalog.MustNew(catalog.Builtin()), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] },
		probe: func(context.Context) error { return errors.New("no registry in this test") }})
	return code, out.String(), errb.String()
}

// TestLearnerInitWritesWhatLearnersGet: `holdfast init` writes, for every challenge and
// language, exactly the files provisioning puts in a learner's repository (the brief and the
// starter, .holdfast.yaml included), from the embedded archive.
func TestLearnerInitWritesWhatLearnersGet(t *testing.T) {
	n := 0
	for _, slug := range catalog.MustNew(catalog.Builtin()).Slugs() {
		for _, lang := range languages(t, slug) {
			n++
			want, err := repos.TemplateFiles(os.DirFS("../../templates"), slug, lang)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := want[DetectFile]; !ok {
				t.Errorf("%s/%s: provisioning gives learners no %s", slug, lang, DetectFile)
			}
			dir := filepath.Join(t.TempDir(), "x")
			if code, _, stderr := runLearner(t, nil, "init", slug, "--lang", lang, dir); code != exitPass {
				t.Fatalf("init %s --lang %s: exit %d, %s", slug, lang, code, stderr)
			}
			got := map[string][]byte{}
			err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				got[filepath.ToSlash(rel)], err = os.ReadFile(p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for p, b := range want {
				if !bytes.Equal(got[p], b) {
					t.Errorf("%s/%s: %s differs from what provisioning sends (or is missing)", slug, lang, p)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("%s/%s: init wrote %s, which provisioning does not send", slug, lang, p)
				}
			}
		}
	}
	if n != 36 {
		t.Errorf("%d starters initialised, want 36", n)
	}
}

func languages(t *testing.T, slug string) []string {
	t.Helper()
	for _, c := range catalog.MustNew(catalog.Builtin()).Challenges() {
		if c.Slug == slug {
			return c.Languages
		}
	}
	t.Fatalf("no challenge %s", slug)
	return nil
}

// TestLearnerBadInput: every mistake a learner can make before anything runs is exit 2 with a
// sentence that lists what is valid, and never names a hidden scenario.
func TestLearnerBadInput(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "a"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noDetect := t.TempDir()
	badLang := t.TempDir()
	if err := os.WriteFile(filepath.Join(badLang, DetectFile), []byte("challenge: idempotent-payments\nlanguage: rust\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	packChallenge := t.TempDir()
	if err := os.WriteFile(filepath.Join(packChallenge, DetectFile), []byte("challenge: acme-ledger\nlanguage: go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	payments := filepath.Join(t.TempDir(), "p")
	if code, _, stderr := runLearner(t, nil, "init", "idempotent-payments", payments); code != exitPass {
		t.Fatalf("init: exit %d, %s", code, stderr)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		say  string
	}{
		{"no command", nil, nil, "usage"},
		{"unknown command", nil, []string{"grade"}, `unknown command "grade"`},
		{"init without challenge", nil, []string{"init"}, "want a challenge"},
		{"unknown challenge", nil, []string{"init", "payments"}, "known challenges: cache-stampede, capacity-checkout, circuit-breaker"},
		{"unknown language", nil, []string{"init", "capacity-checkout", "--lang", "rust", t.TempDir()}, `no "rust" starter; its languages: go, ts, python`},
		{"non-empty directory", nil, []string{"init", "idempotent-payments", full}, "is not empty"},
		{"no detection file", nil, []string{"test", noDetect}, "no .holdfast.yaml in"},
		{"a challenge this tool does not have", nil, []string{"test", packChallenge}, `names challenge "acme-ledger", which this holdfast does not have`},
		{"unknown language in the file", nil, []string{"test", badLang}, `names language "rust"`},
		{"unknown scenario", nil, []string{"test", "--run", "nope", payments}, `no public scenario "nope"; its public scenarios: basic_request_handling, missing_key`},
		{"hidden scenario", nil, []string{"test", "--run", "partial_failure_recovery", payments}, `no public scenario "partial_failure_recovery"`},
		{"bad image mode", map[string]string{"HOLDFAST_IMAGES": "registry"}, []string{"test", payments}, `HOLDFAST_IMAGES="registry" must be official (from Docker Hub), local`},
		{"results in no directory", nil, []string{"test", "--ctrf", filepath.Join(full, "nope", "r.json"), payments}, "does not exist; create it first"},
		{"one results file for both", nil, []string{"test", payments, "--ctrf", filepath.Join(full, "r"), "--junit", filepath.Join(full, "r")}, "give each its own file"},
	}
	ch, err := catalog.MustNew(catalog.Builtin()).Lookup("idempotent-payments")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runLearner(t, c.env, c.args...)
			want := exitUsage
			if code != want || !strings.Contains(stderr, c.say) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, stderr, want, c.say)
			}
			for _, s := range ch.Scenarios {
				if s.Visibility != scenarios.Public && strings.Contains(stderr, s.Slug) && !strings.Contains(strings.Join(c.args, " "), s.Slug) {
					t.Errorf("stderr names hidden scenario %s: %q", s.Slug, stderr)
				}
			}
		})
	}
}

// TestLearnerImageChoice: with no registry, unset HOLDFAST_IMAGES falls back to the local
// stand-ins and says why on the first line; with neither them nor a registry it stops, naming
// both fixes; HOLDFAST_IMAGES=official with a registry that cannot be pulled from says so.
func TestLearnerImageChoice(t *testing.T) {
	dockertest.Engine(t)
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	unreachable := func(context.Context) error { return errors.New("lookup registry-1.docker.io: no such host") }
	local := localImages()
	choose := func(env map[string]string, official imageSet, probe func(context.Context) error) (imageSet, string, error) {
		var errb bytes.Buffer
		le := learnerEnv{stderr: &errb, getenv: func(k string) string { return env[k] }, probe: probe}
		cfg, err := config.FromEnv(le.getenv, config.Learner)
		if err != nil {
			t.Fatal(err)
		}
		set, err := chooseImages(ctx, cli, cfg.Images, le, official.withConfig(cfg), local.withConfig(cfg), "GO_IMAGE")
		return set, errb.String(), err
	}
	// What this engine has, in the official set's role: as if the official images were here.
	here := local
	here.name = officialImages.name

	set, said, err := choose(nil, officialImages, unreachable)
	if err != nil || set.postgres != "holdfast/postgres:15" || !strings.HasPrefix(said, "images: the local stand-ins holdfast/postgres:15, holdfast/redis:7, holdfast/golang:local (Docker Hub does not answer: lookup registry-1.docker.io") {
		t.Fatalf("no registry: set %+v, said %q, err %v; want the stand-ins, said with the reason", set, said, err)
	}

	_, said, err = choose(map[string]string{"HOLDFAST_POSTGRES_IMAGE": "holdfast/no-such-image:test"}, officialImages, unreachable)
	if err == nil || said != "" || !strings.Contains(err.Error(), "Docker Hub does not answer") || !strings.Contains(err.Error(), "holdfast/no-such-image:test is not on this engine") ||
		!strings.Contains(err.Error(), "Connect to the internet") || !strings.Contains(err.Error(), "deploy/bootstrap.sh") {
		t.Fatalf("neither: said %q, err %v; want an error naming the missing image and both fixes", said, err)
	}

	set, said, err = choose(nil, here, func(context.Context) error { t.Error("probed the registry although the images are here"); return nil })
	if err != nil || set.name != officialImages.name || !strings.HasSuffix(said, "(found on this engine)\n") {
		t.Fatalf("official images here: set %+v, said %q, err %v", set, said, err)
	}

	_, said, err = choose(map[string]string{"HOLDFAST_IMAGES": "official", "HOLDFAST_POSTGRES_IMAGE": "localhost:1/holdfast-no-such:test"}, officialImages, unreachable)
	if err == nil || !strings.Contains(said, "as HOLDFAST_IMAGES says") || !strings.Contains(err.Error(), "pull localhost:1/holdfast-no-such:test") ||
		!strings.Contains(err.Error(), "HOLDFAST_IMAGES=local") {
		t.Fatalf("official, unpullable: said %q, err %v; want the pull's error and the other way", said, err)
	}

	_, _, err = choose(map[string]string{"HOLDFAST_IMAGES": "local", "HOLDFAST_REDIS_IMAGE": "holdfast/no-such-redis:test"}, officialImages, unreachable)
	if err == nil || !strings.Contains(err.Error(), "HOLDFAST_IMAGES=local, but holdfast/no-such-redis:test is not on this engine") {
		t.Fatalf("local, missing: err %v", err)
	}
}

// TestLearnerEndToEnd is a learner's first hour, for real, with the binary `go install` makes
// (dynamically linked where a C compiler is installed): `holdfast init` the payments starter,
// `holdfast test` it (every public scenario fails with the starter's 501s; hidden scenarios
// neither run nor appear), with the agent image built from that binary; then the kill
// matrix's reference copied in passes, and `--run` runs one scenario.
func TestLearnerEndToEnd(t *testing.T) {
	ns := dockertest.Engine(t).Namespace()
	bin := filepath.Join(t.TempDir(), "holdfast")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/holdfast")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/holdfast: %v\n%s", err, out)
	}
	sum, err := fileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	tag := "holdfast/agent:test-" + ns
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	t.Cleanup(func() {
		if _, err := cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true}); err != nil {
			t.Errorf("remove the test's agent image: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	holdfast := func(dir string, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		// HOLDFAST_BUILD_NETWORK=open: a fenced build would start an egress proxy from this
		// test's agent image, and the engine replaces proxies of other agent images — those of
		// the tests grading beside this one.
		cmd.Env = append(os.Environ(), "HOLDFAST_NAMESPACE="+ns, "HOLDFAST_AGENT_IMAGE="+tag, "HOLDFAST_IMAGES=local",
			"HOLDFAST_BUILD_NETWORK=open")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("holdfast %s: %v", strings.Join(args, " "), err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	ch, err := catalog.MustNew(catalog.Builtin()).Lookup("idempotent-payments")
	if err != nil {
		t.Fatal(err)
	}
	noHidden := func(what, s string, hiddenLines int) {
		t.Helper()
		if strings.Count(s, "hidden") != hiddenLines {
			t.Errorf("%s says \"hidden\" %d times, want %d (the line that counts them):\n%s", what, strings.Count(s, "hidden"), hiddenLines, s)
		}
		for _, sc := range ch.Scenarios {
			if sc.Visibility != scenarios.Public && strings.Contains(s, sc.Slug) {
				t.Errorf("%s names hidden scenario %s:\n%s", what, sc.Slug, s)
			}
		}
	}

	work := t.TempDir()
	if code, out, stderr := holdfast(work, "init", "idempotent-payments", "--lang", "go", "payments"); code != exitPass || !strings.Contains(out, "cd payments && holdfast test") {
		t.Fatalf("init: exit %d\n%s%s", code, out, stderr)
	}
	dir := filepath.Join(work, "payments")

	start := time.Now()
	ctrf, junit := filepath.Join(work, "results.json"), filepath.Join(work, "results.xml")
	code, out, stderr := holdfast(dir, "test", "--ctrf", ctrf, "--junit", junit)
	t.Logf("starter graded in %s", time.Since(start).Round(time.Millisecond))
	first, _, _ := strings.Cut(stderr, "\n")
	if code != exitFail || !strings.HasPrefix(first, "images: the local stand-ins holdfast/postgres:15, holdfast/redis:7, holdfast/golang:local (as HOLDFAST_IMAGES says)") ||
		!strings.Contains(stderr, "agent: built "+tag+" from "+bin) || !strings.Contains(stderr, "7 public scenarios here; 3 hidden scenarios run on the grader") ||
		!strings.Contains(out, "0 passed, 7 failed") || !strings.Contains(out, "501") {
		t.Fatalf("starter: exit %d; want %d, the images first, the agent built, 7 public scenarios failing with 501\nstdout:\n%s\nstderr:\n%s", code, exitFail, out, stderr)
	}
	noHidden("starter's report", out, 0)
	noHidden("starter's progress", stderr, 1)
	publicResults(t, ch, ctrf, junit)
	// Each public scenario is listed once: a row of the report, never a line of the progress.
	for _, sc := range ch.Scenarios {
		if sc.Visibility != scenarios.Public {
			continue
		}
		if strings.Contains(stderr, sc.Slug) {
			t.Errorf("the progress names %s; the report lists it:\n%s", sc.Slug, stderr)
		}
		if rows := regexp.MustCompile(`(?m)^(PASS|FAIL) `+sc.Slug+` `).FindAllString(out, -1); len(rows) != 1 {
			t.Errorf("%d rows for %s in the report; want 1:\n%s", len(rows), sc.Slug, out)
		}
	}
	img, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if ep := strings.Join(img.Config.Entrypoint, " "); ep != "/holdfast agent" || img.Config.Labels[AgentBinaryLabel] != sum {
		t.Fatalf("agent image: entrypoint %q, binary %s; want /holdfast agent from %s", ep, img.Config.Labels[AgentBinaryLabel], sum)
	}
	// The builds' egress proxy is the same binary in the same image: `holdfast agent egress`.
	if out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", tag, "egress").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "HOLDFAST_EGRESS_ALLOW names no host") {
		t.Fatalf("agent image's egress: %v\n%s; want it to run and refuse an empty allow-list", err, out)
	}

	ref := "../../scenarios/idempotentpayments/testdata/reference"
	entries, err := os.ReadDir(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(ref, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	code, out, stderr = holdfast(dir, "test")
	t.Logf("reference graded in %s", time.Since(start).Round(time.Millisecond))
	if code != exitPass || !strings.Contains(out, "7 passed, 0 failed · score 100/100") || strings.Contains(stderr, "agent: built") {
		t.Fatalf("reference: exit %d; want %d, all 7 passed, the agent image reused\nstdout:\n%s\nstderr:\n%s", code, exitPass, out, stderr)
	}
	noHidden("reference's report", out, 0)

	start = time.Now()
	code, out, stderr = holdfast(dir, "test", "--json", "--run", "missing_key")
	t.Logf("one scenario graded in %s", time.Since(start).Round(time.Millisecond))
	var v grading.Verdict
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("--json: %v\n%s\nstderr:\n%s", err, out, stderr)
	}
	if code != exitPass || len(v.Scenarios) != 1 || v.Scenarios[0].Slug != "missing_key" || v.Status != grading.Passed {
		t.Fatalf("--run missing_key: exit %d, verdict %+v; want only missing_key, passed", code, v)
	}
	if left := sandboxes(t, ns); left != "" {
		t.Fatalf("left behind: %s", left)
	}
}

// publicResults checks the CTRF and JUnit files of a starter's `holdfast test`: a row for each
// public scenario, each failed, and nothing of the hidden ones, which never ran (`runner grade`
// has a "hidden scenario N" row for each).
func publicResults(t *testing.T, ch grading.Challenge, ctrf, junit string) {
	t.Helper()
	var public []string
	for _, sc := range ch.Scenarios {
		if sc.Visibility == scenarios.Public {
			public = append(public, sc.Slug)
		}
	}
	b, err := os.ReadFile(ctrf)
	if err != nil {
		t.Fatalf("--ctrf: %v", err)
	}
	var report struct {
		ReportFormat string `json:"reportFormat"`
		Results      struct {
			Tool    struct{ Name string } `json:"tool"`
			Summary struct{ Tests, Failed int }
			Tests   []struct{ Name, Status string } `json:"tests"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatalf("--ctrf: %v\n%s", err, b)
	}
	var names []string
	for _, r := range report.Results.Tests {
		names = append(names, r.Name)
	}
	if report.ReportFormat != "CTRF" || report.Results.Tool.Name != "holdfast" || report.Results.Summary.Tests != len(public) ||
		report.Results.Summary.Failed != len(public) || !slices.Equal(names, public) {
		t.Errorf("--ctrf: tests %v; want the public scenarios %v, all failed:\n%s", names, public, b)
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatalf("--junit: %v", err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal(x, &suites); err != nil {
		t.Fatalf("--junit: %v\n%s", err, x)
	}
	names = names[:0]
	for _, c := range suites.Cases {
		names = append(names, c.Name)
	}
	if suites.Tests != len(public) || suites.Failures != len(public) || !slices.Equal(names, public) {
		t.Errorf("--junit: %d tests, %d failures, cases %v; want the public scenarios %v, all failed:\n%s", suites.Tests, suites.Failures, names, public, x)
	}
	for name, data := range map[string][]byte{"--ctrf": b, "--junit": x} {
		if strings.Contains(string(data), "hidden") {
			t.Errorf("%s has a row for a hidden scenario; holdfast test runs none:\n%s", name, data)
		}
	}
}

// TestAgentRootfs: a static binary is the image's only file; a dynamically linked one (a test
// binary where cgo is on, like `go install` where a C compiler is) brings its loader and the
// libraries it needs, at the paths it was linked against; what is not a Linux executable is
// refused.
func TestAgentRootfs(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	static := filepath.Join(dir, "static")
	build := exec.Command("go", "build", "-o", static, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	names := func(r rootfs) []string {
		var out []string
		tr := tar.NewReader(bytes.NewReader(r.tar))
		for {
			h, err := tr.Next()
			if err != nil {
				return out
			}
			if h.Typeflag == tar.TypeReg {
				out = append(out, "/"+h.Name)
			}
		}
	}
	r, err := agentRootfs(static)
	if err != nil || strings.Join(names(r), " ") != "/holdfast" || len(r.libDirs) != 0 {
		t.Fatalf("static: files %v, library dirs %v, err %v; want /holdfast alone", names(r), r.libDirs, err)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	f.Close()
	if len(libs) == 0 {
		t.Logf("this test binary is static (no C compiler here): the dynamic case is not checked")
	} else {
		r, err = agentRootfs(exe)
		if err != nil {
			t.Fatal(err)
		}
		got := names(r)
		for _, lib := range libs {
			if !slices.ContainsFunc(got, func(p string) bool { return filepath.Base(p) == lib }) {
				t.Errorf("dynamic: %s missing from %v", lib, got)
			}
		}
		if len(got) < 3 || len(r.libDirs) == 0 {
			t.Errorf("dynamic: files %v, library dirs %v; want the binary, its loader and libraries", got, r.libDirs)
		}
	}

	if _, err := agentRootfs(src); err == nil || !strings.Contains(err.Error(), "not an ELF executable") {
		t.Fatalf("a Go source as the executable: err %v", err)
	}
}
