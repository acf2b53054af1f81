package cli

import (
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// TestRuntimeIsSaidOrRefused: a runtime the engine lacks stops the runner before it grades,
// naming the variable; runc, asked for by name, is graded under with a warning at start.
func TestRuntimeIsSaidOrRefused(t *testing.T) {
	ns := dockertest.Engine(t).Namespace()
	t.Setenv("HOLDFAST_NAMESPACE", ns)

	t.Setenv("HOLDFAST_RUNTIME", "holdfast-no-such-runtime")
	code, _, stderr := runCLI(t, "grade", "--challenge", "idempotent-payments", "testdata/exits")
	if code != exitGraderError || !strings.Contains(stderr, "HOLDFAST_RUNTIME") || !strings.Contains(stderr, `"holdfast-no-such-runtime"`) ||
		strings.Contains(stderr, "grading testdata/exits") {
		t.Fatalf("missing runtime: exit %d, stderr %q; want %d before grading, naming HOLDFAST_RUNTIME and the runtime", code, stderr, exitGraderError)
	}

	t.Setenv("HOLDFAST_RUNTIME", "runc")
	code, _, stderr = runCLI(t, "grade", "--challenge", "idempotent-payments", "testdata/exits")
	if code != exitFail || !strings.Contains(stderr, "learner apps run without gVisor") || !strings.Contains(stderr, "runtime=runc") {
		t.Fatalf("runc: exit %d, stderr %q; want %d (the app exits) and a warning that gVisor is off", code, stderr, exitFail)
	}
}

// TestLocalGradeSaysItsDefaults: on a learner's own machine (grade, compare), with neither
// variable set, the app runs under runc and builds have no pids cap, and the first line says
// so; a runtime named explicitly is kept.
func TestLocalGradeSaysItsDefaults(t *testing.T) {
	ns := dockertest.Engine(t).Namespace()
	t.Setenv("HOLDFAST_NAMESPACE", ns)
	t.Setenv("HOLDFAST_RUNTIME", "")
	t.Setenv("HOLDFAST_BUILD_PIDS", "")
	code, _, stderr := runCLI(t, "grade", "--challenge", "idempotent-payments", "testdata/exits")
	if code != exitFail || !strings.Contains(stderr, "grading on your own machine: your app runs under runc") ||
		!strings.Contains(stderr, "builds have no pids cap") || !strings.Contains(stderr, "runtime=runc") {
		t.Fatalf("defaults: exit %d, stderr %q; want %d, runc and no pids cap, said", code, stderr, exitFail)
	}

	t.Setenv("HOLDFAST_RUNTIME", "runsc")
	code, _, stderr = runCLI(t, "grade", "--challenge", "idempotent-payments", "testdata/exits")
	if code != exitFail || strings.Contains(stderr, "runs under runc") || strings.Contains(stderr, "runtime=runc") ||
		!strings.Contains(stderr, "builds have no pids cap") {
		t.Fatalf("runsc named: exit %d, stderr %q; want %d under runsc, only the pids cap said", code, stderr, exitFail)
	}
}

// TestLocalGradeNeedsNoRoot: a learner's machine without iptables (Docker Desktop, a user who
// is not root) grades, and says the host's firewall rule is not installed; asked for the rule
// explicitly, the runner refuses to grade without it rather than grading unguarded.
func TestLocalGradeNeedsNoRoot(t *testing.T) {
	ns := dockertest.Engine(t).Namespace()
	t.Setenv("HOLDFAST_NAMESPACE", ns)
	t.Setenv("PATH", t.TempDir()) // no iptables: as on a laptop
	t.Setenv("HOLDFAST_SKIP_HOST_GUARD", "")
	code, _, stderr := runCLI(t, "grade", "--challenge", "idempotent-payments", "testdata/exits")
	if code != exitFail || !strings.Contains(stderr, "no firewall rule keeps your app from this machine's services") {
		t.Fatalf("default: exit %d, stderr %q; want %d (graded) and the missing rule said", code, stderr, exitFail)
	}
	t.Setenv("HOLDFAST_SKIP_HOST_GUARD", "0")
	code, _, stderr = runCLI(t, "grade", "--challenge", "idempotent-payments", "testdata/exits")
	if code != exitGraderError || !strings.Contains(stderr, "iptables not found") || strings.Contains(stderr, "no firewall rule keeps") {
		t.Fatalf("rule asked for: exit %d, stderr %q; want %d naming iptables", code, stderr, exitGraderError)
	}
}
