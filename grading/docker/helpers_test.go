package docker_test

import "github.com/holdfast-ci/holdfast/scenarios/agent"

func agentFault(kind string) agent.Fault { return agent.Fault{Kind: agent.FaultKind(kind)} }
