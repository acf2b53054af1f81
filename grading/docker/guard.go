package docker

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// bridgePrefix starts the Linux bridge name of every sandbox network, so that one firewall rule
// covers them all. Bridge names have at most 15 characters: prefix + 10 hex + 1 letter.
const bridgePrefix = "hfsb"

// guardRule drops connections that a sandbox opens to the host itself. Docker's internal
// networks stop traffic from leaving the subnet, but the host's own address on the bridge is
// inside it: without this rule a learner's app could reach any host service listening on all
// addresses — the App's database among them. Connections the host opens to containers still
// work, since their replies are not NEW.
var guardRule = []string{"INPUT", "-i", bridgePrefix + "+", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"}

// ensureHostGuard installs guardRule unless it is there already.
func ensureHostGuard(ctx context.Context) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("iptables not found: %w", err)
	}
	check := append([]string{"-w", "-C"}, guardRule...)
	if exec.CommandContext(ctx, "iptables", check...).Run() == nil {
		return nil
	}
	insert := append([]string{"-w", "-I"}, guardRule...)
	if out, err := exec.CommandContext(ctx, "iptables", insert...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(insert, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
