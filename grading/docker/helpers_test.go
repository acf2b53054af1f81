package docker_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

func agentFault(kind string) agent.Fault { return agent.Fault{Kind: agent.FaultKind(kind)} }

// harness is the scenario harness grading builds from sb's endpoints.
func harness(t *testing.T, sb grading.Sandbox) *scenarios.Harness {
	t.Helper()
	h, err := grading.NewHarness(sb)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
