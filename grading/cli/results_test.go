package cli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

func TestGradeResultFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		say  string
	}{
		{"no such directory", []string{"--ctrf", filepath.Join(dir, "nope", "r.json")}, "does not exist; create it first"},
		{"a directory", []string{"--junit", dir}, "is a directory; give a file name"},
		{"one file for both", []string{"--ctrf", filepath.Join(dir, "r"), "--junit", filepath.Join(dir, "r")}, "give each its own file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"grade", "--challenge", "idempotent-payments"}, c.args...)
			code, _, stderr := runCLI(t, append(args, "testdata/exits")...)
			if code != exitUsage || !strings.Contains(stderr, c.say) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, stderr, exitUsage, c.say)
			}
		})
	}
}

// TestGradeRuntimeAnnotationsAndResults grades, for real, apps that crash at start-up in their
// own code, and one that panics while public scenarios run: the verdict annotates the learner's
// line (a Go panic under -trimpath; a TypeScript exception mapped through the source map tsc
// left in the image; a Python traceback's last frame in the app's files), and --ctrf and
// --junit write the results.
func TestGradeRuntimeAnnotationsAndResults(t *testing.T) {
	ns := dockertest.Engine(t).Namespace()
	t.Setenv("HOLDFAST_NAMESPACE", ns)
	cases := []struct {
		dir    string
		status grading.Status
		want   grading.Annotation
	}{
		{"panics-go", grading.Crashed, grading.Annotation{Path: "internal/boot/boot.go", Line: 7, Message: "panic: assignment to entry in nil map"}},
		{"panics-ts", grading.Crashed, grading.Annotation{Path: "src/boot.ts", Line: 4, Column: 23, Message: "TypeError: Cannot read properties of null (reading 'port')"}},
		{"panics-py", grading.Crashed, grading.Annotation{Path: "store/db.py", Line: 6, Message: "KeyError: 'DATABSE_URL'"}},
		// It starts, then panics in a handler during the public scenarios.
		{"panics-handler-go", grading.Failed, grading.Annotation{Path: "internal/pay/pay.go", Line: 8, Message: "panic: assignment to entry in nil map"}},
	}
	ch, err := catalog.MustNew(catalog.Builtin()).Lookup("idempotent-payments")
	if err != nil {
		t.Fatal(err)
	}
	var hidden []string // what neither report may name in a learner's view
	for _, s := range ch.Scenarios {
		if s.Visibility != scenarios.Public {
			hidden = append(hidden, s.Slug, s.Title)
		}
	}
	if len(hidden) == 0 {
		t.Fatal("idempotent-payments has no hidden scenario to withhold")
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			out := t.TempDir()
			ctrf, junit := filepath.Join(out, "results.json"), filepath.Join(out, "results.xml")
			code, stdout, stderr := runCLI(t, "grade", "--json", "--ctrf", ctrf, "--junit", junit, "--start-timeout", "10s",
				"--challenge", "idempotent-payments", "testdata/"+c.dir)
			if code != exitFail {
				t.Fatalf("exit %d; want %d\nstderr:\n%s", code, exitFail, stderr)
			}
			var v grading.Verdict
			if err := json.Unmarshal([]byte(stdout), &v); err != nil {
				t.Fatalf("--json output: %v\n%s", err, stdout)
			}
			if v.Status != c.status || !reflect.DeepEqual(v.Annotations, []grading.Annotation{c.want}) {
				t.Fatalf("status %s, annotations %+v; want %s and %+v\nscenarios: %+v\nlog tail:\n%s\nstderr:\n%s", v.Status, v.Annotations, c.status, c.want, v.Scenarios, v.LogTail, stderr)
			}

			b, err := os.ReadFile(ctrf)
			if err != nil {
				t.Fatal(err)
			}
			var report struct {
				ReportFormat string `json:"reportFormat"`
				Results      struct {
					Tool    struct{ Name, Version string } `json:"tool"`
					Summary struct {
						Tests, Skipped int
						Start, Stop    int64
					} `json:"summary"`
					Tests []struct{ Name, Status string } `json:"tests"`
				} `json:"results"`
			}
			if err := json.Unmarshal(b, &report); err != nil {
				t.Fatalf("--ctrf: %v\n%s", err, b)
			}
			r := report.Results
			notRun := 0
			for _, r := range v.Scenarios {
				if r.Outcome == grading.OutcomeNotRun {
					notRun++
				}
			}
			if report.ReportFormat != "CTRF" || r.Tool.Name != "holdfast" || r.Tool.Version == "" || r.Summary.Tests != len(v.Scenarios) ||
				r.Summary.Skipped != notRun || r.Summary.Start <= 0 || r.Summary.Stop < r.Summary.Start {
				t.Fatalf("--ctrf: %s", b)
			}
			if strings.Contains(string(b), "partial_failure_recovery") {
				t.Fatalf("--ctrf names a hidden scenario in the learner's view: %s", b)
			}

			x, err := os.ReadFile(junit)
			if err != nil {
				t.Fatal(err)
			}
			var suites struct {
				Tests int `xml:"tests,attr"`
				Suite []struct {
					Name  string `xml:"name,attr"`
					Cases []struct {
						Name string `xml:"name,attr"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			if err := xml.Unmarshal(x, &suites); err != nil {
				t.Fatalf("--junit: %v\n%s", err, x)
			}
			if len(suites.Suite) != 1 || suites.Suite[0].Name != "idempotent-payments" || len(suites.Suite[0].Cases) != len(v.Scenarios) {
				t.Fatalf("--junit: %s", x)
			}
			for _, h := range hidden {
				for name, report := range map[string][]byte{"--ctrf": b, "--junit": x} {
					if strings.Contains(string(report), h) {
						t.Fatalf("%s shows %q, of a hidden scenario, in the learner's view:\n%s", name, h, report)
					}
				}
			}
			if left := sandboxes(t, ns); left != "" {
				t.Fatalf("left behind after grading: %s", left)
			}
		})
	}
}
