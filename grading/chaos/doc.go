// Package chaos tests Holdfast deployed as it runs in production — `app serve`, several
// `runner work` hosts each with its own Docker engine, one Postgres, GitHub — while its parts
// fail. It has no code of its own: its tests start the built binaries as real processes, a
// second Docker engine (deploy/second-engine.sh) for the second host, and the fake GitHub
// (grading/app/github/githubtest) in the test process, which delivers GitHub's real webhook
// payloads to the App as GitHub does.
//
//   - TestManyHostsOneQueue: two runners, one engine each, share one queue. The engine of the
//     host grading a job is killed mid-grading; the other host grades the job (one check run,
//     success 100), and each runner's janitor sweeps only its own engine.
//   - TestChaos: `app serve`, two runners, a Postgres cluster of the test's own, both engines.
//     Pushes of a passing and a failing submission, some to pull requests, arrive while, one
//     after another, a runner is killed, Postgres restarts and is stopped, the second engine
//     restarts, GitHub answers 500 and then secondary rate limits, and GitHub hangs. Every
//     push ends with exactly one check run with the right conclusion (or skipped or cancelled,
//     superseded by a newer push of its branch, never by an older one), deliveries that failed
//     are taken through the App's own recovery, every pull request has one comment showing its
//     branch's last push, nothing is stuck and no sandbox is left. It prints how long the
//     system took to recover from each fault. The test command runs a short variant;
//     HOLDFAST_BENCH=1 runs TestChaosBenchmark, the full durations, as a benchmark.
//
// Their own package, rather than cmd/runner's tests: they drive both commands, and the test
// command (deploy/test.sh) schedules them as a package of their own beside the others. They
// need Docker (skipped in -short mode, like every Docker test), root (a second dockerd, a
// Postgres cluster run as user postgres) and Holdfast's images; HOLDFAST_REQUIRE_DOCKER=1 turns
// a missing part into a failure.
package chaos
