package grading_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// replicasEngine provisions scripted sandboxes with two replicas of the app (the same server
// twice) whose outputs are scripted per replica.
type replicasEngine struct {
	*gradingtest.Engine
	logs map[scenarios.Service]string
}

type replicasSandbox struct {
	grading.Sandbox
	logs map[scenarios.Service]string
}

func (s replicasSandbox) AppURLs() []string { return []string{s.AppURL(), s.AppURL()} }

func (s replicasSandbox) Logs(ctx context.Context, svc scenarios.Service, since time.Time, lines int) (string, error) {
	return s.logs[svc], nil
}

func (e replicasEngine) Provision(ctx context.Context, image string, l grading.Limits) (grading.Sandbox, error) {
	sb, err := e.Engine.Provision(ctx, image, l)
	return replicasSandbox{sb, e.logs}, err
}

// TestReplicaLogsHaveNoEmptySections: a replica that printed nothing (or only colour codes)
// gets no "── replica 1 ──" heading over nothing; the others' output is kept, made plain.
func TestReplicaLogsHaveNoEmptySections(t *testing.T) {
	t.Parallel()
	e := replicasEngine{engine(gradingtest.Script{}), map[scenarios.Service]string{
		scenarios.Replica(1): "\x1b[0m\n",
		scenarios.Replica(2): "\x1b[31mpanic: boom\x1b[0m\n",
	}}
	ch := grading.Challenge{Slug: "x", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, fail)}}
	v, err := gradeErr(t, &grading.Grader{Engine: e}, ch)
	if err != nil {
		t.Fatal(err)
	}
	want := "── replica 2 ──\npanic: boom\n"
	for what, got := range map[string]string{"the scenario's output": v.Scenarios[0].LogTail, "the run's output": v.LogTail} {
		if got != want {
			t.Errorf("%s: got %q; want %q", what, got, want)
		}
	}
	if md := grading.Markdown(grading.ForView(v, grading.LearnerView)); strings.Contains(md, "replica 1") {
		t.Errorf("the report shows replica 1, which said nothing:\n%s", md)
	}
}
