package grading_test

import (
	"reflect"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// The scripted sandbox's app output holds a Go panic at /src/main.go:42: it reaches the
// verdict's annotations (which the check run publishes) when the app crashed or a public
// scenario failed, and never from a hidden scenario's output.
func TestGradeRuntimeAnnotations(t *testing.T) {
	t.Parallel()
	panicAt42 := []grading.Annotation{{Path: "main.go", Line: 42, Message: "panic: boom"}}
	cases := []struct {
		name  string
		crash int
		table []scenarios.Scenario
		want  []grading.Annotation
	}{
		{"crash on start", 1, []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass)}, panicAt42},
		{"public failure", 0, []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass), scenario("b", scenarios.Public, 1, fail)}, panicAt42},
		{"hidden failure only", 0, []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass), scenario("h", scenarios.Hidden, 1, fail)}, nil},
		{"reviewer-only failure only", 0, []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass), scenario("r", scenarios.ReviewerOnly, 1, fail)}, nil},
		{"all passed", 0, []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := engine(gradingtest.Script{CrashOnStart: c.crash})
			v := grade(t, e, 0, c.table...)
			if !reflect.DeepEqual(v.Annotations, c.want) {
				t.Fatalf("%s (%s): annotations %+v, want %+v", c.name, v.Status, v.Annotations, c.want)
			}
			if learner := grading.ForView(v, grading.LearnerView); !reflect.DeepEqual(learner.Annotations, c.want) {
				t.Fatalf("%s: the learner's view has %+v, want %+v", c.name, learner.Annotations, c.want)
			}
		})
	}
}
