package gradingtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
)

// grade grades a submission scripted by s on e and checks that the grading left no sandbox.
func grade(t *testing.T, e *gradingtest.Engine, s *gradingtest.Script) (grading.Verdict, error) {
	t.Helper()
	dir := t.TempDir()
	if s != nil {
		var err error
		if dir, err = gradingtest.WriteSubmission(dir, "sub", *s); err != nil {
			t.Fatal(err)
		}
	}
	g := &grading.Grader{Engine: e, HardCap: time.Minute}
	v, err := g.Grade(context.Background(), gradingtest.Challenge("scripted"), dir, nil)
	if _, left := e.Sandboxes(); left != 0 {
		t.Errorf("%d sandboxes left after the grading", left)
	}
	return v, err
}

func TestScripts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		engine gradingtest.Script  // the engine's own script
		script *gradingtest.Script // the submission's
		want   string              // status score outcomes
	}{
		{"no script passes", gradingtest.Script{}, nil, "passed 100 answers=passed keeps_state=passed recovers=passed"},
		{"the engine's script", gradingtest.Script{Fail: []string{"recovers"}}, nil,
			"failed 75 answers=passed keeps_state=passed recovers=failed"},
		{"the submission's script wins", gradingtest.Script{Fail: []string{"recovers"}},
			&gradingtest.Script{Fail: []string{"answers"}}, "failed 50 answers=failed keeps_state=passed recovers=passed"},
		{"build failure", gradingtest.Script{}, &gradingtest.Script{BuildFailed: "The command '/bin/sh -c go build' returned a non-zero code: 1", BuildLog: "./main.go:6:10: undefined: undefined"},
			"build_failed 0 answers=not_run keeps_state=not_run recovers=not_run"},
		{"crash on start", gradingtest.Script{}, &gradingtest.Script{CrashOnStart: 1}, "crashed 0 answers=not_run keeps_state=not_run recovers=not_run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &gradingtest.Engine{Script: tc.engine}
			v, err := grade(t, e, tc.script)
			if err != nil {
				t.Fatalf("Grade: %v", err)
			}
			got := fmt.Sprintf("%s %d", v.Status, v.Score)
			for _, r := range v.Scenarios {
				got += " " + r.Slug + "=" + string(r.Outcome)
			}
			if got != tc.want {
				t.Fatalf("verdict %q; want %q", got, tc.want)
			}
			if e.Builds() != 1 {
				t.Fatalf("%d builds; want 1", e.Builds())
			}
		})
	}
}

func TestBuildFailureAnnotatesTheSubmission(t *testing.T) {
	t.Parallel()
	v, err := grade(t, &gradingtest.Engine{}, &gradingtest.Script{BuildFailed: "The command '/bin/sh -c go build' returned a non-zero code: 1", BuildLog: "./main.go:6:10: undefined: undefined"})
	if want := "The image did not build: The command '/bin/sh -c go build' returned a non-zero code: 1. Fix the error the build log ends with (below) and push again; `docker build .` reproduces it locally."; err != nil || v.Message != want {
		t.Fatalf("verdict %+v, %v; want the message %q", v, err, want)
	}
	if len(v.Annotations) != 1 || v.Annotations[0].Path != "main.go" || v.Annotations[0].Line != 6 {
		t.Fatalf("annotations %+v; want main.go line 6", v.Annotations)
	}
}

// TestScriptsEachBuildKind: a script fails the build each way grading/docker reports, and the
// grader words each kind (a full disk is Holdfast's error, not a verdict).
func TestScriptsEachBuildKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind, failed string
		want         string // the verdict's message starts so, or, for out_of_disk, the error says so
	}{
		{"", "exit 1", "The image did not build: exit 1. Fix"},
		{"step_failed", "exit 2", "The image did not build: exit 2. Fix"},
		{"no_dockerfile", "-", "There is no Dockerfile at the root of the repository."},
		{"symlink", ".dockerignore", "The .dockerignore is a symbolic link."},
		{"context_too_large", "-", "The build context is larger than 50 MiB."},
		{"timed_out", "-", "The image build did not finish within 1m40s."},
		{"policy", "evil.example/img", "Dockerfile line 1: FROM evil.example/img names the registry evil.example,"},
		{"out_of_disk", "failed to register layer: no space left on device", "the Docker engine ran out of disk space"},
	} {
		v, err := grade(t, &gradingtest.Engine{}, &gradingtest.Script{BuildFailed: tc.failed, BuildKind: tc.kind})
		if tc.kind == "out_of_disk" {
			var be *grading.BuildError
			if !errors.As(err, &be) || be.Kind != grading.BuildOutOfDisk || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("out_of_disk: verdict %s (%q), error %v; want Holdfast's error saying %q", v.Status, v.Message, err, tc.want)
			}
			continue
		}
		if err != nil || v.Status != grading.BuildFailed || !strings.HasPrefix(v.Message, tc.want) {
			t.Errorf("%q: verdict %s (%q), error %v; want build_failed saying %q", tc.kind, v.Status, v.Message, err, tc.want)
		}
	}
	if _, err := grade(t, &gradingtest.Engine{}, &gradingtest.Script{BuildFailed: "x", BuildKind: "disk_melted"}); err == nil || !strings.Contains(err.Error(), "disk_melted") {
		t.Errorf("an unknown build_kind: %v; want an error naming it", err)
	}
}

func TestHoldfastsFailuresAreErrors(t *testing.T) {
	t.Parallel()
	if _, err := grade(t, &gradingtest.Engine{}, &gradingtest.Script{EngineError: "the daemon went away"}); err == nil || !strings.Contains(err.Error(), "the daemon went away") {
		t.Fatalf("Grade with an engine error: %v; want that error", err)
	}
	_, err := grade(t, &gradingtest.Engine{}, &gradingtest.Script{Fail: []string{"answers"}, Broken: "a container was restarted"})
	if err == nil || !strings.Contains(err.Error(), "a container was restarted") {
		t.Fatalf("Grade of a failure in a broken sandbox: %v; want Holdfast's error", err)
	}
}

func TestBuildDelay(t *testing.T) {
	t.Parallel()
	start := time.Now()
	if v, err := grade(t, &gradingtest.Engine{}, &gradingtest.Script{BuildDelay: gradingtest.Duration(300 * time.Millisecond)}); err != nil || v.Status != grading.Passed {
		t.Fatalf("verdict %+v, %v", v, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("the grading took %s; want at least the build's 300ms", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	dir, err := gradingtest.WriteSubmission(t.TempDir(), "slow", gradingtest.Script{BuildDelay: gradingtest.Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&gradingtest.Engine{}).Build(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Build past its context: %v; want the context's error", err)
	}
}

func TestDown(t *testing.T) {
	t.Parallel()
	g := &grading.Grader{Engine: &gradingtest.Engine{Down: errors.New("Cannot connect to the Docker daemon")}}
	if err := g.Ready(context.Background()); err == nil {
		t.Fatal("Ready of a down engine: nil")
	}
	if err := (&grading.Grader{Engine: &gradingtest.Engine{}}).Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func TestBadScriptIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := writeFile(dir, `{"fial": ["answers"]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := (&gradingtest.Engine{}).Build(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "fial") {
		t.Fatalf("Build of a misspelt script: %v; want an error naming the field", err)
	}
}
