// A hostile submission: it answers /healthz like a good app, and on /probe reports what it can
// reach and change from inside the sandbox, so that tests can check the sandbox's promises.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	http.HandleFunc("/probe", probe)
	// /eat allocates and touches memory until the kernel kills the app (its cgroup's limit).
	http.HandleFunc("/eat", func(w http.ResponseWriter, r *http.Request) {
		var keep [][]byte
		for i := 0; i < 4096; i++ { // 4 GiB at most, far above any limit a test sets
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Fprintln(w, len(keep))
	})
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}

func probe(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	out["write_root"] = errString(os.WriteFile("/owned.txt", []byte("x"), 0o644))
	out["write_tmp"] = errString(os.WriteFile("/tmp/ok.txt", []byte("x"), 0o644))
	// A directory of the image that this user owns: only a read-only root stops the write, under
	// any runtime (gVisor checks permissions before the file system's read-only flag).
	out["write_owned"] = errString(os.WriteFile("/owned/x.txt", []byte("x"), 0o644))
	nnp, _, errno := syscall.Syscall(syscall.SYS_PRCTL, 39 /* PR_GET_NO_NEW_PRIVS */, 0, 0)
	out["no_new_privs"] = fmt.Sprint(nnp)
	if errno != 0 {
		out["no_new_privs"] = errno.Error()
	}
	out["kernel"] = firstOf("/proc/version")
	out["gateway"] = gateway()
	out["instance"] = os.Getenv("INSTANCE_ID") + "/" + os.Getenv("REPLICAS")
	out["status"] = procStatus()
	out["pids_max"] = firstOf("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max")
	out["memory_max"] = firstOf("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max")
	out["memsw_max"] = firstOf("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "/sys/fs/cgroup/memory.swap.max")
	// Targets the test names: the real sidecars' addresses on the network the app must not reach.
	dials := map[string]string{}
	for _, addr := range r.URL.Query()["dial"] {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		dials[addr] = errString(err)
	}
	out["dials"] = dials
	// The agent's control API shares this network: without the token it must refuse.
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://provider:9090/provider/ledger"); err == nil {
		out["agent_ledger_status"] = resp.StatusCode
		resp.Body.Close()
	} else {
		out["agent_ledger_status"] = err.Error()
	}
	json.NewEncoder(w).Encode(out)
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// gateway returns the default route's gateway: on a Docker bridge, the host's own address.
func gateway() string {
	b, _ := os.ReadFile("/proc/net/route")
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == "00000000" {
			var ip [4]byte
			for i := 0; i < 4; i++ {
				var v byte
				for _, c := range f[2][i*2 : i*2+2] {
					v = v*16 + byte(strings.IndexRune("0123456789ABCDEF", c))
				}
				ip[3-i] = v
			}
			return net.IP(ip[:]).String()
		}
	}
	return ""
}

func procStatus() map[string]string {
	b, _ := os.ReadFile("/proc/self/status")
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "CapEff" || k == "CapBnd" || k == "NoNewPrivs") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func firstOf(paths ...string) string {
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return "unreadable"
}
