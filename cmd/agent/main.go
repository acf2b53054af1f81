// Command agent runs inside every grading sandbox: it hosts the fault proxies in front of the
// sidecars and the downstream fakes, and a token-protected control API for the runner.
package main

func main() {}
