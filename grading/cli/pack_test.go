package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

func TestPackBuildBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		say  string
	}{
		{"no subcommand", []string{"pack"}, "want `runner pack build"},
		{"no pack", []string{"pack", "build"}, "want at least one pack"},
		{"not a module path", []string{"pack", "build", "--with", "holdfastpack"}, `"holdfastpack" is not a module path`},
		{"version and directory", []string{"pack", "build", "--with", "example.com/p@v1.0.0=testdata/pack"}, "a version or a directory, not both"},
		{"directory without go.mod", []string{"pack", "build", "--with", "example.com/p=testdata/exits"}, "holds no go.mod"},
		{"not a version", []string{"pack", "build", "--with", "example.com/p@main"}, `version "main" is not a module version`},
		{"stray argument", []string{"pack", "build", "--with", "example.com/holdfastpack=testdata/pack", "extra"}, `unexpected "extra"`},
		// A test binary, like a runner built in a checkout, has no released version to build with.
		{"which Holdfast", []string{"pack", "build", "--with", "example.com/holdfastpack=testdata/pack"}, "say which Holdfast to build: --with github.com/holdfast-ci/holdfast=DIR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, c.args...)
			if code != exitUsage || !strings.Contains(stderr, c.say) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, stderr, exitUsage, c.say)
			}
		})
	}
}

// TestPackEndToEnd builds runner and app with the pack in testdata/pack (a module of its own,
// as an operator's would be) and grades the pack's reference and a broken variant with the
// built runner, for real. The learner sees the public scenario's failure in full and nothing of
// the hidden one: not its name, its request, its expectation, its hint or the app's answer.
func TestPackEndToEnd(t *testing.T) {
	ns := dockertest.Engine(t).Namespace()
	t.Setenv("HOLDFAST_NAMESPACE", ns)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	start := time.Now()
	code, _, stderr := runCLI(t, "pack", "build", "--with", HoldfastModule+"="+root, "--with", "example.com/holdfastpack=testdata/pack", "-o", bin)
	if code != exitPass {
		t.Fatalf("pack build: exit %d\n%s", code, stderr)
	}
	t.Logf("pack build: %s", time.Since(start).Round(time.Second))

	exe := func(name string, args ...string) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			return exit.ExitCode(), out.String(), errb.String()
		case err != nil:
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return 0, out.String(), errb.String()
	}
	// Both binaries offer the pack's challenge beside the built-in ones.
	row := regexp.MustCompile(`(?m)^pack-greeting\s+Greeting service \(test pack\)\s+practice,take-home\s+example\.com/holdfastpack$`)
	if code, out, errs := exe("app", "challenges"); code != 0 || !row.MatchString(out) || !strings.Contains(out, "idempotent-payments") {
		t.Fatalf("app challenges: exit %d; want the pack's challenge beside the built-in ones\n%s%s", code, out, errs)
	}
	if code, out, errs := exe("runner", "challenges"); code != 0 || !regexp.MustCompile(`(?m)^pack-greeting\s+Greeting service`).MatchString(out) {
		t.Fatalf("runner challenges: exit %d\n%s%s", code, out, errs)
	}

	// secret matches anything of the hidden scenario or the reference: its slug and title, its
	// route and token, its expectation and hint, the broken app's answer and log line.
	secret := regexp.MustCompile(`(?i)handshake|7f3a|secret|teapot|brief never names`)
	grade := func(dir string, args ...string) (code int, stdout string) {
		t.Helper()
		start := time.Now()
		code, out, errs := exe("runner", append(append([]string{"grade", "--challenge", "pack-greeting"}, args...), "testdata/pack/testdata/"+dir)...)
		t.Logf("grade %s %v: exit %d in %s", dir, args, code, time.Since(start).Round(100*time.Millisecond))
		m := secret.FindString(out + errs)
		if reviewer := len(args) > 0 && args[0] == "--show-hidden"; reviewer && m == "" {
			t.Errorf("grade %s %v: the reviewer's output does not show the hidden scenario, so the search proves nothing\n%s%s", dir, args, out, errs)
		} else if !reviewer && m != "" {
			t.Errorf("grade %s %v: the learner's output shows %q of the hidden scenario\nstdout:\n%s\nstderr:\n%s", dir, args, m, out, errs)
		}
		return code, out + errs
	}
	verdict := func(out string) grading.Verdict {
		t.Helper()
		var v grading.Verdict
		if err := json.NewDecoder(strings.NewReader(out)).Decode(&v); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
		return v
	}
	// The JSON is stdout's; the rest of the output is progress on stderr.
	code, out := grade("reference", "--json")
	if v := verdict(out); code != exitPass || v.Status != grading.Passed || v.Score != 100 {
		t.Fatalf("reference: exit %d, status %s, score %d; want a pass at 100\n%s", code, v.Status, v.Score, out)
	}
	code, out = grade("broken", "--json")
	// Score 0: the hidden scenario (half the weight) failed too, and still shows as one
	// withheld line.
	if v := verdict(out); code != exitFail || v.Status != grading.Failed || v.Score != 0 || len(v.Scenarios) != 2 ||
		v.Scenarios[1].Slug != "hidden" || v.Scenarios[1].Outcome != grading.OutcomeWithheld {
		t.Fatalf("broken: exit %d, status %s, score %d, scenarios %+v; want a failure at 0 with the hidden scenario withheld\n%s", code, v.Status, v.Score, v.Scenarios, out)
	}
	// The text run also writes the machine-readable results a CI system shows the learner.
	files := t.TempDir()
	ctrf, junit := filepath.Join(files, "learner.ctrf.json"), filepath.Join(files, "learner.junit.xml")
	code, out = grade("broken", "--ctrf", ctrf, "--junit", junit)
	if code != exitFail || !strings.Contains(out, "greets_by_name") || !strings.Contains(out, `"hi, ada"`) {
		t.Fatalf("broken, text: exit %d; want the public failure in full (greets_by_name, \"hi, ada\")\n%s", code, out)
	}
	for _, f := range []string{ctrf, junit} {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), "greets_by_name") {
			t.Fatalf("%s: %v; want the public scenario in it\n%s", filepath.Base(f), err, b)
		}
		if m := secret.FindString(string(b)); m != "" {
			t.Errorf("%s shows %q of the hidden scenario to the learner\n%s", filepath.Base(f), m, b)
		}
	}
	// The control: the same search finds the hidden scenario in the reviewer's view, on the
	// terminal (grade checks it) and in the CTRF file.
	reviewerCTRF := filepath.Join(files, "reviewer.ctrf.json")
	grade("broken", "--show-hidden", "--ctrf", reviewerCTRF)
	if b, err := os.ReadFile(reviewerCTRF); err != nil || secret.FindString(string(b)) == "" {
		t.Errorf("reviewer's CTRF: %v; it does not show the hidden scenario, so the learner's search proves nothing\n%s", err, b)
	}
}
