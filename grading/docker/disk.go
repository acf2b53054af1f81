package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// disk is one measurement of the filesystem holding the engine's data root.
type disk struct {
	path        string // the data root as this process sees it
	free, total uint64
}

// Thresholds of a nearly full disk: below the larger of these, a build step's "no space left on
// device" is the host's full disk, not the learner's words.
const (
	nearlyFullBytes   = 1 << 30
	nearlyFullPercent = 2
)

// nearlyFull reports whether a disk has so little room left that a build step failing with
// "no space left on device" ran out of it for real.
func (d disk) nearlyFull() bool {
	return d.free < max(nearlyFullBytes, d.total*nearlyFullPercent/100)
}

// statfs returns the free and total bytes of the filesystem holding path.
func statfs(path string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("measure free disk at %s: %w", path, err)
	}
	// Bavail, not Bfree: what an unprivileged writer (dockerd's layers count as root, but the
	// reserved blocks are the last resort of the whole host) can still use.
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// checkDataRoot says why path is not the engine's data root as this process sees it, or nil.
// The data root holds image/ and containers/; a path without them is not the engine's (a
// runner in a container sees its own /var/lib/docker, empty), and measuring it would watch the
// wrong disk.
func checkDataRoot(path string) error {
	for _, sub := range []string{"image", "containers"} {
		if fi, err := os.Stat(filepath.Join(path, sub)); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s is not its data root as this process sees it (no %s/ there)", path, sub)
		}
	}
	return nil
}

// measureDisk measures the engine's data root: Config.DiskPath, or the engine's own
// DockerRootDir when this process sees it (the runner on the Docker host). An engine elsewhere,
// or a data root this process cannot see, is an error saying so.
func (e *Engine) measureDisk(ctx context.Context) (disk, error) {
	if e.diskFree != nil {
		return e.diskFree(ctx)
	}
	root, err := e.dataRoot(ctx)
	if err != nil {
		return disk{}, err
	}
	free, total, err := statfs(root)
	return disk{path: root, free: free, total: total}, err
}

// dataRoot finds the engine's data root once; a daemon that did not answer is asked again.
func (e *Engine) dataRoot(ctx context.Context) (string, error) {
	e.root.mu.Lock()
	defer e.root.mu.Unlock()
	if e.root.known {
		return e.root.path, e.root.err
	}
	path := e.cfg.DiskPath
	if path == "" {
		if host := e.cli.DaemonHost(); !strings.HasPrefix(host, "unix://") {
			e.root.known, e.root.err = true, fmt.Errorf("the engine is at %s, not on this machine: set HOLDFAST_DISK_PATH to where its data root is mounted here", host)
			return "", e.root.err
		}
		info, err := e.cli.Info(ctx, client.InfoOptions{})
		if err != nil {
			return "", fmt.Errorf("ask the Docker engine for its data root: %w", err)
		}
		path = info.Info.DockerRootDir
	}
	e.root.known, e.root.path, e.root.err = true, path, checkDataRoot(path)
	if e.root.err != nil {
		e.root.err = fmt.Errorf("%w: set HOLDFAST_DISK_PATH to where it is mounted here", e.root.err)
	}
	return e.root.path, e.root.err
}

// dataRootCache is the engine's data root, found at the first build that needs it.
type dataRootCache struct {
	mu    sync.Mutex
	known bool
	path  string
	err   error
}

// diskSampleEvery is how often a build's watch measures the engine's free disk: a step that
// fills the disk fails, and its container (what filled it) is removed, within moments.
const diskSampleEvery = 250 * time.Millisecond

// diskWatch keeps the least free disk measured on the engine's data root while a build runs:
// by the time the builder reports a step that ran out of space, it has removed the step's
// container, and with it what filled the disk.
type diskWatch struct {
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	least disk
	seen  bool  // least holds a measurement
	err   error // the first measurement's, when the disk cannot be measured
}

// watchDisk starts measuring the engine's free disk until the watch's result is asked for.
func (e *Engine) watchDisk(ctx context.Context) *diskWatch {
	w := &diskWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(diskSampleEvery)
		defer t.Stop()
		for first := true; ; first = false {
			d, err := e.measureDisk(ctx)
			if err != nil {
				if first {
					w.err = err
					return
				}
			} else if !w.seen || d.free < w.least.free {
				w.least, w.seen = d, true
			}
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// end stops the watch. It may be called more than once.
func (w *diskWatch) end() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// result stops the watch, measures once more, and returns the least free disk seen.
func (w *diskWatch) result(ctx context.Context, e *Engine) (disk, error) {
	w.end()
	if w.err != nil {
		return disk{}, w.err
	}
	d, err := e.measureDisk(ctx)
	if err != nil {
		return disk{}, err
	}
	if !w.seen || d.free < w.least.free {
		return d, nil
	}
	return w.least, nil
}
