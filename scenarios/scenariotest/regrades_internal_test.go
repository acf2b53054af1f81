package scenariotest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoteRegrade: each regrade adds a line naming the test to RegradesEnv's file, which the
// test command prints at its end; without the variable it is only logged.
func TestNoteRegrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regrades.log")
	t.Setenv(RegradesEnv, path)
	noteRegrade(t, "graded again: first")
	noteRegrade(t, "graded again: second")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != t.Name()+": graded again: first" || lines[1] != t.Name()+": graded again: second" {
		t.Fatalf("regrades file:\n%s", b)
	}
	t.Setenv(RegradesEnv, "")
	noteRegrade(t, "graded again: not written")
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Fatalf("written without %s: %s", RegradesEnv, b2)
	}
}
