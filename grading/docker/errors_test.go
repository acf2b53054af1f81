package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// daemonSays is a Docker API that answers every call with one error, as dockerd writes it: the
// client under test turns it into the error our code sees.
func daemonSays(t *testing.T, status int, message string) *client.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Header().Set("Api-Version", "1.44")
			fmt.Fprint(w, "OK")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
	}))
	t.Cleanup(srv.Close)
	cli, err := client.New(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithAPIVersion("1.44"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestDaemonErrors classifies the daemon's answers our code branches on, each sent through the
// real client with the status code dockerd gives it (and, where a daemon may answer otherwise,
// with another).
func TestDaemonErrors(t *testing.T) {
	t.Parallel()
	type class struct{ notFound, conflict, notRunning, notPaused, exists, removing, imageMissing, noSpace bool }
	for _, tc := range []struct {
		status  int
		message string
		want    class
		kind    grading.StartKind // what a start that met it is
	}{
		{404, "No such container: 3f2a", class{notFound: true}, grading.StartEngine},
		{404, "network hf-1a2b3c4d5e-app not found", class{notFound: true}, grading.StartEngine},
		{404, "No such image: holdfast-submission:0a1b2c3d4e5f60718293", class{notFound: true, imageMissing: true}, grading.StartImageMissing},
		{409, "Cannot kill container: 3f2a: Container 3f2a is not running", class{conflict: true, notRunning: true, notPaused: true, exists: true}, grading.StartEngine},
		{500, "Cannot kill container: 3f2a: Container 3f2a is not running", class{notRunning: true, notPaused: true}, grading.StartEngine},
		{409, "Container 3f2a is not paused", class{conflict: true, notRunning: true, notPaused: true, exists: true}, grading.StartEngine},
		{500, "Container 3f2a is not paused", class{notPaused: true}, grading.StartEngine},
		{409, "network with name hf-build-0 already exists", class{conflict: true, notRunning: true, notPaused: true, exists: true}, grading.StartEngine},
		{500, "network with name hf-build-0 already exists", class{exists: true}, grading.StartEngine},
		{409, "removal of container 3f2a is already in progress", class{conflict: true, notRunning: true, notPaused: true, exists: true, removing: true}, grading.StartEngine},
		{409, "conflict: unable to delete 0a1b2c3d4e5f (cannot be forced) - image is being used by running container 3f2a", class{conflict: true, notRunning: true, notPaused: true, exists: true}, grading.StartEngine},
		{500, "failed to create task for container: failed to create shim task: write /var/lib/docker/overlay2/x/merged/etc/hosts: no space left on device", class{noSpace: true}, grading.StartOutOfDisk},
		{500, "failed to register layer: write /usr/lib/x.so: no space left on device", class{noSpace: true}, grading.StartOutOfDisk},
		{500, "failed to copy files: copy file range failed: No space left on device", class{noSpace: true}, grading.StartOutOfDisk},
		// A failed RUN step quotes the learner's command: their words, not the engine's disk.
		{500, "The command '/bin/sh -c echo no space left on device; exit 1' returned a non-zero code: 1", class{}, grading.StartEngine},
		{500, "driver failed programming external connectivity on endpoint hf-1a2b-agent", class{}, grading.StartEngine},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.message), func(t *testing.T) {
			t.Parallel()
			_, err := daemonSays(t, tc.status, tc.message).ContainerKill(context.Background(), "3f2a", client.ContainerKillOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("the client returned %v; want the daemon's message", err)
			}
			got := class{isNotFound(err), isConflict(err), isNotRunning(err), isNotPaused(err), isAlreadyExists(err),
				isRemovalInProgress(err), isImageMissing(err), isNoSpace(err.Error())}
			if got != tc.want {
				t.Errorf("%v:\n got %+v\nwant %+v", err, got, tc.want)
			}
			var se *grading.StartError
			wrapped := startError(scenarios.App, fmt.Errorf("start app: %w", err))
			if !errors.As(wrapped, &se) || se.Kind != tc.kind || wrapped.Error() != "start app: "+err.Error() || !errors.Is(wrapped, err) {
				t.Errorf("startError: %#v (%v); want kind %s, the engine's error as its text and cause", wrapped, wrapped, tc.kind)
			}
		})
	}
	for _, e := range []error{nil, context.Canceled} {
		if isNotFound(e) || isConflict(e) || isNotRunning(e) || isNotPaused(e) || isAlreadyExists(e) || isRemovalInProgress(e) || isImageMissing(e) {
			t.Errorf("%v is classified as a daemon error", e)
		}
	}
}

// TestRealDaemonErrors provokes the answers of TestDaemonErrors from the real engine, so the
// table above holds what this dockerd writes.
func TestRealDaemonErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("short: talks to the Docker engine")
	}
	cli, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx, client.PingOptions{})
		cancel()
	}
	if err != nil {
		if os.Getenv("HOLDFAST_REQUIRE_DOCKER") != "" {
			t.Fatalf("HOLDFAST_REQUIRE_DOCKER is set but the engine does not answer: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	check := func(what string, err error, ok func(error) bool) {
		t.Helper()
		if err == nil || !ok(err) {
			t.Errorf("%s: the engine answered %v; the classifier does not recognise it", what, err)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}

	name := "hf-errors-" + randHex(4)
	_, err = cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	check("inspect a missing container", err, isNotFound)
	_, err = cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: &container.Config{Image: "holdfast-no-such-image:" + randHex(4)}})
	check("create from a missing image", err, isImageMissing)
	_, err = cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	check("inspect a missing network", err, isNotFound)

	// Not provoked here: "network with name … already exists" (this engine, Docker 20.10, creates
	// a second network of the same name) and ENOSPC (a full disk).

	// A container that exists but never started, from an image every sandbox runs.
	cfg := &container.Config{Image: Config{}.Defaults().RedisImage, Labels: map[string]string{LabelRole: "errors-test"}}
	if _, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.WithoutCancel(ctx), name, client.ContainerRemoveOptions{Force: true})
	_, err = cli.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: "SIGKILL"})
	check("kill a container that is not running", err, isNotRunning)
	_, err = cli.ContainerUnpause(ctx, name, client.ContainerUnpauseOptions{})
	check("unpause a container that is not paused", err, isNotPaused)
	_, err = cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg})
	check("create a container whose name is taken", err, isConflict)
}
