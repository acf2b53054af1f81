package scenarios_test

import (
	"context"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// WatchStall's CPU probe reads what a task that wants a CPU is given: beside six busy
// processes a CPU, about a seventh (0.03–0.21 in five runs; under half, starved); Slowed then
// explains work stretched by no more than that. (Busy goroutines would not do: a goroutine woken
// from a sleep runs next on its P, ahead of them.)
func TestWatchStallMeasuresCPU(t *testing.T) {
	h := scenarios.NewHarness(urlTarget{"http://127.0.0.1:1"}, nil, "", "")
	stop := h.WatchStall(context.Background())
	time.Sleep(time.Second)
	spare := stop()

	n := 6 * runtime.NumCPU()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var busy []*exec.Cmd
	for range n {
		c := exec.CommandContext(ctx, "sh", "-c", "while :; do :; done")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, c)
	}
	stop = h.WatchStall(context.Background())
	time.Sleep(time.Second)
	starved := stop()
	cancel()
	for _, c := range busy {
		_ = c.Wait()
	}

	t.Logf("alone %.2f of a CPU, beside %d busy processes %.2f", spare.CPU, n, starved.CPU)
	if spare.CPU <= 0 || starved.CPU <= 0 {
		t.Fatalf("CPU not measured: %.2f alone, %.2f beside busy processes", spare.CPU, starved.CPU)
	}
	if !starved.Slowed(1) {
		t.Errorf("beside %d busy processes the probe got %.2f of a CPU (alone %.2f); want under half a CPU (Slowed)", n, starved.CPU, spare.CPU)
	}
	if !starved.Slowed(1/starved.CPU) || starved.Slowed(1.2/starved.CPU) {
		t.Errorf("given %.2f of a CPU, Slowed must explain work stretched up to %.1f× and no more", starved.CPU, 1/starved.CPU)
	}
}
