package gradingtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
)

func writeFile(dir, script string) error {
	return os.WriteFile(filepath.Join(dir, gradingtest.ScriptFile), []byte(script), 0o644)
}

// A submission whose script fails one scenario, graded by the real pipeline without Docker.
func Example() {
	dir, err := os.MkdirTemp("", "submission-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	sub, err := gradingtest.WriteSubmission(dir, "broken", gradingtest.Script{Fail: []string{gradingtest.HiddenScenario}})
	if err != nil {
		panic(err)
	}
	g := &grading.Grader{Engine: &gradingtest.Engine{}}
	v, err := g.Grade(context.Background(), gradingtest.Challenge("my-challenge"), sub, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Status, v.Score)
	// Output: failed 75
}
