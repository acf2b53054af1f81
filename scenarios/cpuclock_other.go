//go:build !linux

package scenarios

import "time"

// threadCPU cannot read a thread's CPU clock here: Stall.CPU stays 0 (not measured).
func threadCPU() (time.Duration, bool) { return 0, false }
