package idempotentpayments_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// TestStartersBuildAndServe grades each starter a learner can pick: it must build with its
// Dockerfile and start (answering /healthz), so every scenario fails on the 501s rather than the
// grading stopping at build_failed or crashed.
func TestStartersBuildAndServe(t *testing.T) {
	eng := dockertest.Engine(t)
	g := &grading.Grader{Engine: eng, HardCap: 300 * time.Second}
	for _, lang := range []string{"go", "ts", "python"} {
		t.Run(lang, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			v, err := g.Grade(ctx, challenge(), filepath.Join("../../templates/idempotent-payments/starter", lang), nil)
			if err != nil {
				t.Fatalf("grader error: %v", err)
			}
			if v.Status != grading.Failed || v.Score != 0 {
				t.Fatalf("status %s score %d (%s); want failed with 0: the starter must build and start\n%s", v.Status, v.Score, v.Message, v.LogTail)
			}
			for _, r := range v.Scenarios {
				if r.Outcome != grading.OutcomeFailed {
					t.Errorf("scenario %s: %s; a starter must fail every scenario cleanly", r.Slug, r.Outcome)
				}
			}
		})
	}
}
